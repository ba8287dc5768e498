"""Rotated log files held through a Loki outage, against the real Loki 3.4.6 (../shared/tools/loki; a
clone without it skips): a container writing ~2 MB/s with max-size=1m, max-file=3 while Loki is
stopped for 60 s (Docker deletes a rotated file ~1.5 s after its rotation, the agent's read-ahead is
full after about a second). With the default --held-logs-bytes (1 GiB) every line arrives after Loki
returns; with --held-logs-bytes 20MiB the loss is exactly the lines of the held files the budget gave
up, and counted.

Exactness: the agent counts what a given-up file still had unread, in lines
(swarmwatch_loki_entries_dropped_total{reason="held_budget"}) and in json-file bytes
(swarmwatch_log_dropped_bytes_total{reason="held_budget"}), and logs each file it gives up with its
path. Other containers on the shared engine may have files given up too, so the lines missing from
this container in Loki are compared with the sum of this container's log lines, and the metrics with
the sum over all of them. The bytes cannot be matched line by line (Docker's timestamps have 0-9
fraction digits and the missing lines' stamps are nowhere), so they are checked within the bounds
those lengths allow.
"""

from __future__ import annotations

import json
import re
import time
import unittest
import urllib.parse

import harness as h
import shipping
from harness import MiB
from shipping import seq_loop

OUTAGE_S = 60
# ~2 KB a json-file line, ~1,000 lines/s: ~2 MB/s, a 1 MB file rotated every half second.
PAD = 1900
PACE = (100, 0.1)
GIVEN_UP = re.compile(r"log (\S+): over the held-logs budget: gave up rotated inode \d+ with (\d+) bytes "
                      r"\((\d+) lines\) unread")


