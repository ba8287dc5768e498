"""The agent on a real cgroup v2 + systemd host: the Debian 12 guest of tests/v2guest (kernel 6.1,
systemd 252, Docker 20.10 on the systemd cgroup driver), booted under QEMU. This machine's kernel
mounts v1: without the guest, the v2 reader would meet only fixture files.

The guest's containers live in /sys/fs/cgroup/system.slice/docker-<id>.scope. The assertions are
those that test_container_metrics.py and its siblings make on v1, each against the guest's own
cgroup files (read through ssh), plus what only v2 has: the host's memory from /proc/meminfo
(the root cgroup has no memory.current), memory.peak, io.stat's per-device bytes, memory.events'
OOM kills.

Then test_dashboards_data.py's checks run there too (DashboardsOnV2HostTest): every dashboard
query against a Prometheus here scraping the agent in the guest.

Emulated CPUs are slow (a `docker run` takes ~10 s): one guest boots for the whole module, and
times inside are never compared with times outside.
"""

from __future__ import annotations

import json
import subprocess
import time
import unittest
from pathlib import Path

import harness as h
import test_dashboards_data as dashboards
import v2guest
from harness import MiB


def scope(container: h.Container) -> str:
    """The container's cgroup under the systemd driver, as the agent labels it (`id`)."""
    return f"/system.slice/docker-{container.id}.scope"


GUEST: v2guest.V2Guest | None = None


def setUpModule():
    global GUEST
    why = v2guest.missing()
    if why:
        raise unittest.SkipTest(f"no cgroup v2 guest: {why}")
    GUEST = v2guest.V2Guest()
    unittest.addModuleCleanup(GUEST.close)
    GUEST.__enter__()
    print(f"\nv2guest: image {GUEST.timings['image_s']:.0f}s, boot {GUEST.timings['boot_s']:.0f}s",
          flush=True)


