"""Log shipping from damaged or hostile state, against a real engine and the tests' Loki receiver:
lines of a json-file log that do not decode (shipped as UTF-8 in pieces within max_line_bytes), and
a Docker label that is not UTF-8 in a Loki label (Loki refuses U+FFFD there).
"""

import datetime
import json
import unittest

from shipping import ShippingTest, seq_loop

MAX_LINE_BYTES = 256 * 1024  # the agent's default --max-line-bytes, Loki's default max_line_size


class LogShippingDamageTest(ShippingTest):
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
