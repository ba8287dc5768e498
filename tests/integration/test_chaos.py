"""Ordinary cluster life, all at once, for about five minutes, against a real Docker engine (a
private dockerd, so that it can be restarted) and the real Loki of ../shared/tools/loki (a clone
without it skips, saying what is missing):

- a container flooding its log with `--log-opt max-size=1m --log-opt max-file=3`;
- ten containers writing a numbered line every 100 ms (numbering kept across restarts);
- a loop creating, renaming, reusing the names of, killing and `--rm`-running containers (200+);
- one dockerd restart, one `kill -9` of the agent and a restart on the same positions file, one
  Loki restart (30 s down), in that order (see the kill below for why not the kill during the
  outage);
- 1,000 idle or half-sent connections held against the agent for 60 s;
- a scrape every second, which must answer within 1 s and pass `promtool check metrics`.

At the end, from Loki and from the agent: the agent never died but by the kill; every numbered
line and every `--rm` container's line is in Loki at least once (duplicates, from the batches in
flight at the kill, are counted and printed); no series of a removed container remains; open file
descriptors and RSS are back within 10% of their value before the storm. The figures are printed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness as h
import shipping

QUIET = 10
CHURN_RM = 180  # `docker run --rm` containers; the renames and kills add more
HELD_CONNECTIONS = 1000


def promtool_check(text: str) -> tuple[bool, str]:
    """Whether Prometheus would take this exposition: `promtool check metrics` exits 1 on a parse
    error and 3 on lint findings only (cAdvisor's names, such as container_memory_failcnt for a
    counter, are kept on purpose)."""
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(errors="surrogateescape"),
                       capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    return p.returncode in (0, 3) and "error while linting" not in out, out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Scraper(threading.Thread):
    """Scrapes once a second: answer time, status and promtool's verdict."""

    def __init__(self):
        super().__init__(daemon=True)
        self.port: int | None = None
        self.paused = threading.Event()  # while the agent is down on purpose
        self.done = threading.Event()
        self.results: list[tuple[float, float, str]] = []  # (time, seconds, problem or "")

    def run(self) -> None:
        while not self.done.wait(1.0):
            if self.paused.is_set() or self.port is None:
                continue
            start = time.monotonic()
            try:
                r = h.http_get(f"http://127.0.0.1:{self.port}/metrics", timeout=5)
                took = time.monotonic() - start
                if r.status != 200:
                    problem = f"status {r.status}"
                else:
                    ok, out = promtool_check(r.text)
                    problem = "" if ok else "promtool: " + out[:300]
            except OSError as e:
                took, problem = time.monotonic() - start, f"no answer: {e}"
            if self.paused.is_set():
                continue  # the agent went down during the scrape, on purpose
            if took > 1.0 and not problem:
                problem = f"answered in {took:.2f}s"
            self.results.append((time.time(), took, problem))


class HeldConnections:
    """Idle and half-sent connections held open against the agent."""

    def __init__(self, port: int, n: int):
        self.sockets = []
        try:
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                self.sockets.append(s)
                if i % 2:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        except OSError as e:
            held = len(self.sockets)
            self.close()
            raise AssertionError(f"the agent took {held} connections, then: {e}") from None

    def close(self) -> None:
        for s in self.sockets:
            s.close()
        self.sockets = []


