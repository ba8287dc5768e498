"""Shipping against a real Grafana Loki 3.4.6 with its default limits (../shared/tools/loki; a
clone without it skips, saying what is missing): what Loki refuses of a push (entries older than a
week, ahead of its clock) is counted by reason and nothing else is, and what the agent could make
Loki refuse (a line over 256 KB, a label value over 2048 bytes) it never sends.

Old and future timestamps cannot be made by a real container (Docker stamps lines as it receives
them), so those lines are written as json-file into a copy of the engine's directory layout for a
real (exited) container, which the agent reads through --docker-root.
"""

from __future__ import annotations

import json
import time
import unittest

import harness as h
import shipping

DAY_NS = 24 * 3600 * 10**9


def docker_time(ns: int) -> str:
    seconds, frac = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def json_file_line(text: str, ns: int, stream: str = "stdout") -> str:
    """One line as Docker's json-file writes it: in pieces of 16 KiB, only the last ending in a
    newline (a longer line comes in several partial records)."""
    text += "\n"
    out = ""
    for at in range(0, len(text), 16384):
        out += json.dumps({"log": text[at:at + 16384], "stream": stream, "time": docker_time(ns)}) + "\n"
    return out


class RealLokiTest(shipping.RealLokiTestCase):
    scratch = "loki"

    def start_agent(self, *extra: str) -> h.Agent:
        agent = h.Agent("--docker-host", h.HOST_SOCKET, "--loki-url", self.loki.push_url,
                        "--positions-file", str(self.dir / "positions.json"), *extra)
        self.addCleanup(agent.kill)
        agent.wait_ready(60)
        return agent

    def settle(self, agent: h.Agent, sent: int, timeout: float = 60) -> h.Scrape:
        def done(s: h.Scrape):
            return (s.value("swarmwatch_log_read_ahead_bytes") == 0 and
                    s.value("swarmwatch_loki_entries_sent_total") +
                    s.total("swarmwatch_loki_entries_dropped_total") >= sent)
        return agent.scrape_until(done, timeout, what=f"{sent} lines sent or dropped")

    def test_a_partly_refused_push_counts_only_what_loki_refused(self):
        c = self.docker.run("fake", cmd=["true"])
        h.wait_until(lambda: self.docker("inspect", "-f", "{{.State.Status}}", c.id) == "exited", 30,
                     what=f"{c.name} to exit")
        root = self.dir / "docker"
        log = root / "containers" / c.id / f"{c.id}-json.log"
        log.parent.mkdir(parents=True)
        now = time.time_ns()
        lines = []
        for i in range(50):
            lines.append(json_file_line(f"fresh {i}", now - 60 * 10**9 + i))
        for i in range(5):
            lines.append(json_file_line(f"old {i}", now - 8 * DAY_NS + i))
        for i in range(3):
            lines.append(json_file_line(f"future {i}", now + 3600 * 10**9 + i))
        # Over Loki's 256 KB: cut to --max-line-bytes (256 KiB) and marked, never refused.
        lines.append(json_file_line("long " + "x" * 300_000, now))
        log.write_text("".join(lines))

        agent = self.start_agent("--docker-root", str(root), "--loki-batch-bytes", "4MiB")
        s = self.settle(agent, len(lines))
        time.sleep(2)
        s = self.settle(agent, len(lines))
        dropped = {x.labels["reason"]: x.value for x in s.select("swarmwatch_loki_entries_dropped_total")
                   if x.value}
        self.assertEqual(dropped, {"too_old": 5, "too_new": 3}, agent.log(20))
        selector = f'{{container="{c.name}"}}'
        stored = self.loki.lines(selector)
        texts = [line.split()[0] for _, _, line in stored]
        self.assertEqual(texts.count("fresh"), 50)
        self.assertEqual(texts.count("long"), 1)
        self.assertFalse({"old", "future"} & set(texts))
        self.assertEqual(s.value("swarmwatch_loki_entries_sent_total"), 51)
        self.assertEqual(self.loki.count(selector), 51)
        long_line = next(line for _, _, line in stored if line.startswith("long "))
        self.assertEqual(len(long_line.encode()), 256 * 1024)
        # Docker's times are kept as written.
        fresh = sorted(ts for _, ts, line in stored if line.startswith("fresh "))
        self.assertEqual(fresh, [now - 60 * 10**9 + i for i in range(50)])
        self.assertTrue([l for l in agent.stderr_lines if "loki refused 8 of" in l], agent.log(20))

    def test_a_label_value_over_2048_bytes_is_cut_not_refused(self):
        stack = "s" * 3000
        agent = self.start_agent()
        c = self.docker.run("longlabel", "--label", f"com.docker.stack.namespace={stack}",
                            cmd=["sh", "-c", "i=0; while [ $i -lt 20 ]; do echo \"line $i\"; i=$((i+1)); done"])
        selector = f'{{container="{c.name}"}}'
        h.wait_until(lambda: self.loki.count(selector) >= 20, 60, interval=1,
                     what="the container's 20 lines in Loki")
        stored = self.loki.lines(selector)
        self.assertEqual(sorted(int(line.split()[1]) for _, _, line in stored), list(range(20)))
        self.assertEqual({labels["swarm_stack"] for labels, _, _ in stored}, {"s" * 2048})
        s = agent.scrape()
        self.assertEqual(s.total("swarmwatch_loki_entries_dropped_total"), 0, agent.log(20))


if __name__ == "__main__":
    unittest.main(verbosity=2)