class HeldLogFilesTest(shipping.RealLokiTestCase):
    scratch = "held"

    def setUp(self):
        super().setUp()
        # A Loki stopped by a failed test is started again for the next one.
        self.addCleanup(lambda: self.loki.proc.poll() is None or self.loki.start())

    def start_agent(self, *extra: str) -> h.Agent:
        # A small read-ahead: the outage fills it within a second, so the rest is up to the held files.
        agent = h.Agent("--docker-host", h.HOST_SOCKET, "--loki-url", self.loki.push_url,
                        "--positions-file", str(self.dir / "positions.json"), "--read-ahead-bytes", "2MiB",
                        "--loki-batch-bytes", "512KiB", "--log-level", "info", *extra)
        self.addCleanup(agent.kill)
        agent.wait_ready(60)
        return agent

    def numbers_in_loki(self, name: str, since_ns: int) -> list[int]:
        """The n of every `held <n> ...` entry Loki holds for container `name`, once per entry, paged
        forward by timestamp; only the number is sent back (line_format), not the 2 KB lines."""
        query = f'{{container="{name}"}} | regexp "^held (?P<n>[0-9]+) " | line_format "{{{{.n}}}}"'
        end = time.time_ns() + 60 * 10**9
        start = since_ns
        seen: set[tuple[int, int]] = set()  # (timestamp, n) of the page boundary, fetched twice
        out: list[int] = []
        while True:
            params = urllib.parse.urlencode({"query": query, "start": str(start), "end": str(end),
                                             "limit": "5000", "direction": "forward"})
            r = h.http_get(self.loki.url + "/loki/api/v1/query_range?" + params, timeout=60)
            self.assertEqual(r.status, 200, r.text[:500])
            page = sorted((int(ts), int(line)) for stream in json.loads(r.text)["data"]["result"]
                          for ts, line, *_ in stream["values"])
            fresh = [entry for entry in page if entry not in seen]
            out.extend(n for _, n in fresh)
            if len(page) < 5000:
                return out
            last = page[-1][0]
            seen = {entry for entry in page if entry[0] == last}
            self.assertTrue(fresh, "a page of 5000 entries with one timestamp")
            start = last  # inclusive: entries sharing the last timestamp are fetched again, skipped

    def outage(self, agent: h.Agent, n: int) -> tuple[h.Container, int, float]:
        """Runs the writer, stops Loki for OUTAGE_S once lines flow, starts it again; returns the
        container, when it started (ns) and the peak of swarmwatch_log_held_bytes seen."""
        since = time.time_ns() - 10**9
        c = self.docker.run("held", "--log-driver", "json-file", "--log-opt", "max-size=1m",
                            "--log-opt", "max-file=3", cmd=seq_loop(n, "held", pad=PAD, pace=PACE))
        selector = f'{{container="{c.name}"}}'
        h.wait_until(lambda: self.loki.count(selector) >= 2000, 90, interval=1,
                     what=f"lines of {c.name} in Loki before the outage")
        self.loki.stop()
        peak = 0.0
        stop_at = time.monotonic() + OUTAGE_S
        while time.monotonic() < stop_at:
            peak = max(peak, agent.scrape().total("swarmwatch_log_held_bytes"))
            time.sleep(1)
        running = self.docker("inspect", "-f", "{{.State.Status}}", c.id) == "running"
        self.assertTrue(running, "the writer was still writing when Loki came back: make it longer")
        self.loki.start()
        h.wait_until(lambda: self.docker("inspect", "-f", "{{.State.Status}}", c.id) == "exited", 300,
                     interval=1, what=f"{c.name} to exit")
        agent.scrape_until(lambda s: s.total("swarmwatch_log_held_bytes") == 0 and
                           s.value("swarmwatch_log_read_ahead_bytes") == 0 and
                           s.total("swarmwatch_log_lag_bytes", container=c.name) == 0, 600,
                           what="the agent to read and ship everything")
        time.sleep(3)  # the last push acknowledged is queryable a moment later
        return c, since, peak

    def given_up(self, agent: h.Agent) -> list[tuple[str, int, int]]:
        """(path, bytes, lines) of every held file the agent gave up, from its log."""
        return [(m.group(1), int(m.group(2)), int(m.group(3)))
                for m in map(GIVEN_UP.search, agent.stderr_lines) if m]

    def test_every_line_written_through_a_60s_outage_arrives(self):
        n = 100000  # ~100 s at ~1,000 lines/s: before, through and after the outage
        agent = self.start_agent()
        c, since, peak = self.outage(agent, n)
        got = self.numbers_in_loki(c.name, since)
        counts: dict[int, int] = {}
        for x in got:
            counts[x] = counts.get(x, 0) + 1
        missing = [x for x in range(n) if x not in counts]
        duplicated = sum(k - 1 for k in counts.values())
        s = agent.scrape()
        print(f"\n60 s outage, held up to {peak / MiB:.1f} MiB: {len(got)} entries of {n} lines in Loki, "
              f"{len(missing)} missing, {duplicated} duplicated; "
              f"rotated away {s.value('swarmwatch_log_rotated_away_total'):.0f}")
        self.assertEqual(len(missing), 0, f"lines lost, first {missing[:10]}; agent:\n{agent.log(30)}")
        # Re-sent at most what was read and not yet acknowledged: the read-ahead's worth of lines.
        self.assertLessEqual(duplicated, 2 * MiB // PAD)
        self.assertGreater(peak, 20 * MiB, "the outage held rotated files (Docker deleted them meanwhile)")
        self.assertEqual(s.total("swarmwatch_log_dropped_bytes_total", reason="held_budget"), 0)
        self.assertEqual(self.given_up(agent), [])

    def test_over_a_20mib_budget_the_oldest_files_go_and_exactly_that_is_counted(self):
        n = 100000
        agent = self.start_agent("--held-logs-bytes", "20MiB")
        c, since, peak = self.outage(agent, n)
        got = set(self.numbers_in_loki(c.name, since))
        missing = [x for x in range(n) if x not in got]
        released = self.given_up(agent)
        mine = [(b, lines) for path, b, lines in released if c.id in path]
        s = agent.scrape()
        dropped_lines = s.total("swarmwatch_loki_entries_dropped_total", reason="held_budget")
        dropped_bytes = s.total("swarmwatch_log_dropped_bytes_total", reason="held_budget")
        print(f"\n60 s outage, budget 20 MiB, held up to {peak / MiB:.1f} MiB: {len(missing)} of {n} lines "
              f"missing; {len(mine)} files given up ({sum(lines for _, lines in mine)} lines, "
              f"{sum(b for b, _ in mine)} bytes); counted {dropped_lines:.0f} lines, {dropped_bytes:.0f} bytes")
        self.assertGreater(len(missing), 0, "a 60 s outage at 2 MB/s exceeds 20 MiB: lines were given up")
        self.assertLessEqual(peak, 20 * MiB, "the held bytes stayed within the budget")
        self.assertGreater(peak, 10 * MiB)
        self.assertEqual(len(missing), sum(lines for _, lines in mine),
                         "the lines missing in Loki are those of the files given up")
        self.assertEqual(dropped_lines, sum(lines for _, _, lines in released))
        self.assertEqual(dropped_bytes, sum(b for _, b, _ in released))
        # Each missing line took the bytes of its json-file record: the text, the stream, and a
        # timestamp of 20 to 30 characters.
        record = len(json.dumps({"log": f"held 0 {'x' * PAD}\n", "stream": "stdout", "time": ""},
                                separators=(",", ":"))) + 1
        digits = sum(len(str(x)) - 1 for x in missing)
        my_bytes = sum(b for b, _ in mine)
        self.assertGreaterEqual(my_bytes, len(missing) * (record + 20) + digits)
        self.assertLessEqual(my_bytes, len(missing) * (record + 30) + digits)
        # Given up whole files, oldest first: the gaps are runs, and everything after the outage is there.
        self.assertLessEqual(len(missing), (OUTAGE_S + 30) * 2 * MiB // (PAD + 80))
        self.assertEqual(s.value("swarmwatch_log_held_bytes"), 0)


if __name__ == "__main__":
    unittest.main()
