"""Log shipping from damaged or hostile state, against a real engine and the tests' Loki receiver: a
positions file with one bad entry (the other containers keep their positions), a positions file
that cannot be written (/ready 503, counted, logged once, over when it can be written again), lines
of a json-file log that do not decode (shipped as UTF-8 in pieces within max_line_bytes), and a
Docker label that is not UTF-8 in a Loki label (Loki refuses U+FFFD there).
"""

import datetime
import json
import shutil
import unittest

import harness as h
from shipping import ShippingTest, numbers, seq_loop

MAX_LINE_BYTES = 256 * 1024  # the agent's default --max-line-bytes, Loki's default max_line_size


class LogShippingDamageTest(ShippingTest):
    def test_a_bad_positions_entry_keeps_the_other_containers_positions(self):
        n = 300
        script = ('k=$(cat /runs 2>/dev/null || echo 0); echo $((k+1)) > /runs; i=0; '
                  f'while [ $i -lt {n} ]; do echo "run$k $i"; i=$((i+1)); done')
        first = self.start_agent()
        kept = self.run_container("kept", ["sh", "-c", script])
        bad = self.run_container("bad", ["sh", "-c", script])
        for c in (kept, bad):
            self.wait_exited(c)
            self.wait_count(c.name, n, 60, first)
        self.settle(first)
        self.assertEqual(first.stop(), 0, first.log(20))
        doc = json.loads(self.positions.read_text())
        self.assertIn(kept.id, doc["positions"])
        # One entry damaged: an offset of 2^64, which is no uint64 (JSON reads it as a float).
        doc["positions"][bad.id]["offset"] = 2 ** 64
        self.positions.write_text(json.dumps(doc))

        # While no agent runs, both containers write again; a new receiver store shows re-sends.
        for c in (kept, bad):
            self.docker("start", c.name)
        for c in (kept, bad):
            self.wait_exited(c)
        self.entries.reset()
        second = self.start_agent()
        self.wait_count(kept.name, n, 60, second)
        self.wait_count(bad.name, n, 60, second)
        control = self.run_container("control", seq_loop(50, "seq"))
        self.wait_count(control.name, 50, 60, second)
        self.settle(second)
        got = self.entries.of(kept.name)
        self.assertEqual(numbers(got, "run0"), [], "history re-sent: the good entry was lost")
        self.assert_once_in_order(numbers(got, "run1"), n, "lines written while no agent ran")
        # The damaged one starts as a container seen the first time (start_position beginning).
        self.assert_once_in_order(numbers(self.entries.of(bad.name), "run1"), n,
                                  "the damaged entry's container, second run")
        warned = [line for line in second.stderr_lines if bad.id in line and "skipped" in line]
        self.assertEqual(len(warned), 1, second.log(30))
        self.assertEqual(list(self.dir.glob("positions.json.corrupt-*")), [], "file set aside")
        self.assert_nothing_refused(second)

    def test_an_unwritable_positions_file_makes_ready_503_is_counted_and_logged_once(self):
        state = self.dir / "state"
        state.mkdir()
        positions = state / "positions.json"
        agent = h.Agent(*h.shipping_args(self.receiver, positions, "--log-level", "info",
                                         "--loki-batch-wait", "100ms"))
        self.addCleanup(agent.kill)
        agent.wait_ready(60)
        c = self.run_container("first", seq_loop(5, "first"))
        self.wait_count(c.name, 5, 60, agent)
        h.wait_until(lambda: c.id in h.read_positions(positions), 10, what="a first save")

        # The directory becomes a file: no save can work, as root too (unlike a read-only mode).
        shutil.rmtree(state)
        state.write_text("not a directory\n")
        w = self.run_container("writer", seq_loop(20, "w", pace=(1, 0.25)))  # ~20 batches
        self.wait_exited(w)
        self.wait_count(w.name, 20, 60, agent)
        ready = agent.get("/ready")
        self.assertEqual(ready.status, 503, ready.text)
        self.assertIn("cannot save log positions", ready.text)
        self.assertIn(str(positions), ready.text)
        errors = agent.scrape().value("swarmwatch_positions_save_errors_total")
        self.assertGreaterEqual(errors, 5)
        self.assertIn('id="positions-error"', agent.get("/").text)
        reports = [line for line in agent.stderr_lines if "cannot save positions" in line]
        self.assertEqual(len(reports), 1, agent.log(40))

        # Repaired: saves are tried every second, batches or not; /ready is 200 again at once.
        state.unlink()
        state.mkdir()
        h.wait_until(lambda: agent.get("/ready").status == 200, 10, what="/ready 200 again")
        self.assertIn(w.id, h.read_positions(positions))
        self.assertEqual(len([line for line in agent.stderr_lines if "positions saved to" in line]),
                         1, agent.log(40))
        self.assertEqual(len([line for line in agent.stderr_lines
                              if "cannot save positions" in line]), 1, agent.log(40))
        self.assert_nothing_refused(agent)

    def test_an_undecodable_line_ships_in_pieces_within_max_line_bytes_not_tripled(self):
        agent = self.start_agent()
        c = self.run_container("garbage", ["sh", "-c", "echo before"])
        self.wait_exited(c)
        self.wait_count(c.name, 1, 60, agent)
        before = agent.scrape().value("swarmwatch_log_decode_errors_total")
        # What Docker never writes, appended to the stopped container's log: 300,000 NUL bytes (a
        # tail zeroed by a crash) and 3,000 bytes 0xFF, each ended by '\n'; then a line as Docker
        # writes one.
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with open(c.inspect()["LogPath"], "ab") as log:
            log.write(b"\0" * 300000 + b"\n" + b"\xff" * 3000 + b"\n")
            log.write(json.dumps({"log": "after\n", "stream": "stdout", "time": now}).encode() + b"\n")
        # "before", the NUL line in 3 pieces (read as 263,168 + 36,832 bytes; the first cut at
        # 262,144), one U+FFFD, "after".
        self.wait_count(c.name, 6, 60, agent)
        self.settle(agent)
        lines = [e["line"] for e in self.entries.of(c.name)]
        self.assertEqual(lines[0], "before")
        self.assertEqual(lines[-1], "after")
        middle = lines[1:-1]
        for line in middle:
            self.assertLessEqual(len(line.encode()), MAX_LINE_BYTES)
        self.assertEqual(sum(len(line) for line in middle if set(line) == {"\0"}), 300000)
        self.assertEqual(middle[-1], "\ufffd", "3,000 bytes 0xFF: one U+FFFD, not 9,000 bytes")
        self.assertEqual(len(middle), 4, [len(line) for line in middle])
        after = agent.scrape().value("swarmwatch_log_decode_errors_total")
        self.assertEqual(after - before, 3)  # two reads of the NUL line, one of the 0xFF line
        self.assert_nothing_refused(agent)

    def test_a_label_that_is_not_utf8_reaches_loki_as_a_label_loki_takes(self):
        agent = self.start_agent()
        # Docker's client encodes the label as JSON: the 0xFF byte becomes U+FFFD, which Loki
        # refuses in a stream label ("parse error: invalid UTF-8 rune"; the receiver does too).
        stack = "\udcff\"x\\"  # surrogateescape: the argument's bytes are 0xFF '"' 'x' '\'
        c = self.run_container("label", seq_loop(20, "lab"), "--label",
                               f"com.docker.stack.namespace={stack}")
        self.assertEqual(c.inspect()["Config"]["Labels"]["com.docker.stack.namespace"],
                         "\ufffd\"x\\")
        got = self.wait_count(c.name, 20, 60, agent)
        self.assertEqual({e["labels"]["swarm_stack"] for e in got}, {"?\"x\\"})
        self.assert_nothing_refused(agent)


if __name__ == "__main__":
    unittest.main(verbosity=2)