class V2HostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.guest = GUEST
        cls.docker = h.Docker(cls.guest.docker_host)
        cls.addClassCleanup(cls.docker.close)
        # The real Loki runs here; the guest reaches this machine's loopback at 10.0.2.2.
        cls.loki = None if h.real_loki_missing() else h.RealLoki()
        if cls.loki is not None:
            cls.addClassCleanup(cls.loki.close)
        cls.agent = cls.start_agent()

    @classmethod
    def start_agent(cls) -> v2guest.GuestAgent:
        args = ["--log-level", "info", "--positions-file", "/var/lib/swarmwatch/positions.json"]
        if cls.loki is not None:
            push = cls.loki.push_url.replace("127.0.0.1", v2guest.OUTER_HOST)
            args += ["--loki-url", push]
        agent = cls.guest.start_agent(*args)
        cls.addClassCleanup(agent.kill)
        agent.wait_ready(180)
        return agent

    # ---------------------------------------------------------------------------------------
    def read_cgroup(self, cgroup: str, name: str) -> str:
        return self.guest.read(f"/sys/fs/cgroup{cgroup}/{name}")

    def keyed(self, cgroup: str, name: str) -> dict[str, int]:
        return {k: int(v) for k, v in (line.split() for line in self.read_cgroup(cgroup, name).splitlines())}

    def scrape_with(self, c: h.Container, timeout: float = 60) -> h.Scrape:
        return self.agent.scrape_until(lambda s: s.series_of(scope(c)), timeout,
                                       what=f"series of {c.name} ({scope(c)})")

    def bracketed(self, name: str, read_kernel, tol: float = 0.0, **labels) -> float:
        """The agent's value of `name`, asserted between the kernel's figure read just before and
        just after the scrape."""
        before = read_kernel()
        value = self.agent.scrape().value(name, **labels)
        after = read_kernel()
        self.assertTrue(before - tol <= value <= after + tol,
                        f"{name}{labels} = {value}, the kernel's went {before} -> {after}")
        return value

    # ---------------------------------------------------------------------------------------
    def test_the_guest_is_cgroup_v2_with_the_systemd_driver(self):
        # What the rest stands on: a v2-only host, Docker on systemd, containers in scopes.
        self.assertIn("cgroup2", self.guest.ssh("stat -f -c %T /sys/fs/cgroup"))
        info = json.loads(self.docker("info", "--format", "{{json .}}"))
        self.assertEqual(info["CgroupVersion"], "2")
        self.assertEqual(info["CgroupDriver"], "systemd")
        c = self.docker.run("probe")
        self.scrape_with(c)
        self.assertIn("cpu.stat", self.guest.ssh(f"ls /sys/fs/cgroup{scope(c)}"))

    def test_host_memory_is_what_meminfo_says_in_use_as_cadvisor_gives_it(self):
        self.assertIn("memory.stat", self.guest.ssh("ls /sys/fs/cgroup"))
        self.assertNotIn("memory.current", self.guest.ssh("ls /sys/fs/cgroup").split())

        def in_use() -> int:
            meminfo = {k.rstrip(":"): int(v) * 1024 for k, v, *_ in
                       (line.split() for line in self.guest.read("/proc/meminfo").splitlines())}
            return meminfo["MemTotal"] - meminfo["MemFree"]
        # The guest's memory moves a little between two reads (the ssh session itself): within
        # 16 MiB of the reads around the scrape.
        usage = self.bracketed("container_memory_usage_bytes", in_use, tol=16 * MiB, id="/")
        s = self.agent.scrape()
        inactive_file = self.keyed("", "memory.stat")["inactive_file"]
        h.assert_close(self, s.value("container_memory_working_set_bytes", id="/"),
                       max(0, s.value("container_memory_usage_bytes", id="/") - inactive_file), 0.0,
                       "working set = usage - the root's inactive_file", abs_tol=16 * MiB)
        self.assertGreater(usage, 64 * MiB, "a booted Debian with dockerd uses more than 64 MiB")
        self.assertGreaterEqual(s.value("container_memory_swap", id="/"), 0)

    def test_cpu_time_throttling_and_pressure(self):
        burn_seconds, cpus = 6, 0.5
        c = self.docker.run("cpu", "--cpus", str(cpus), "--cpu-shares", "512")
        cg = scope(c)
        before = self.scrape_with(c)
        # `timeout` ends `yes` with a signal: a non-zero status is expected.
        self.docker("exec", c.name, "sh", "-c", f"timeout {burn_seconds} yes >/dev/null",
                    check=False, timeout=120)
        stat = lambda key, scale: lambda: self.keyed(cg, "cpu.stat")[key] / scale  # noqa: E731
        usage = self.bracketed("container_cpu_usage_seconds_total", stat("usage_usec", 1e6), 0.001,
                               id=cg, cpu="total")
        used = usage - before.value("container_cpu_usage_seconds_total", id=cg, cpu="total")
        # The quota caps it; an emulated CPU may give it less than it may use.
        self.assertGreater(used, 0.2, "CPU time of a 6 s burn at --cpus 0.5")
        self.assertLessEqual(used, burn_seconds * cpus * 1.1 + 0.2, "CPU time under the quota")
        self.bracketed("container_cpu_cfs_periods_total", stat("nr_periods", 1), id=cg)
        throttled = self.bracketed("container_cpu_cfs_throttled_periods_total", stat("nr_throttled", 1), id=cg)
        self.assertGreater(throttled, 0, "periods throttled by --cpus 0.5")
        self.bracketed("container_cpu_cfs_throttled_seconds_total", stat("throttled_usec", 1e6), 0.001, id=cg)
        s = self.agent.scrape()
        self.assertEqual(s.value("container_spec_cpu_quota", id=cg), 50000)
        self.assertEqual(s.value("container_spec_cpu_period", id=cg), 100000)
        # v2 has no shares: runc wrote cpu.weight 1 + (512 - 2) * 9999 / 262142 = 20, which
        # cAdvisor converts back as 2 + (20 - 1) * 262142 / 9999 = 500 (integers): so must the agent.
        weight = int(self.read_cgroup(cg, "cpu.weight"))
        self.assertEqual(weight, 1 + (512 - 2) * 9999 // 262142)
        self.assertEqual(s.value("container_spec_cpu_shares", id=cg), 2 + (weight - 1) * 262142 // 9999)

        def pressure_some() -> float:
            line = next(x for x in self.read_cgroup(cg, "cpu.pressure").splitlines() if x.startswith("some"))
            return int(dict(f.split("=") for f in line.split()[1:])["total"]) / 1e6
        waited = self.bracketed("container_pressure_cpu_waiting_seconds_total", pressure_some, 0.05, id=cg)
        self.assertGreater(waited - before.value("container_pressure_cpu_waiting_seconds_total", id=cg), 0,
                           "cpu pressure of a throttled burn")

    def test_memory_working_set_and_peak(self):
        size_mib = 64
        c = self.docker.run("mem", "-m", "128m", "--tmpfs", "/data:rw,size=100m")
        cg = scope(c)
        before = self.scrape_with(c)
        c.exec("dd", "if=/dev/zero", "of=/data/blob", "bs=1M", f"count={size_mib}", timeout=120)
        current = lambda: int(self.read_cgroup(cg, "memory.current"))  # noqa: E731
        usage = self.bracketed("container_memory_usage_bytes", current, 4 * MiB, id=cg)
        after = self.agent.scrape()
        for name in ("container_memory_usage_bytes", "container_memory_working_set_bytes",
                     "container_memory_cache"):
            rise = after.value(name, id=cg) - before.value(name, id=cg)
            h.assert_close(self, rise, size_mib * MiB, 0.15, f"{name} rise after {size_mib} MiB in tmpfs")
        peak = int(self.read_cgroup(cg, "memory.peak"))
        self.assertGreaterEqual(after.value("container_memory_max_usage_bytes", id=cg), usage * 0.95)
        self.assertLessEqual(after.value("container_memory_max_usage_bytes", id=cg), peak)
        self.assertEqual(after.value("container_spec_memory_limit_bytes", id=cg), 128 * MiB)
        self.assertEqual(after.total("container_oom_events_total", id=cg), 0)

    def test_an_oom_kill_is_counted(self):
        c = self.docker.run("oom", "--memory", "32m", "--memory-swap", "32m")
        cg = scope(c)
        self.scrape_with(c)
        # dd's 64 MiB buffer under a 32 MiB limit: the kernel kills dd, the container lives on.
        self.docker("exec", c.name, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1",
                    check=False, timeout=120)
        kills = self.keyed(cg, "memory.events")["oom_kill"]
        self.assertGreaterEqual(kills, 1, "the kernel's memory.events oom_kill")
        s = self.agent.scrape_until(lambda s: s.total("container_oom_events_total", id=cg) >= kills, 30,
                                    what="container_oom_events_total to count the kill")
        self.assertEqual(s.total("container_oom_events_total", id=cg), kills)

    def test_network_bytes_between_two_containers(self):
        size = 4 * MiB
        net = self.docker.network()
        server = self.docker.run(
            "httpd", "--network", net,
            cmd=["sh", "-c", f"mkdir -p /www && dd if=/dev/zero of=/www/blob bs=1M count={size // MiB} "
                             "2>/dev/null && echo hi >/www/hi && exec httpd -f -p 8000 -h /www"])
        client = self.docker.run("wget", "--network", net)
        url = f"http://{server.name}:8000"
        h.wait_until(lambda: client.exec("wget", "-q", "-O", "-", f"{url}/hi", timeout=60) == "hi", 120,
                     interval=2, what="httpd in the server container")
        self.scrape_with(server)
        self.scrape_with(client)
        before = self.agent.scrape()
        client.exec("wget", "-q", "-O", "/dev/null", f"{url}/blob", timeout=120)
        after = self.agent.scrape()

        def delta(c, name):
            return (after.value(name, id=scope(c), interface="eth0")
                    - before.value(name, id=scope(c), interface="eth0"))
        for c, name in ((client, "container_network_receive_bytes_total"),
                        (server, "container_network_transmit_bytes_total")):
            moved = delta(c, name)
            self.assertGreaterEqual(moved, size, f"{c.name} {name}")
            self.assertLessEqual(moved, size * 1.07 + 64 * 1024, f"{c.name} {name}")

    def test_block_io_written_with_fsync_per_named_device(self):
        size_mib = 16
        c = self.docker.run("disk")
        cg = scope(c)
        before = self.scrape_with(c)
        c.exec("dd", "if=/dev/zero", "of=/blob", "bs=1M", f"count={size_mib}", "conv=fsync", timeout=180)

        def written() -> int:
            total = 0
            for line in self.read_cgroup(cg, "io.stat").splitlines():
                fields = dict(f.split("=", 1) for f in line.split()[1:])
                total += int(fields.get("wbytes", 0))
            return total
        rise_kernel = written()
        self.assertGreaterEqual(rise_kernel, size_mib * MiB, "io.stat counts the container's writes on v2")
        after = self.agent.scrape()
        rise = (after.total("container_fs_writes_bytes_total", id=cg)
                - before.total("container_fs_writes_bytes_total", id=cg))
        self.assertGreaterEqual(rise, size_mib * MiB)
        devices = {s.labels["device"] for s in after.select("container_fs_writes_bytes_total", id=cg)}
        self.assertIn("/dev/vda", devices, "the guest's disk by its name, not by 254:0")
        self.assertFalse([d for d in devices if ":" in d], f"devices named: {devices}")

    def test_swarm_service_tasks_carry_the_swarm_labels_and_go_with_the_service(self):
        if self.docker("info", "--format", "{{.Swarm.LocalNodeState}}") != "active":
            self.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        stack = h.unique("stk").replace("-", "_")
        service = self.docker.service("svc", "--replicas", "2", "--container-label",
                                      f"com.docker.stack.namespace={stack}", h.IMAGE, "sleep", "3600")
        node_id = self.docker("info", "--format", "{{.Swarm.NodeID}}")

        def tasks(s: h.Scrape):
            found = [x for x in s.select("container_cpu_usage_seconds_total", cpu="total")
                     if x.labels.get("container_label_com_docker_swarm_service_name") == service]
            return found if len(found) == 2 else None
        found = h.wait_until(lambda: tasks(self.agent.scrape()), 240, interval=2,
                             what=f"two tasks of {service} in /metrics")
        for x in found:
            self.assertTrue(x.labels["id"].startswith("/system.slice/docker-"), x.labels["id"])
            self.assertTrue(x.labels["container_label_com_docker_swarm_task_name"].startswith(service + "."))
            self.assertEqual(x.labels["container_label_com_docker_swarm_node_id"], node_id)
            self.assertEqual(x.labels["container_label_com_docker_stack_namespace"], stack)
        self.docker("service", "rm", service)
        ids = {x.labels["id"] for x in found}
        self.agent.scrape_until(lambda s: not (s.ids() & ids), 120, what="the tasks' series to go")

    def test_a_restarted_dockerd_is_followed_again_by_itself(self):
        self.guest.ssh("systemctl restart docker", timeout=300)
        h.wait_until(lambda: self.guest.ssh("docker info >/dev/null 2>&1 && echo up", check=False).strip() == "up",
                     180, interval=2, what="the guest's dockerd after its restart")
        c = self.docker.run("after-restart")
        self.scrape_with(c, timeout=120)

    def test_numbered_lines_reach_loki_across_a_kill_9_of_the_agent(self):
        if self.loki is None:
            self.skipTest(h.real_loki_missing())
        lines = 300
        c = self.docker.run("numbered", cmd=["sh", "-c", f"i=0; while [ $i -lt {lines} ]; do "
                                                         "echo \"numbered $i\"; i=$((i+1)); sleep 0.1; done; "
                                                         "exec sleep 3600"])
        selector = f'{{container="{c.name}"}}'
        h.wait_until(lambda: self.loki.count(selector, since_s=900) >= 50, 180, interval=2,
                     what="the first lines in Loki")
        self.agent.kill9()
        type(self).agent = self.start_agent()
        written = [f"numbered {i}" for i in range(lines)]

        def all_in_loki():
            got = {line for _, _, line in self.loki.lines(selector, since_s=900, limit=5000)}
            return not (set(written) - got)
        h.wait_until(all_in_loki, 240, interval=3, what=f"all {lines} numbered lines in Loki after the kill")
        got = [line for _, _, line in self.loki.lines(selector, since_s=900, limit=5000)]
        print(f"\nv2guest: {lines} numbered lines, {len(got)} in Loki ({len(got) - len(set(got))} "
              "sent again after the kill -9)", flush=True)

    def test_an_apache_container_gives_exact_request_counts(self):
        # Lines in the predefined "apache" format (combined + %D microseconds), written by a
        # container labelled as the stack's web service is.
        requests = [("GET", "/", 200)] * 7 + [("POST", "/login", 302)] * 3 + [("GET", "/nope", 404)] * 2
        script = "; ".join(
            f'echo \'10.0.0.{i} - - [06/Dec/2026:10:00:00 +0000] "{m} {path} HTTP/1.1" {code} 512 "-" '
            f'"curl/7.88" 1500\''
            for i, (m, path, code) in enumerate(requests)) + "; exec sleep 3600"
        c = self.docker.run("web", "--label", "swarmwatch.access_log=apache", cmd=["sh", "-c", script])

        def counts(s: h.Scrape):
            got = {(x.labels["method"], x.labels["code"]): x.value
                   for x in s.select("http_requests_total", service=c.name)}
            return got if sum(got.values()) >= len(requests) else None
        got = h.wait_until(lambda: counts(self.agent.scrape()), 120, interval=2,
                           what=f"http_requests_total of {c.name}")
        self.assertEqual(got, {("GET", "200"): 7, ("POST", "302"): 3, ("GET", "404"): 2})


class DashboardsOnV2HostTest(dashboards.DashboardsOnRealDataTest):
    """test_dashboards_data.py's checks with the engine, the agent and the services in the guest:
    every dashboard query returns data there as here, with the same expected-empty list (block
    I/O aside, which the guest's kernel counts and this machine's may not)."""

    setup_timeout = 600  # emulated CPUs: Apache, PHP and nginx start slowly

    @classmethod
    def prepare_engine(cls) -> None:
        cls.docker_host = GUEST.docker_host
        if cls.d("info", "--format", "{{.Swarm.LocalNodeState}}") != "active":
            cls.d("swarm", "init", "--advertise-addr", "127.0.0.1")
        build = subprocess.run([str(h.REPO / "stack/images/build"), "web", "proxy"],
                               capture_output=True, text=True, timeout=1200)
        if build.returncode != 0:
            raise AssertionError(f"stack/images/build web proxy failed:\n{build.stderr[-4000:]}")
        # The images built here, into the guest's engine (~400 MB, a few minutes under emulation).
        started = time.monotonic()
        save = subprocess.Popen([h.DOCKER, "save", "swarmwatch/web:local", "swarmwatch/proxy:local"],
                                stdout=subprocess.PIPE)
        load = subprocess.run([h.DOCKER, "-H", GUEST.docker_host, "load"], stdin=save.stdout,
                              capture_output=True, text=True, timeout=1200)
        save.stdout.close()
        save.wait(60)
        if save.returncode != 0 or load.returncode != 0:
            raise AssertionError(f"docker save | docker load into the guest failed: {load.stderr[-2000:]}")
        print(f"v2guest: web and proxy images loaded in {time.monotonic() - started:.0f}s", flush=True)

    @classmethod
    def engine_dir(cls, name: str) -> tuple[Path, str]:
        path = GUEST.share / dashboards.STACK / name
        path.mkdir(parents=True)
        return path, f"/mnt/share/{dashboards.STACK}/{name}"

    @classmethod
    def block_io_dir(cls) -> str:
        # On the guest's disk: the share is 9p, no block device.
        directory = f"/var/tmp/{dashboards.STACK}-io"
        GUEST.ssh(f"mkdir -p {directory}")
        return directory

    @classmethod
    def probe_block_io(cls, directory: str) -> str | None:
        d = h.Docker(GUEST.docker_host)
        try:
            c = d.run("blkio-probe", "-v", f"{directory}:/probe", cmd=[
                "sh", "-c", "dd if=/dev/zero of=/probe/blob bs=64k count=16 oflag=direct; exec sleep 600"])

            def written() -> bool:
                stat = GUEST.read(f"/sys/fs/cgroup{scope(c)}/io.stat")
                return any(int(f.split("=")[1]) > 0 for f in stat.split() if f.startswith("wbytes="))
            try:
                h.wait_until(written, 60, interval=2, what="io.stat of a container writing with O_DIRECT")
                return None
            except AssertionError as e:
                return f"the guest's kernel counted no block I/O for the worker's directory: {e}"
        finally:
            d.close()

    @classmethod
    def start_agent(cls, receiver: h.LokiReceiver):
        agent = GUEST.start_agent(
            "--loki-url", receiver.push_url.replace("127.0.0.1", v2guest.OUTER_HOST),
            "--positions-file", "/var/lib/swarmwatch/dashboards-positions.json",
            "--start-position", "end", "--access-log-routes", dashboards.ROUTES)
        cls.addClassCleanup(agent.kill)
        return agent, f"127.0.0.1:{GUEST.agent_port}"

    @classmethod
    def proxy_port(cls) -> tuple[int, str]:
        return v2guest.GUEST_WEB_PORT, f"http://127.0.0.1:{GUEST.web_port}"


if __name__ == "__main__":
    unittest.main(verbosity=2)
