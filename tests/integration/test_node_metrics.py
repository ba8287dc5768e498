"""Host metrics (issue 18) against Debian's prometheus-node-exporter, side by side on this machine.

The agent (`--host-root /`, defaults otherwise) and node_exporter 1.5 (all its default collectors,
the upstream excludes passed as flags: harness.NodeExporter) read the same kernel. Every family
both export must agree in TYPE, label names and label sets, and in value within a rule stated per
family below. Reads go agent, node_exporter, agent again: a counter of node_exporter's must lie
between the agent's two readings of it, and a set of series (mounts, devices) both agent readings
hold must be node_exporter's too, so that the machine may go on working while the test runs.

Then a tmpfs of a known size (and a read-only bind mount of it) whose figures are known to the
byte, and a FUSE mount (bindfs) whose process is stopped, which must cost the scrape nothing but
that mount's series.

Needs root (mount). Skips where node_exporter, bindfs or /dev/fuse are missing
(scripts/install-deps --test installs them).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import harness as h
from harness import MiB

# The agent's default --statfs-timeout (node-spec.md): how long the first scrape after a mount
# hangs may wait for that mount's statfs.
STATFS_TIMEOUT = 1.0
# What that first scrape may take beyond the timeout on this shared 2-core machine (the rest of the
# scrape, other tenants' builds).
FIRST_SCRAPE_MARGIN = 1.5
# A scrape once the mount is known to hang: it must not wait for it at all. A scrape here takes
# ~10-30 ms; the bound leaves room for a loaded machine.
FAST_SCRAPE = 0.5

# The collectors the agent must name in node_scrape_collector_* (node-spec.md); it may name more of
# node_exporter's (netclass and time: node_exporter's homes of node_network_up/_info and
# node_time_seconds), none of its own.
AGENT_COLLECTORS = {"cpu", "stat", "loadavg", "meminfo", "vmstat", "filesystem", "diskstats",
                    "netdev", "pressure", "uname", "os"}

# Families whose value does not move while the machine runs: equal to the last digit.
STATIC = {
    "node_boot_time_seconds", "node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes",
    "node_memory_Hugepagesize_bytes", "node_memory_HugePages_Total", "node_memory_VmallocTotal_bytes",
    "node_memory_CommitLimit_bytes", "node_filesystem_size_bytes", "node_filesystem_files",
    "node_filesystem_readonly", "node_os_version", "node_uname_info", "node_os_info",
    "node_network_info", "node_scrape_collector_success",
}
# Instantaneous counts that move up and down between two reads a few ms apart, and how far apart
# the two exporters may see them (the bracket of the agent's two readings, widened by that).
JITTERY_COUNTS = {"node_procs_running": 16, "node_procs_blocked": 16, "node_disk_io_now": 16}
# node_exporter's CPU collector keeps the highest value it saw of each mode, and the kernel's
# NO_HZ idle and iowait times can step back by a tick or two between reads (USER_HZ 100).
CPU_STEP_BACK = {"idle": 0.02, "iowait": 0.02}
# Whose values are the two programs' own (their collectors' run times): not compared.
NOT_COMPARED = {"node_scrape_collector_duration_seconds"}


def key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


def series(scrape: h.Scrape, name: str) -> dict[tuple, float]:
    return {key(s.labels): s.value for s in scrape.select(name)}


def fmt_labels(k: tuple) -> str:
    return "{" + ",".join(f'{n}="{v}"' for n, v in k) + "}"


def mountinfo_points(proc_root: str = "/proc") -> set[str]:
    """The mount points PID 1 sees now, without touching the mounts (no statfs)."""
    points = set()
    for line in Path(proc_root, "1", "mountinfo").read_text().splitlines():
        point = line.split()[4]
        points.add(point.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\"))
    return points


def compare(agent1: h.Scrape, ne: h.Scrape, agent2: h.Scrape, mem_total: float) -> tuple[list[str], list[str]]:
    """(problems, notes) of comparing node_exporter's scrape with the agent's two around it."""
    problems: list[str] = []
    notes: list[str] = []
    agent_names = {n for n in set(agent1.by_name) | set(agent1.types) if n.startswith("node_")}
    ne_names = {n for n in set(ne.by_name) | set(ne.types) if n.startswith("node_")}
    shared = sorted(agent_names & ne_names)
    if not shared:
        problems.append("the agent and node_exporter share no node_* family")
    for name in shared:
        # TYPE
        agent_type, ne_type = agent1.types.get(name), ne.types.get(name)
        if ne_type == "untyped":
            notes.append(f"{name}: node_exporter says untyped, the agent {agent_type}")
        if agent_type != ne_type:
            problems.append(f"{name}: TYPE {agent_type} in the agent, {ne_type} in node_exporter")

        a1, n, a2 = series(agent1, name), series(ne, name), series(agent2, name)
        # Label names: every series of a family has the same ones, and the same in both.
        a_keys = {tuple(k for k, _ in lk) for lk in list(a1) + list(a2)}
        n_keys = {tuple(k for k, _ in lk) for lk in n}
        if len(a_keys) > 1 or len(n_keys) > 1 or a_keys != n_keys:
            problems.append(f"{name}: label names {sorted(a_keys)} in the agent, {sorted(n_keys)} "
                            f"in node_exporter")
            continue

        # Label sets, bracketed: what node_exporter saw the agent saw at least once, and what the
        # agent saw both times node_exporter saw.
        if name.startswith("node_scrape_collector_"):
            agent_collectors = {dict(k)["collector"] for k in a1}
            if not AGENT_COLLECTORS <= agent_collectors:
                problems.append(f"{name}: the agent's collectors {sorted(agent_collectors)} lack the spec's "
                                f"{sorted(AGENT_COLLECTORS - agent_collectors)}")
            missing = sorted(agent_collectors - {dict(k)["collector"] for k in n})
            if missing:
                problems.append(f"{name}: collectors node_exporter does not have: {missing}")
            n = {k: v for k, v in n.items() if k in a1}
        else:
            only_ne = sorted(set(n) - (set(a1) | set(a2)))
            only_agent = sorted((set(a1) & set(a2)) - set(n))
            if only_ne:
                problems.append(f"{name}: series only node_exporter has: "
                                + ", ".join(fmt_labels(k) for k in only_ne[:8]))
            if only_agent:
                problems.append(f"{name}: series only the agent has: "
                                + ", ".join(fmt_labels(k) for k in only_agent[:8]))
        if name in NOT_COMPARED:
            continue

        # Values, of the series all three reads hold.
        for k in sorted(set(a1) & set(n) & set(a2)):
            v1, v, v2 = a1[k], n[k], a2[k]
            lo, hi = min(v1, v2), max(v1, v2)
            labels = dict(k)
            why = None
            if name in STATIC or (name.startswith("node_memory_") and not name.endswith("_bytes")):
                # Static, or a HugePages count: nothing here uses huge pages.
                if not v1 == v == v2:
                    why = "must be equal"
            elif ne.types.get(name) == "counter" or name.startswith("node_vmstat_") \
                    or name == "node_time_seconds":
                # Monotonic: node_exporter's read lies between the agent's two.
                slack = CPU_STEP_BACK.get(labels.get("mode"), 0.0) if name == "node_cpu_seconds_total" else 0.0
                if not (v1 - slack <= v <= v2 + slack):
                    why = f"a counter: node_exporter's must lie between the agent's two reads (slack {slack})"
            elif name.startswith("node_memory_"):
                # Moving memory figures: other tenants allocate and free while the reads run.
                tol = 0.01 * mem_total
                if not (lo - tol <= v <= hi + tol):
                    why = f"within 1% of MemTotal ({tol / MiB:.0f} MiB) of the agent's reads"
            elif name in ("node_filesystem_free_bytes", "node_filesystem_avail_bytes"):
                size = series(ne, "node_filesystem_size_bytes").get(k, 0.0)
                tol = max(0.01 * size, 64 * MiB)
                if not (lo - tol <= v <= hi + tol):
                    why = f"within max(1% of its size, 64 MiB) = {tol / MiB:.0f} MiB of the agent's reads"
            elif name == "node_filesystem_files_free":
                files = series(ne, "node_filesystem_files").get(k, 0.0)
                tol = max(0.01 * files, 1000)
                if not (lo - tol <= v <= hi + tol):
                    why = f"within max(1% of its inodes, 1000) = {tol:.0f} of the agent's reads"
            elif name in JITTERY_COUNTS:
                tol = JITTERY_COUNTS[name]
                if not (lo - tol <= v <= hi + tol):
                    why = f"within {tol} of the agent's reads"
            else:
                # Steps between two values at most once between the reads (load averages every
                # 5 s, an interface's state, the device error of a mount): node_exporter's equals
                # one of the agent's.
                if not (lo <= v <= hi):
                    why = "between the agent's two reads"
            if why:
                problems.append(f"{name}{fmt_labels(k)}: agent {v1!r} then {v2!r}, node_exporter {v!r}: {why}")

    only_agent_names = sorted(n for n in set(agent1.by_name) | set(agent1.types)
                              if n.startswith(("node_", "swarm_node")) and n not in ne_names)
    only_ne_names = sorted(ne_names - agent_names)
    notes.append(f"{len(shared)} node_* families both export")
    notes.append(f"only the agent exports ({len(only_agent_names)}): {' '.join(only_agent_names)}")
    notes.append(f"only node_exporter exports ({len(only_ne_names)}): {' '.join(only_ne_names)}")
    return problems, notes


class NodeMetricsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        missing = h.node_exporter_missing()
        if missing:
            raise unittest.SkipTest(missing)
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: the tests mount a tmpfs and a FUSE file system")
        h.ensure_engine()  # the agent's defaults talk to the host engine
        cls.agent = h.Agent("--host-root", "/", "--docker-host", h.HOST_SOCKET)
        cls.addClassCleanup(cls.agent.kill)
        cls.agent.wait_ready(60)
        # The first scrape of the node collector may wait for the mounts' first statfs.
        cls.agent.scrape_until(lambda s: s.select("node_cpu_seconds_total"), 15,
                               what="node_cpu_seconds_total in the agent's /metrics (host metrics on?)")
        cls.node_exporter = h.NodeExporter()
        cls.addClassCleanup(cls.node_exporter.close)

    def setUp(self):
        # Mounts under /srv, which no exclude covers (under /tmp would do as well; /run, /mnt and
        # /media are excluded by Debian's defaults, not upstream's, so avoided too).
        self.dir = Path(tempfile.mkdtemp(prefix="swarmwatch-test-", dir="/srv"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def mount(self, *args: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        h.run(["mount", *args, str(target)])
        # Lazily: a test that failed half-way may leave a process inside.
        self.addCleanup(subprocess.run, ["umount", "-l", str(target)], check=False,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # ---------------------------------------------------------------------------------------
    def test_1_every_shared_family_agrees_with_node_exporter(self):
        mem_total = float(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]) * 1024
        self.agent.scrape()
        self.node_exporter.scrape()  # each has read every file once: nothing is a first read below
        t0 = time.monotonic()
        agent1 = self.agent.scrape()
        t1 = time.monotonic()
        ne = self.node_exporter.scrape()
        t2 = time.monotonic()
        agent2 = self.agent.scrape()
        t3 = time.monotonic()
        problems, notes = compare(agent1, ne, agent2, mem_total)
        print(f"\nreads: agent {1000 * (t1 - t0):.0f} ms, node_exporter {1000 * (t2 - t1):.0f} ms, "
              f"agent {1000 * (t3 - t2):.0f} ms")
        for note in notes:
            print(note)

        # The CPUs are the machine's, in both.
        for name, s in (("agent", agent1), ("node_exporter", ne)):
            cpus = {x.labels["cpu"] for x in s.select("node_cpu_seconds_total")}
            if len(cpus) != os.cpu_count():
                problems.append(f"{name}: {len(cpus)} cpus in node_cpu_seconds_total, the machine has "
                                f"{os.cpu_count()}")
            modes = {x.labels["mode"] for x in s.select("node_cpu_seconds_total")}
            if modes != {"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"}:
                problems.append(f"{name}: cpu modes {sorted(modes)}")
        # Families the spec names must be there, in both, with series.
        for name in ("node_load1", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes",
                     "node_disk_written_bytes_total", "node_network_receive_bytes_total",
                     "node_pressure_io_stalled_seconds_total", "node_vmstat_oom_kill", "node_uname_info",
                     "node_os_info", "node_os_version", "node_time_seconds"):
            for who, s in (("agent", agent1), ("node_exporter", ne)):
                if not s.select(name):
                    problems.append(f"{who} exports no {name}")
        if problems:
            self.fail("\n".join([f"{len(problems)} disagreements:"] + problems))

    # ---------------------------------------------------------------------------------------
    def test_2_tmpfs_of_known_size_to_the_byte(self):
        size, inodes, written = 64 * MiB, 1000, 5 * MiB
        device = f"swarmwatch-{h.RUN_TOKEN}"
        tmpfs, ro_bind = self.dir / "tmpfs", self.dir / "ro-bind"
        self.mount("-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes}", device, target=tmpfs)
        # The same file system again, read-only: node_filesystem_readonly from the mount's options.
        self.mount("--bind", str(tmpfs), target=ro_bind)
        h.run(["mount", "-o", "remount,bind,ro", str(ro_bind)])
        points = {str(tmpfs): 0.0, str(ro_bind): 1.0}

        def figures(scrape: h.Scrape, point: str) -> dict[str, float]:
            return {field: scrape.value(f"node_filesystem_{field}", mountpoint=point, device=device,
                                        fstype="tmpfs")
                    for field in ("size_bytes", "free_bytes", "avail_bytes", "files", "files_free",
                                  "readonly", "device_error")}

        def statfs_figures(point: str) -> dict[str, float]:
            # node_exporter's formula (filesystem_linux.go), which the agent follows.
            st = os.statvfs(point)
            return {"size_bytes": st.f_blocks * st.f_bsize, "free_bytes": st.f_bfree * st.f_bsize,
                    "avail_bytes": st.f_bavail * st.f_bsize, "files": st.f_files,
                    "files_free": st.f_ffree, "readonly": points[point], "device_error": 0.0}

        def check(expected_used: int, expected_inodes_used: int) -> dict:
            seen = {}
            for who, scrape in (("agent", self.agent.scrape()), ("node_exporter", self.node_exporter.scrape())):
                for point in points:
                    got = figures(scrape, point)
                    self.assertEqual(got, statfs_figures(point), f"{who}, {point}: against statfs")
                    # The figures the mount options promise, independent of any formula.
                    self.assertEqual(got["size_bytes"], size, f"{who}, {point}")
                    self.assertEqual(got["files"], inodes, f"{who}, {point}")
                    self.assertEqual(got["free_bytes"], size - expected_used, f"{who}, {point}")
                    self.assertEqual(got["avail_bytes"], size - expected_used, f"{who}, {point}")
                    self.assertEqual(got["files_free"], inodes - expected_inodes_used, f"{who}, {point}")
                    seen[who, point] = got
            return seen

        # A fresh tmpfs: nothing used but its root directory's inode.
        before = check(0, 1)
        with open(tmpfs / "blob", "wb") as f:
            f.write(os.urandom(written))
            f.flush()
            os.fsync(f.fileno())
        after = check(written, 2)
        for (who, point), got in after.items():
            self.assertEqual(before[who, point]["avail_bytes"] - got["avail_bytes"], written,
                             f"{who}, {point}: avail_bytes fell by the bytes written")
            self.assertEqual(before[who, point]["files_free"] - got["files_free"], 1)

    # ---------------------------------------------------------------------------------------
    def test_3_a_hung_fuse_mount_costs_the_scrape_only_its_own_series(self):
        if not Path("/dev/fuse").exists():
            self.skipTest("no /dev/fuse: the hung mount is a FUSE file system")
        bindfs = shutil.which("bindfs")
        if not bindfs:
            self.skipTest("bindfs is not installed (scripts/install-deps --test installs it)")
        source, point = self.dir / "source", self.dir / "hung"
        source.mkdir()
        point.mkdir()
        # -f: in the foreground, so that the process to stop is the one started here.
        fuse_log = self.dir / "bindfs.log"
        with open(fuse_log, "wb") as log:
            fuse = subprocess.Popen([bindfs, "-f", str(source), str(point)], stdout=log, stderr=log)

        def clean_up():
            # In this order: a stopped FUSE process would hang the unmount.
            with contextlib.suppress(ProcessLookupError):
                os.kill(fuse.pid, signal.SIGCONT)
            subprocess.run(["fusermount", "-u", "-z", str(point)], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if fuse.poll() is None:
                fuse.terminate()
                try:
                    fuse.wait(10)
                except subprocess.TimeoutExpired:
                    fuse.kill()
                    fuse.wait(10)
        self.addCleanup(clean_up)
        h.wait_until(lambda: str(point) in mountinfo_points() or fuse.poll() is not None, 10,
                     what=f"bindfs mounted on {point}")
        if fuse.poll() is not None:
            self.fail(f"bindfs exited ({fuse.returncode}): {fuse_log.read_text(errors='replace')}")

        labels = {"device": str(source), "fstype": "fuse", "mountpoint": str(point)}
        healthy = self.agent.scrape_until(
            lambda s: s.select("node_filesystem_size_bytes", **labels), 10,
            what=f"the agent's node_filesystem_size_bytes of {point}")
        self.assertEqual(healthy.value("node_filesystem_device_error", **labels), 0)
        self.assertEqual(healthy.value("node_filesystem_size_bytes", **labels),
                         os.statvfs(point).f_blocks * os.statvfs(point).f_bsize)
        others = {s.labels["mountpoint"] for s in healthy.select("node_filesystem_size_bytes")} - {str(point)}

        os.kill(fuse.pid, signal.SIGSTOP)
        # Nothing here may touch the mount from now on (a statfs would hang this test too).
        scrapes, threads = [], []
        for _ in range(5):
            r = self.agent.get("/metrics", timeout=STATFS_TIMEOUT + 30)
            self.assertEqual(r.status, 200)
            scrapes.append((r.seconds, h.Scrape(r.text)))
            threads.append(len(os.listdir(f"/proc/{self.agent.pid}/task")))
        timings = ", ".join(f"{t * 1000:.0f} ms" for t, _ in scrapes)
        print(f"\nscrapes with {point} hung: {timings}; the agent's threads after each: {threads}")
        # The statfs blocked in the kernel holds one thread until the mount answers; asking again
        # at every scrape would hold one more each time (three over the last three scrapes).
        self.assertLess(threads[-1] - threads[1], 3, f"threads grew with each scrape: {threads}")
        self.assertLessEqual(scrapes[0][0], STATFS_TIMEOUT + FIRST_SCRAPE_MARGIN,
                             f"the first scrape after the mount hung (statfs timeout {STATFS_TIMEOUT} s)")
        for seconds, _ in scrapes[1:]:
            self.assertLess(seconds, FAST_SCRAPE, "a scrape once the mount is known to hang: " + timings)
        still_mounted = mountinfo_points()
        for seconds, s in scrapes:
            self.assertEqual(s.value("node_filesystem_device_error", **labels), 1,
                             f"device_error of the hung {point}")
            for field in ("size_bytes", "free_bytes", "avail_bytes", "files", "files_free"):
                self.assertEqual(s.select(f"node_filesystem_{field}", **labels), [],
                                 f"node_filesystem_{field} of the hung mount")
            # Every other mount keeps its series (unless someone else unmounted it meanwhile).
            present = {x.labels["mountpoint"] for x in s.select("node_filesystem_size_bytes")}
            self.assertFalse((others & still_mounted) - present, "mounts whose series went missing")
            self.assertTrue(s.select("node_cpu_seconds_total") and s.select("node_memory_MemTotal_bytes"),
                            "the other collectors' series")
        success = {x.labels["collector"]: x.value for x in scrapes[-1][1].select("node_scrape_collector_success")}
        print(f"node_scrape_collector_success with a hung mount: filesystem={success.get('filesystem')}")

        os.kill(fuse.pid, signal.SIGCONT)
        back = self.agent.scrape_until(
            lambda s: s.select("node_filesystem_size_bytes", **labels), 10,
            what=f"{point}'s series again after SIGCONT")
        self.assertEqual(back.value("node_filesystem_device_error", **labels), 0)
        self.assertEqual(back.value("node_filesystem_size_bytes", **labels),
                         os.statvfs(point).f_blocks * os.statvfs(point).f_bsize)


if __name__ == "__main__":
    unittest.main()
