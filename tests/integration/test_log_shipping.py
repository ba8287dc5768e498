"""Log shipping to Loki against a real engine, real containers and the tests' Loki receiver
(tests/loki_receiver): every line once and in order with its labels, metadata and Docker's exact
timestamp; rotations; stopped-and-started containers and restarting Swarm tasks; the opt-out label;
positions kept across an agent restart. Fault injection (kill -9, Loki down, 429, 400) is in
test_log_shipping_faults.py.
"""

import json
import os
import signal
import time
import unittest

import harness as h
from shipping import ShippingTest, numbers, parse_docker_time_ns, seq_loop


class LogShippingTest(ShippingTest):
    def test_every_line_once_with_labels_and_metadata(self):
        n = 20000
        agent = self.start_agent("--loki-labels", "env=it,team=obs", "--loki-tenant", "tenant-a")
        c = self.run_container("seq", seq_loop(n, "seq", "err"))
        self.wait_exited(c)
        got = self.wait_count(c.name, 2 * n, 120, agent)
        self.settle(agent)
        got = self.entries.of(c.name)
        self.assert_each_once(numbers(got, "seq", "stdout"), n, "stdout")  # ~2 MB: a flood
        self.assert_each_once(numbers(got, "err", "stderr"), n, "stderr")
        self.assertEqual(len(got), 2 * n)

        for stream in ("stdout", "stderr"):
            e = next(e for e in got if e["labels"]["stream"] == stream)
            # Empty labels (no stack, no service: not a Swarm task) are not sent, as Loki drops them.
            self.assertEqual(e["labels"], {"job": "docker", "node": self.node, "container": c.name,
                                           "stream": stream, "env": "it", "team": "obs"})
            self.assertEqual(e["metadata"], {"container_id": c.id})
        self.assertEqual({e["tenant"] for e in got}, {"tenant-a"})

        # Each entry carries the line and the nanosecond time Docker wrote for it.
        log_path = c.inspect()["LogPath"]
        written = [(d["stream"], d["log"].rstrip("\n"), parse_docker_time_ns(d["time"]))
                   for _, _, d in h.json_file_lines(log_path)]
        arrived = sorted((e["labels"]["stream"], e["line"], int(e["ts"])) for e in got)
        self.assertEqual(arrived, sorted(written))

        self.assert_nothing_refused(agent)
        s = agent.scrape()
        self.assertEqual(s.value("swarmwatch_loki_entries_sent_total"), self.receiver.stats()["entries"])
        self.assertEqual(s.value("swarmwatch_log_lag_bytes", container=c.name), 0)

    def test_rotation_loses_nothing_while_the_agent_keeps_up(self):
        # A writer at a stated rate: at most 4,000 lines a second (~0.55 MB of json-file) through
        # 1 MB files, five kept, so a rotated file is deleted ~7 s after it was written. The agent
        # ships ~40x that rate here (bench/rotation_keepup.py); how far a reader falls behind a
        # writer running flat out is a race between two processes, measured there, and what
        # happens when it falls too far behind is test_rotations_while_the_agent_is_stopped_*.
        n, per_tick, tick = 60000, 400, 0.1
        agent = self.start_agent()
        c = self.run_container("rot", seq_loop(n, "seq", pad=60, pace=(per_tick, tick)),
                               "--log-opt", "max-size=1m", "--log-opt", "max-file=5")
        self.wait_exited(c, 300)
        # The first files were deleted: the test did go through rotations Docker did not keep.
        oldest = h.Path(c.inspect()["LogPath"] + ".4")
        self.assertTrue(oldest.exists(), "five files on disk after ~8 MB through 1 MB files")
        first = next(iter(h.json_file_lines(oldest)))[2]["log"]
        self.assertNotEqual(first.split()[1], "0", "the first file was rotated away")
        self.wait_count(c.name, n, 120, agent)
        s = self.settle(agent)
        self.assert_each_once(numbers(self.entries.of(c.name), "seq"), n, "rotated stdout")
        self.assert_nothing_refused(agent)
        self.assertEqual(s.value("swarmwatch_log_rotated_away_total"), 0, agent.log(20))
        self.assertFalse([l for l in agent.stderr_lines if "lost" in l], agent.log(20))

    def test_rotations_while_the_agent_is_stopped_lose_one_counted_gap(self):
        """Overload, made deterministic: the agent is frozen (SIGSTOP) while a container writes
        through more rotations than Docker keeps files. Lines of the files deleted unread are lost,
        and only those: the agent counts it in swarmwatch_log_rotated_away_total and warns, and
        what it ships is in order without duplicates: every line before the freeze, the rest of the
        file it held open, and every line still on disk."""
        first, burst = 2000, 40000  # the burst: ~5.6 MB through 1 MB files, two kept
        pad = "x" * 60
        script = (f'i=0; while [ $i -lt {first} ]; do echo "seq $i {pad}"; i=$((i+1)); done; '
                  'until [ -e /go ]; do sleep 0.1; done; '
                  f'while [ $i -lt {first + burst} ]; do echo "seq $i {pad}"; i=$((i+1)); done')
        agent = self.start_agent()
        c = self.run_container("frozen", ["sh", "-c", script], "--log-opt", "max-size=1m",
                               "--log-opt", "max-file=2")
        self.wait_count(c.name, first, 60, agent)
        self.settle(agent)
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            c.exec("touch", "/go")
            self.wait_exited(c)
            log_path = c.inspect()["LogPath"]
            on_disk = [int(d["log"].split()[1]) for f in (log_path + ".1", log_path)
                       for _, _, d in h.json_file_lines(f)]
        finally:
            os.kill(agent.pid, signal.SIGCONT)
        self.assertGreater(on_disk[0], first + 12000, "files were deleted while the agent was frozen")
        self.assertEqual(on_disk[-1], first + burst - 1)
        self.wait_count(c.name, first + len(on_disk), 60, agent)
        s = self.settle(agent)
        got = numbers(self.entries.of(c.name), "seq")
        self.assertEqual(len(got), len(set(got)), "without duplicates")
        # In order within a lane, but the burst may have been found flooding after its first read
        # (README, "Fair delivery"): which lines arrived is what counts.
        got.sort()
        self.assertEqual(got[:first], list(range(first)), "every line before the freeze")
        self.assertEqual(got[-len(on_disk):], on_disk, "every line still on disk")
        # Between them, the rest of the file held open at the freeze, then one gap: the lost files.
        middle = got[first:len(got) - len(on_disk)]
        self.assertEqual(middle, list(range(first, first + len(middle))), "the held file's rest")
        self.assertGreaterEqual(s.value("swarmwatch_log_rotated_away_total"), 1,
                                "the loss is counted")
        self.assertTrue([l for l in agent.stderr_lines if "lines may be lost" in l], agent.log(20))
        self.assert_nothing_refused(agent)

    def test_stopped_and_started_container_no_resend_no_gap(self):
        n = 1000
        # Each run prints `run <k> <i>`; k counts the runs in the container's own filesystem.
        script = ('k=$(cat /runs 2>/dev/null || echo 0); echo $((k+1)) > /runs; i=0; '
                  f'while [ $i -lt {n} ]; do echo "run$k $i"; i=$((i+1)); done; exec sleep 3600')
        agent = self.start_agent()
        c = self.run_container("stop", ["sh", "-c", script])
        self.wait_count(c.name, n, 60, agent)
        self.docker("stop", "-t", "1", c.name)
        self.settle(agent)
        self.docker("start", c.name)
        self.wait_count(c.name, 2 * n, 60, agent)
        self.docker("stop", "-t", "1", c.name)
        self.docker("start", c.name)
        self.wait_count(c.name, 3 * n, 60, agent)
        self.settle(agent)
        got = self.entries.of(c.name)
        for k in range(3):
            self.assert_once_in_order(numbers(got, f"run{k}"), n, f"run {k}")
        self.assertEqual(len(got), 3 * n)
        self.assertEqual([e["line"].split()[0] for e in got],
                         [f"run{k}" for k in range(3) for _ in range(n)], "runs in order")
        self.assert_nothing_refused(agent)

    def test_restarting_swarm_task_no_resend_no_gap(self):
        h.ensure_swarm_manager(type(self))
        n, tasks = 500, 3
        stack = h.unique("stack")
        agent = self.start_agent()
        service = self.docker.service(
            "task", "--restart-condition", "any", "--restart-delay", "1s",
            "--restart-max-attempts", str(tasks - 1), "--no-resolve-image",
            "--container-label", f"com.docker.stack.namespace={stack}",
            h.IMAGE, *seq_loop(n, "seq"))

        def task_containers():
            ids = self.docker("ps", "-aq", "--no-trunc", "--filter",
                              f"label=com.docker.swarm.service.name={service}").split()
            if len(ids) < tasks:
                return None
            infos = [json.loads(self.docker("inspect", i))[0] for i in ids]
            return infos if all(i["State"]["Status"] == "exited" for i in infos) else None

        infos = h.wait_until(task_containers, 120, interval=1, what=f"{tasks} exited tasks of {service}")
        self.assertEqual(len(infos), tasks)
        for info in infos:
            name = info["Name"].lstrip("/")
            self.wait_count(name, n, 60, agent)
        self.settle(agent)
        for info in infos:
            name = info["Name"].lstrip("/")
            got = self.entries.of(name)
            self.assert_once_in_order(numbers(got, "seq"), n, f"task {name}")
            e = got[0]
            self.assertEqual(e["labels"], {"job": "docker", "node": self.node, "container": name,
                                           "stream": "stdout", "swarm_service": service,
                                           "swarm_stack": stack})
            self.assertEqual(e["metadata"], {"container_id": info["Id"],
                                             "task_id": info["Config"]["Labels"]["com.docker.swarm.task.id"]})
        self.assert_nothing_refused(agent)

    def test_a_renamed_container_and_a_reused_name_reach_every_label(self):
        """Compose and `docker rename` reuse names: x is renamed x-old, a new x starts, x-old is
        removed. The agent must neither crash (the lag gauge of a name shared by two containers was
        freed under the other) nor keep the old name on the renamed container's lines."""
        agent = self.start_agent()
        x = h.unique("reuse")
        old = x + "-old"
        for name in (x, old):
            self.addCleanup(self.docker.remove_container, name)
        loop = 'i=0; while :; do echo "{} $i"; i=$((i+1)); sleep 0.2; done'
        first = self.docker("run", "-d", "--name", x, h.IMAGE, "sh", "-c", loop.format("first"))
        self.wait_count(x, 5, 30, agent)
        self.docker("rename", x, old)
        second = self.docker("run", "-d", "--name", x, h.IMAGE, "sh", "-c", loop.format("second"))
        self.wait_count(old, 5, 30, agent)  # the renamed container's lines, under its new name
        self.docker("rm", "-f", old)
        time.sleep(3)
        self.assertIsNone(agent.proc.poll(), f"the agent died:\n{agent.log(30)}")
        got = {e["line"].split()[0] for e in self.entries.of(x)}
        got_old = self.entries.of(old)
        self.assertTrue({"first", "second"} <= got, got)
        self.assertEqual({e["line"].split()[0] for e in got_old}, {"first"})
        self.assertEqual({e["metadata"]["container_id"] for e in got_old}, {first})
        # Lines of the first container from before the rename stay under x, those after it under
        # x-old: one sequence, nothing lost or sent twice.
        firsts = sorted(int(e["line"].split()[1]) for e in self.entries.of(x) + got_old
                        if e["line"].startswith("first "))
        self.assertEqual(firsts, list(range(len(firsts))))

        def lag_names(s):
            return {x.labels["container"] for x in s.select("swarmwatch_log_lag_bytes")}
        s = agent.scrape_until(lambda s: old not in lag_names(s), 30,
                               what="the removed container's lag series to go")
        self.assertIn(x, lag_names(s))
        self.assertEqual(len(s.select("swarmwatch_log_lag_bytes", container=x)), 1)
        self.docker("rm", "-f", x)
        self.assertTrue(second)

    def test_short_lived_containers_are_shipped_though_gone_before_inspected(self):
        """`docker run --rm` containers that start, write and are removed before the agent hears
        of them (the engine tells its events 3 s late here): what they wrote is read from the log
        file caught when it was created, labelled from the event."""
        proxy = h.SlowEventsProxy(3.0)
        self.addCleanup(proxy.close)
        agent = h.Agent("--docker-host", proxy.docker_host, "--loki-url", self.receiver.push_url,
                        "--positions-file", str(self.positions))
        self.addCleanup(agent.kill)
        agent.wait_ready(60)
        n, token = 30, h.unique("rm")
        names = [f"{token}-{i}" for i in range(n)]
        for i, name in enumerate(names):
            self.docker("run", "--rm", "--name", name, "--label", "app=churn", h.IMAGE,
                        "echo", f"churn {i}")
        for i, name in enumerate(names):
            got = self.wait_count(name, 1, 60, agent)
            self.assertEqual([e["line"] for e in got], [f"churn {i}"], name)
            self.assertEqual(got[0]["labels"]["container"], name)
        self.assertIsNone(agent.proc.poll(), agent.log(20))
        s = self.settle(agent)
        # Forgotten once read: no series, no followed container, no open file left of them.
        self.assertFalse([x for x in s.select("swarmwatch_log_lag_bytes")
                          if x.labels["container"].startswith(token)])
        held = [os.readlink(f"/proc/{agent.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{agent.pid}/fd")]
        self.assertFalse([f for f in held if "-json.log" in f and "(deleted)" in f], held)

    def test_opted_out_container_ships_nothing(self):
        agent = self.start_agent()
        quiet = self.run_container("optout", seq_loop(500, "seq"), "--label", "swarmwatch.logs=false")
        self.wait_exited(quiet)
        control = self.run_container("control", seq_loop(500, "seq"))
        self.wait_count(control.name, 500, 60, agent)
        s = self.settle(agent)
        self.assertEqual(self.entries.of(quiet.name), [])
        self.assertEqual(s.select("swarmwatch_log_lag_bytes", container=quiet.name), [])
        self.assertEqual(len(s.select("swarmwatch_log_lag_bytes", container=control.name)), 1)

    def test_positions_survive_agent_restart(self):
        n = 1000
        script = ('k=$(cat /runs 2>/dev/null || echo 0); echo $((k+1)) > /runs; i=0; '
                  f'while [ $i -lt {n} ]; do echo "run$k $i"; i=$((i+1)); done')
        first = self.start_agent()
        c = self.run_container("pos", ["sh", "-c", script])
        self.wait_exited(c)
        self.wait_count(c.name, n, 60, first)
        self.settle(first)
        self.assertEqual(first.stop(), 0, first.log(20))
        size = h.Path(c.inspect()["LogPath"]).stat().st_size
        saved = h.read_positions(self.positions)
        self.assertEqual(saved.get(c.id, {}).get("offset"), size, f"positions file: {saved}")

        # While no agent runs, the container runs again; a new receiver store shows any re-send.
        self.docker("start", c.name)
        self.wait_exited(c)
        self.entries.reset()
        second = self.start_agent()
        self.wait_count(c.name, n, 60, second)
        control = self.run_container("control", seq_loop(100, "seq"))
        self.wait_count(control.name, 100, 60, second)
        self.settle(second)
        got = self.entries.of(c.name)
        self.assertEqual(numbers(got, "run0"), [], "history re-sent after the agent restarted")
        self.assert_once_in_order(numbers(got, "run1"), n, "lines written while no agent ran")
        self.assert_nothing_refused(second)


if __name__ == "__main__":
    unittest.main(verbosity=2)