class ChaosTest(shipping.PrivateEngineLokiTestCase):
    scratch = "chaos"

    def setUp(self):
        super().setUp()
        self.positions = self.dir / "positions.json"
        self.token = h.unique("chaos")
        self.agents: list[h.Agent] = []
        self.churn_errors: list[str] = []
        self.churn_paused = threading.Event()
        self.churn_idle = threading.Event()

    def start_agent(self) -> h.Agent:
        agent = h.Agent("--docker-host", self.engine.host, "--docker-root", self.engine.data_root,
                        "--loki-url", self.loki.push_url, "--positions-file", str(self.positions))
        self.addCleanup(agent.kill)
        agent.wait_ready(60)
        self.agents.append(agent)
        return agent

    def churn(self, stop: threading.Event, rm_ok: list[int], names_used: list[str]) -> None:
        """`--rm` containers, and now and then a named one renamed, its name reused, killed."""
        i = 0
        while not stop.is_set() and len(rm_ok) < CHURN_RM:
            if self.churn_paused.is_set():
                self.churn_idle.set()
                time.sleep(0.1)
                continue
            self.churn_idle.clear()
            name = f"{self.token}-rm-{i}"
            try:
                p = subprocess.run([h.DOCKER, "-H", self.engine.host, "run", "--rm", "--name", name,
                                    h.IMAGE, "echo", f"rm {self.token} {i}"],
                                   capture_output=True, text=True, timeout=60)
                if p.returncode == 0 and p.stdout.strip() == f"rm {self.token} {i}":
                    rm_ok.append(i)
                else:
                    self.churn_errors.append(f"run --rm {i}: {p.returncode} {p.stderr.strip()[:200]}")
                    time.sleep(1)  # the engine restarting: wait for it rather than count failures
            except subprocess.TimeoutExpired:
                self.churn_errors.append(f"run --rm {i}: no answer in 60 s")
            if i % 10 == 5:
                x = f"{self.token}-x-{i}"
                names_used.extend([x, x + "-old"])
                d = h.Docker(self.engine.host)
                loop = 'while :; do echo "named $RANDOM"; sleep 0.2; done'
                try:
                    d("run", "-d", "--name", x, h.IMAGE, "sh", "-c", loop)
                    d("rename", x, x + "-old")
                    d("run", "-d", "--name", x, h.IMAGE, "sh", "-c", loop)
                    time.sleep(0.5)
                    d("kill", x + "-old")
                    d("rm", "-f", x + "-old", x)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    # The engine restarting under the loop: clean up what is left, go on.
                    self.churn_errors.append(f"named {i}: {e}"[:300])
                    d("rm", "-f", x + "-old", x, check=False)
            i += 1

    def rm_lines_in_loki(self) -> list[int]:
        lines = self.loki.lines(f'{{job="docker"}} |= "rm {self.token} "', since_s=900, limit=5000)
        return [int(line.split()[2]) for _, _, line in lines]

    def wait_for_rm_lines(self, wanted: set[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            missing = wanted - set(self.rm_lines_in_loki())
            if not missing:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"--rm containers' lines not in Loki after {timeout:.0f} s: "
                                     f"{sorted(missing)[:20]}")
            time.sleep(1)

    def test_the_agent_survives_a_storm_without_losing_a_line(self):
        started = time.monotonic()
        agent = self.start_agent()
        scraper = Scraper()
        scraper.port = agent.port
        scraper.start()
        self.addCleanup(scraper.done.set)

        # Ten quiet containers: a numbered line every 100 ms; the number survives a restart.
        # "quiet <run> <i>": the run counts the container's starts (kept in its filesystem), so
        # every line is distinct whatever a restart does to the numbering.
        quiet_script = ('r=$(cat /runs 2>/dev/null); r=$((${r:-0}+1)); echo $r > /runs; i=0; '
                        'while :; do echo "quiet $r $i"; i=$((i+1)); sleep 0.1; done')
        quiet = [self.docker.run("quiet", "--restart", "unless-stopped", cmd=["sh", "-c", quiet_script])
                 for _ in range(QUIET)]
        time.sleep(15)
        agent.scrape()
        before = {"rss_kib": h.process_memory_kib(agent.pid)["VmRSS"], "fds": open_fds(agent.pid)}

        # The storm.
        flood = self.docker.run("flood", "--log-opt", "max-size=1m", "--log-opt", "max-file=3",
                                cmd=["busybox", "awk", 'BEGIN { for (i = 0; i < 400000; i++) '
                                     'print "flood " i " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }'])
        stop_churn = threading.Event()
        rm_ok: list[int] = []
        names_used: list[str] = []
        churner = threading.Thread(target=self.churn, args=(stop_churn, rm_ok, names_used), daemon=True)
        churner.start()
        self.addCleanup(stop_churn.set)

        held = HeldConnections(agent.port, HELD_CONNECTIONS)
        self.addCleanup(held.close)
        storm_start = time.monotonic()

        def at(seconds: float) -> None:
            time.sleep(max(0.0, storm_start + seconds - time.monotonic()))

        at(40)
        # dockerd restart: containers stop and, with --restart unless-stopped, start again.
        self.engine.kill(signal.SIGTERM, timeout=60)
        self.engine.start()
        at(60)
        held.close()
        # kill -9 of the agent. The lines it holds but Loki has not yet acknowledged are read again
        # from their files by the restarted agent, except those of containers already removed:
        # their files are gone (README, "Shipping logs to Loki", says so; issue 20 holds files,
        # nothing yet spools them to disk). So the kill comes when the removed containers' lines
        # are acknowledged, with the churn paused, and the ten quiet containers still writing: their
        # batches in flight are what the restarted agent sends again.
        self.churn_paused.set()
        self.churn_idle.wait(120)
        self.wait_for_rm_lines(set(rm_ok), 90)
        scraper.paused.set()
        os.kill(agent.pid, signal.SIGKILL)
        agent.proc.wait(10)
        agent = self.start_agent()
        scraper.port = agent.port
        scraper.paused.clear()
        self.churn_paused.clear()
        at(90)
        self.loki.stop()
        at(120)
        self.loki.start()
        # The loop's 180 runs end within the storm's first 5 min on an idle 2-core machine, later
        # on a busy one (each `docker run` is a dozen engine round trips): it is given the time it
        # needs rather than a fixed share of the storm, so that a slow machine tests the same churn.
        churner.join(480)
        stop_churn.set()
        storm_seconds = time.monotonic() - storm_start

        def drained(s: h.Scrape):
            return (s.value("swarmwatch_log_read_ahead_bytes") == 0 and
                    sum(x.value for x in s.select("swarmwatch_log_lag_bytes")
                        if x.labels["container"] != flood.name) < 2000)
        # The same containers run as before the storm: the agent's descriptors and memory must be
        # what they were (a scrape keeps each container's cgroup files open).
        agent.scrape_until(drained, 180, what="the agent to catch up after the storm")
        time.sleep(5)
        agent.scrape()
        after = {"rss_kib": h.process_memory_kib(agent.pid)["VmRSS"], "fds": open_fds(agent.pid)}

        # Wind down: the quiet containers stop, everything written reaches Loki.
        self.docker("stop", "-t", "1", *[c.name for c in quiet], timeout=120)
        agent.scrape_until(lambda s: drained(s) and not sum(
            x.value for x in s.select("swarmwatch_log_lag_bytes") if x.labels["container"] != flood.name),
            180, what="the agent to ship everything written")
        time.sleep(3)
        scraper.done.set()
        scraper.join(10)

        # Every numbered line, and every --rm container's line, in Loki at least once.
        missing, duplicates, shipped = {}, 0, 0
        for c in quiet:
            written = [d["log"].strip() for _, _, d in h.json_file_lines(c.inspect()["LogPath"])]
            got = [line for _, _, line in
                   self.loki.lines(f'{{container="{c.name}"}}', since_s=900, limit=50000)]
            shipped += len(got)
            duplicates += len(got) - len(set(got))
            lost = sorted(set(written) - set(got))
            if lost:
                missing[c.name] = lost[:10] + ([f"... {len(lost)} in all"] if len(lost) > 10 else [])
        rm_got = self.rm_lines_in_loki()
        rm_missing = sorted(set(rm_ok) - set(rm_got))

        # What the agent still shows is of live containers only.
        live_ids = set(self.docker("ps", "-aq", "--no-trunc").split())
        live_names = {json.loads(self.docker("inspect", i))[0]["Name"].lstrip("/") for i in live_ids}
        s = agent.scrape()
        stale_ids = {x for x in s.ids() if x.startswith("/docker/") and x.rsplit("/", 1)[1] not in live_ids}
        stale_lag = {x.labels["container"] for x in s.select("swarmwatch_log_lag_bytes")} - live_names

        slow = [(round(t - storm_start, 1), p) for t, took, p in scraper.results if p]
        died = [a.proc.returncode for a in self.agents[:-1] if a.proc.returncode != -signal.SIGKILL]
        died += [agent.proc.returncode] if agent.proc.poll() is not None else []
        dropped = s.total("swarmwatch_loki_entries_dropped_total")
        flood_in_loki = self.loki.count('{container="%s"}' % flood.name, since_s=900)

        print(f"\nchaos: storm {storm_seconds:.0f}s, test {time.monotonic() - started:.0f}s; "
              f"scrapes {len(scraper.results)}, slowest {max((r[1] for r in scraper.results), default=0):.3f}s, "
              f"problems {len(slow)}; quiet lines shipped {shipped}, duplicates {duplicates}; "
              f"--rm containers run {len(rm_ok)}, shipped {len(set(rm_got))}; renamed/reused "
              f"{len(names_used)}; agent RSS {before['rss_kib']} -> {after['rss_kib']} KiB, fds "
              f"{before['fds']} -> {after['fds']}; dropped {dropped:.0f}; flood lines in Loki "
              f"{flood_in_loki}; churn errors {len(self.churn_errors)}", flush=True)
        for e in self.churn_errors[:10]:
            print("  churn:", e, flush=True)

        self.assertEqual(died, [], "the agent died other than by the kill")
        self.assertEqual(slow, [], "scrapes slower than 1 s or refused by promtool")
        self.assertGreaterEqual(len(scraper.results), 100)
        self.assertEqual(missing, {}, "numbered lines missing from Loki")
        self.assertEqual(len(rm_ok), CHURN_RM, "the churn loop ran")
        self.assertGreaterEqual(len(rm_ok) + len(names_used), 200, "containers churned")
        self.assertEqual(rm_missing, [], "--rm containers' lines missing from Loki")
        self.assertEqual(stale_ids, set(), "series of removed containers")
        self.assertEqual(stale_lag, set(), "lag series of removed containers")
        self.assertLessEqual(after["fds"], before["fds"] * 1.1 + 1, "open descriptors after the storm")
        self.assertLessEqual(after["rss_kib"], before["rss_kib"] * 1.1, "RSS after the storm")


if __name__ == "__main__":
    unittest.main(verbosity=2)
