"""The agent's cgroup v2 reader against files a real kernel writes.

On a v2 host every other test exercises it. On a hybrid v1 host (this CI machine) the kernel's
cgroup2 hierarchy is mounted at <cgroup root>/unified, and Docker places every container there
too: it holds cgroup2's core files (cpu.stat's CPU time, cgroup.procs, cgroup.threads) and PSI, but
no memory, io or cpu controller (those are bound to v1). An agent pointed there with
`--cgroup-version 2` reads them with its v2 reader: it must report what those kernel files say, and
leave out the series whose controllers the hierarchy lacks rather than skip the container.
"""

import time
import unittest

import harness as h


def v2_root():
    """The cgroup2 mount: the cgroup root on a v2 host, its `unified` folder on a hybrid one."""
    if h.cgroup_version() == 2:
        return h.CGROUP_ROOT
    unified = h.CGROUP_ROOT / "unified"
    return unified if (unified / "cgroup.procs").exists() else None


def kernel_cpu_seconds(cgroup: str) -> dict[str, float]:
    text = (v2_root() / cgroup.lstrip("/") / "cpu.stat").read_text()
    fields = dict(line.split() for line in text.splitlines())
    return {k: int(fields[f"{k}_usec"]) / 1e6 for k in ("usage", "user", "system")}


class CgroupV2ReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if v2_root() is None:
            raise unittest.SkipTest("no cgroup2 hierarchy on this host")
        h.ensure_engine()
        cls.docker = h.Docker()
        cls.addClassCleanup(cls.docker.close)
        cls.agent = h.Agent("--docker-host", h.HOST_SOCKET, "--cgroup-version", "2",
                            "--cgroup-root", str(v2_root()))
        cls.addClassCleanup(cls.agent.kill)
        cls.agent.wait_ready(60)
        cls.controllers = set((v2_root() / "cgroup.controllers").read_text().split())

    def test_cpu_processes_and_pressure_are_the_kernel_files(self):
        # Two processes of one thread each; then two seconds of `yes` in a third.
        c = self.docker.run("v2", cmd=["sh", "-c", "busybox sleep 86400 & exec busybox sleep 86400"])
        cg = c.cgroup_id
        before = self.agent.scrape_until(lambda s: s.series_of(cg), 15, what=f"series of {cg}")
        self.docker("exec", c.name, "sh", "-c", "busybox timeout 2 busybox yes >/dev/null",
                    check=False, timeout=60)
        time.sleep(0.5)  # docker exec's process is gone from the cgroup

        kernel0 = kernel_cpu_seconds(cg)
        pressure0 = h.read_pressure(cg, "cpu")
        after = self.agent.scrape()
        kernel1 = kernel_cpu_seconds(cg)
        pressure1 = h.read_pressure(cg, "cpu")

        usage = after.value("container_cpu_usage_seconds_total", id=cg, cpu="total")
        self.assertTrue(kernel0["usage"] - 0.001 <= usage <= kernel1["usage"] + 0.001,
                        f"usage {usage}, cpu.stat went {kernel0['usage']} -> {kernel1['usage']}")
        burnt = usage - before.value("container_cpu_usage_seconds_total", id=cg, cpu="total")
        # The exact check is the bracket above; this one only shows the counter moved with the
        # burn (a machine busy with other work can leave `yes` well under a core).
        self.assertGreaterEqual(burnt, 0.2, "2 s of `yes`")
        self.assertLessEqual(burnt, 2.5, "2 s of `yes` is at most 2 s of one core")
        for key in ("user", "system"):
            v = after.value(f"container_cpu_{key}_seconds_total", id=cg)
            self.assertTrue(kernel0[key] - 0.001 <= v <= kernel1[key] + 0.001,
                            f"{key} {v}, cpu.stat went {kernel0[key]} -> {kernel1[key]}")

        self.assertEqual(after.value("container_processes", id=cg), 2)
        self.assertEqual(after.value("container_threads", id=cg), 2)
        self.assertEqual(after.value("container_tasks_state", id=cg, state="sleeping"), 2)

        if pressure0 is not None:
            waited = after.value("container_pressure_cpu_waiting_seconds_total", id=cg)
            self.assertTrue(pressure0["some"] - 0.001 <= waited <= pressure1["some"] + 0.001,
                            f"cpu pressure {waited}, cpu.pressure went {pressure0['some']} -> "
                            f"{pressure1['some']}")

        # A hierarchy without the memory (io) controller has no memory (io) files: those series
        # are left out and the rest of the container is there.
        memory = after.select("container_memory_usage_bytes", id=cg)
        self.assertEqual(bool(memory), "memory" in self.controllers,
                         f"memory series {memory} with controllers {sorted(self.controllers)}")
        self.assertEqual(after.total("swarmwatch_containers_vanished_total"), 0)

    def test_the_root_is_the_hierarchy_top(self):
        s = self.agent.scrape()
        usage = s.value("container_cpu_usage_seconds_total", id="/", cpu="total")
        self.assertGreater(usage, 0, "the root cgroup's cpu.stat holds every task's time")
        self.assertLessEqual(usage, kernel_cpu_seconds("/")["usage"])


if __name__ == "__main__":
    unittest.main()
