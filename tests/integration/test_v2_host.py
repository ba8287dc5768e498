"""The agent on a real cgroup v2 + systemd host: the Debian 12 guest of tests/v2guest (kernel 6.1,
systemd 252, Docker 20.10 on the systemd cgroup driver), booted under QEMU. This machine's kernel
mounts v1: without the guest, the v2 reader would meet only fixture files.

The guest's containers live in /sys/fs/cgroup/system.slice/docker-<id>.scope. V2HostTest checks
what only such a host has: the layout itself, the host's memory from /proc/meminfo (the root
cgroup has no memory.current), a dockerd restarted by systemd, and the logs (a real Loki across a
kill -9, access-log counts). The rest are v1's own tests run there unchanged, subclassed with the
guest's engine, agent and kernel files (read through ssh) behind their hooks:
test_container_metrics.py's (ContainerMetricsOnV2HostTest: CPU, throttling, PSI, memory and its
peak, OOM kills, network, block I/O by device name, processes, removal), test_swarm.py's
(SwarmOnV2HostTest: Swarm labels, the manager's task counts, a service's series gone with it) and
test_dashboards_data.py's (DashboardsOnV2HostTest: every dashboard query against a Prometheus here
scraping the agent in the guest).

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
import test_container_metrics as metrics
import test_dashboards_data as dashboards
import test_swarm as swarm
import v2guest
from harness import MiB

# A container's cgroup under Docker's systemd driver, as the agent labels it (`id`).
SCOPE = "/system.slice/docker-{id}.scope"
# Emulated CPUs: a `docker run` takes ~10 s there, against ~0.5 s here.
SLOW = 4


GUEST: v2guest.V2Guest | None = None


def ready_agent(test_class, *args: str) -> v2guest.GuestAgent:
    """The agent in the guest, ready, killed at `test_class`'s clean-up."""
    agent = GUEST.start_agent(*args)
    test_class.addClassCleanup(agent.kill)
    agent.wait_ready(180)
    return agent


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
        cls.docker = h.Docker(cls.guest.docker_host, SCOPE)
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
        return ready_agent(cls, *args)

    # ---------------------------------------------------------------------------------------
    def scrape_with(self, c: h.Container, timeout: float = 60) -> h.Scrape:
        return self.agent.scrape_until(lambda s: s.series_of(c.cgroup_id), timeout,
                                       what=f"series of {c.name} ({c.cgroup_id})")

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
        self.assertIn("cpu.stat", self.guest.ssh(f"ls /sys/fs/cgroup{c.cgroup_id}"))

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
        inactive_file = self.guest.keyed("memory", "/", "memory.stat")["inactive_file"]
        h.assert_close(self, s.value("container_memory_working_set_bytes", id="/"),
                       max(0, s.value("container_memory_usage_bytes", id="/") - inactive_file), 0.0,
                       "working set = usage - the root's inactive_file", abs_tol=16 * MiB)
        self.assertGreater(usage, 64 * MiB, "a booted Debian with dockerd uses more than 64 MiB")
        self.assertGreaterEqual(s.value("container_memory_swap", id="/"), 0)

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
        GUEST.ensure_swarm_manager()
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
        d = h.Docker(GUEST.docker_host, SCOPE)
        try:
            c = d.run("blkio-probe", "-v", f"{directory}:/probe", cmd=[
                "sh", "-c", "dd if=/dev/zero of=/probe/blob bs=64k count=16 oflag=direct; exec sleep 600"])

            def written() -> bool:
                stat = GUEST.read(f"/sys/fs/cgroup{c.cgroup_id}/io.stat")
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


class ContainerMetricsOnV2HostTest(metrics.ContainerMetricsTest):
    """test_container_metrics.py's assertions on the guest's engine, agent and kernel files. What
    v2 gives differently is said by the hooks: the file each figure comes from (h.Host), CPU
    shares through cpu.weight, the disk's name; block I/O, which this machine's v1 kernel does
    not count, is counted there."""

    slow = SLOW
    # An emulated vCPU shares this machine's 2 cores with QEMU's own threads and other work, so
    # a burner may get far less than its quota in wall time.
    cpu_floor = 0.07
    # And its timers fire later than a real CPU's, the later the less CPU QEMU gets: a 6 s burn
    # at --cpus 0.5 was measured using 3.37 s (12% past its quota) with the guest alone, 3.85 s
    # (28%) with it at idle priority beside the other integration tests, as scripts/test runs it.
    cpu_overrun = 0.5
    disk_device = "/dev/vda"  # the guest's virtio disk, by the name io.stat's 254:0 has in /dev
    # v2 charges writeback to the cgroup that dirtied the pages: a write flushed with fsync counts.
    buffered_writes_counted = True

    @classmethod
    def make_docker(cls) -> h.Docker:
        cls.host = GUEST
        return h.Docker(GUEST.docker_host, SCOPE)

    @classmethod
    def start_agent(cls) -> v2guest.GuestAgent:
        return ready_agent(cls, "--log-level", "info")

    def shares_served(self, cgroup: str, given: int) -> int:
        # v2 has no shares: runc writes cpu.weight 1 + (shares - 2) * 9999 / 262142 (20 for 512),
        # which cAdvisor converts back as 2 + (weight - 1) * 262142 / 9999 (500), in integers: so
        # must the agent.
        weight = int(self.host.read_cgroup("cpu", cgroup, "cpu.weight"))
        self.assertEqual(weight, 1 + (given - 2) * 9999 // 262142, "runc's cpu.weight of the shares")
        return 2 + (weight - 1) * 262142 // 9999


class SwarmOnV2HostTest(swarm.SwarmTest):
    """test_swarm.py's assertions on the guest's single-node Swarm."""

    cgroup_id = SCOPE
    slow = SLOW

    @classmethod
    def prepare_engine(cls) -> None:
        cls.docker_host = GUEST.docker_host
        GUEST.ensure_swarm_manager()

    @classmethod
    def start_agent(cls) -> v2guest.GuestAgent:
        return ready_agent(cls)


if __name__ == "__main__":
    unittest.main(verbosity=2)
