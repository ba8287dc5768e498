"""Log shipping from damaged or hostile state, against a real engine and the tests' Loki receiver: a
Docker label that is not UTF-8 in a Loki label (Loki refuses U+FFFD there).
"""

import unittest

from shipping import ShippingTest, seq_loop


class LogShippingDamageTest(ShippingTest):
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
