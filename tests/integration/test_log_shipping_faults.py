"""Log shipping under faults, against a real engine and the tests' Loki receiver: the agent killed
with SIGKILL in the middle of a flood (re-sent lines bounded by what was in flight), Loki down for
30 s then answering 429 for 10 s (nothing lost, read-ahead and RSS bounded), and a batch answered 400
(dropped, counted, shipping goes on).
"""

import os
import time
import unittest

import harness as h
from harness import MiB
from shipping import ShippingTest, numbers, seq_loop

KiB = 1024


class LogShippingFaultsTest(ShippingTest):
    def test_kill9_mid_flood_resends_at_most_what_was_in_flight(self):
        n = 400000
        read_ahead, batch = 1 * MiB, 128 * KiB
        flags = ("--read-ahead-bytes", "1MiB", "--loki-batch-bytes", "128KiB", "--loki-batch-wait", "200ms")
        first = self.start_agent(*flags)
        # ~20 s of flood: bursts of 2000 lines, 0.1 s apart (the agent must be killed mid-flood).
        c = self.run_container("kill9", ["sh", "-c", f'i=0; while [ $i -lt {n} ]; do echo "seq $i {"x" * 20}"; '
                                         'i=$((i+1)); [ $((i % 2000)) -eq 0 ] && busybox usleep 100000; done'])
        # Other containers on the engine ship too: count this container's lines, and let the
        # agent save its positions (at most once a second) before the kill.
        self.wait_count(c.name, 40000, 120, first)
        h.wait_until(lambda: c.id in h.read_positions(self.positions), 10, interval=0.1,
                     what="the positions file to hold the container")
        still_writing = self.docker("inspect", "-f", "{{.State.Status}}", c.id) == "running"
        os.kill(first.pid, 9)
        first.proc.wait(10)
        time.sleep(0.5)  # a push the receiver was reading when the agent died completes
        before = numbers(self.entries.of(c.name), "seq")
        self.assertEqual(len(before), len(set(before)), "before the kill: each line once")
        self.assertTrue(still_writing, "the container was still writing when the agent was killed")
        saved = h.read_positions(self.positions).get(c.id)
        self.assertIsNotNone(saved, "positions file has the container")

        # Lines up to the saved offset were acknowledged; the restarted agent resends from there.
        lines = h.json_file_lines(c.inspect()["LogPath"])
        ends = [end for _, end, _ in lines]
        committed = next((i + 1 for i, end in enumerate(ends) if end == saved["offset"]),
                         0 if saved["offset"] == 0 else None)
        self.assertIsNotNone(committed, f"saved offset {saved['offset']} is not at a line end")
        self.assertLessEqual(set(range(committed)), set(before), "an offset was committed past what Loki got")
        resent = len(before) - committed
        resent_bytes = (ends[max(before)] if before else 0) - saved["offset"]
        print(f"\nkill -9 after {len(before)} lines: saved offset at line {committed}; "
              f"{resent} lines ({resent_bytes} bytes of file) to be re-sent; bound "
              f"{read_ahead} bytes (read-ahead), batches of {batch}")

        self.entries.reset()  # a fresh store: re-sent lines are kept, not refused as out of order
        second = self.start_agent(*flags)
        self.wait_exited(c, 300)
        self.wait_count(c.name, n - committed, 180, second)
        self.settle(second)
        after = numbers(self.entries.of(c.name), "seq")
        self.assert_each_once(after, n, "after the restart: from the saved offset on", start=committed)
        self.assertLessEqual(resent_bytes, read_ahead,
                             f"{resent} re-sent lines ({resent_bytes} bytes) exceed the read-ahead bound "
                             f"({read_ahead} bytes): more than the batches in flight")
        self.assert_nothing_refused(second)

    def test_loki_down_30s_then_429_10s_nothing_lost_memory_bounded(self):
        n = 120000  # ~110 bytes a json-file line: ~13 MB, several times the read-ahead
        read_ahead = 2 * MiB
        agent = self.start_agent("--read-ahead-bytes", "2MiB", "--loki-batch-bytes", "256KiB")
        # Paced over about a minute (~2,000 lines/s) so that it goes on logging through the outage:
        # the agent reads faster than a container floods, and would otherwise be done before it.
        c = self.run_container("outage", seq_loop(n, "seq", pad=20, pace=(500, 0.25)))
        self.wait_count(c.name, 1000, 60, agent)
        rss_before = h.process_memory_kib(agent.pid)["VmRSS"]

        self.entries.refresh()
        kept = self.entries.of(c.name)
        samples = []

        def watch(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                s = agent.scrape()
                samples.append((s.value("swarmwatch_log_read_ahead_bytes"),
                                h.process_memory_kib(agent.pid)["VmRSS"]))
                time.sleep(0.5)

        self.receiver.down()
        watch(30)
        self.receiver.up()
        self.receiver.mode("429")
        self.entries.all = []
        # After 30 s away the agent's backoff may have reached its cap (30 s plus jitter), so its
        # next attempt can come after any fixed window: answer 429 until it has been refused, then
        # for 10 s more of retries against a Loki that sheds load.
        watch_until = time.monotonic() + 60
        while self.receiver.stats()["rejected"].get("429", 0) == 0 and time.monotonic() < watch_until:
            watch(1)
        watch(10)
        self.receiver.mode("ok")
        stats_429 = self.receiver.stats()["rejected"].get("429", 0)
        self.wait_exited(c, 120)
        try:
            # The backoff may have grown to its cap (30 s) while Loki was away.
            self.wait_count(c.name, n - len(kept), 420, agent)
        except AssertionError as e:
            sc = agent.scrape()
            raise AssertionError(f"{e}\nreceiver stats: {self.receiver.stats()}\nagent: retries "
                                 f"{sc.value('swarmwatch_loki_retries_total')}, sent "
                                 f"{sc.value('swarmwatch_loki_entries_sent_total')}, read "
                                 f"{sc.value('swarmwatch_log_lines_read_total')}, read-ahead "
                                 f"{sc.value('swarmwatch_log_read_ahead_bytes')}; read-ahead/RSS "
                                 f"samples during the outage: {samples[::4]}") from None
        # The receiver restarted, so its count no longer matches the agent's sent total (settle()):
        # wait for nothing to be held instead, then take what arrived.
        agent.scrape_until(lambda sc: sc.value("swarmwatch_log_read_ahead_bytes") == 0, 120,
                           what="the agent to hold nothing unacknowledged")
        self.entries.refresh()
        got = numbers(kept, "seq") + numbers(self.entries.of(c.name), "seq")
        # A push in flight when the receiver died may have been stored and is sent again.
        dups = len(got) - len(set(got))
        self.assertEqual(sorted(set(got)), list(range(n)), "every line arrived")
        max_batch_lines = 256 * KiB // len("seq 0 " + "x" * 20) + 1
        self.assertLessEqual(dups, max_batch_lines, "duplicates beyond the one batch in flight")

        peak_read_ahead = max(r for r, _ in samples)
        peak_rss = max(m for _, m in samples)
        print(f"\noutage: read-ahead peak {peak_read_ahead / MiB:.2f} MiB (bound 2 MiB); RSS "
              f"{rss_before / 1024:.1f} MiB before, peak {peak_rss / 1024:.1f} MiB; {dups} duplicates; "
              f"429 answers {stats_429}")
        self.assertLessEqual(peak_read_ahead, read_ahead)
        self.assertGreater(peak_read_ahead, read_ahead / 2, "the outage filled the read-ahead")
        # Lines held (read-ahead) plus their batch and encoded copy, plus allocator slack.
        self.assertLessEqual((peak_rss - rss_before) * 1024, 3 * read_ahead + 4 * MiB,
                             f"RSS grew from {rss_before} KiB to {peak_rss} KiB")
        self.assertGreater(stats_429, 0, "the agent pushed during the 429 phase")
        s = agent.scrape()
        self.assertGreater(s.value("swarmwatch_loki_retries_total"), 0)
        self.assertEqual(self.dropped(s, "rejected") + self.dropped(s, "retries_exhausted"), 0)

    def test_batch_answered_400_is_dropped_counted_and_shipping_continues(self):
        n = 20000  # ~20 bytes a line: ~6 batches of 64 KiB
        agent = self.start_agent("--loki-batch-bytes", "64KiB", "--read-ahead-bytes", "1MiB")
        before = self.settle(agent)
        others_before = len([e for e in self.entries.refresh()])
        self.receiver.mode("400", count=1)
        c = self.run_container("bad", seq_loop(n, "seq"))
        self.wait_exited(c)
        h.wait_until(lambda: self.receiver.stats()["rejected"].get("400", 0) == 1, 30,
                     what="one push answered 400")
        after = self.settle(agent)
        got = numbers(self.entries.of(c.name), "seq")
        missing = sorted(set(range(n)) - set(got))
        self.assertEqual(len(got), len(set(got)), "no line twice")
        # Not necessarily in order: a container found flooding after its first read has its first
        # lines in the shared lane's batch and the rest in the floods' lane, and the two lanes go
        # out in turn (Loki takes a stream's entries out of order; README, "Fair delivery").
        self.assertTrue(missing, "the refused batch held lines of the container")
        self.assertEqual(missing, list(range(missing[0], missing[-1] + 1)), "one contiguous batch lost")
        self.assertGreater(len(got), 0)
        self.assertIn(n - 1, got, "shipping continued after the refused batch")

        # Exact accounting: what was read = what was stored + what was dropped, for every container.
        read = (after.value("swarmwatch_log_lines_read_total") - before.value("swarmwatch_log_lines_read_total"))
        stored = len(self.entries.refresh()) - others_before
        dropped = self.dropped(after, "rejected") - self.dropped(before, "rejected")
        self.assertEqual(read, stored + dropped, f"read {read}, stored {stored}, dropped {dropped}")
        others_read = read - n
        others_stored = stored - len(got)
        self.assertEqual(dropped, len(missing) + (others_read - others_stored))
        self.assertEqual(self.dropped(after, "retries_exhausted"), 0)
        self.assertEqual(self.receiver.stats()["rejected"], {"400": 1})
        self.assertTrue([l for l in agent.stderr_lines if "rejected" in l], agent.log(20))


if __name__ == "__main__":
    unittest.main(verbosity=2)
