"""Shared pieces of the log shipping tests (test_log_shipping*.py, and those against the real Loki):
a fresh Loki receiver, positions file and agent per test, containers that print numbered lines,
reads of what arrived, and the set-ups of the real-Loki tests.

The engine is shared with other work: the agent ships every container it sees, so assertions are
made per container (by the `container` label), and global counters are checked with identities
that hold whatever else the engine runs.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import unittest
from pathlib import Path

import harness as h


def seq_loop(n: int, out: str = "seq", err: str | None = None, pad: int = 0, tail: str = "",
             pace: tuple[int, float] | None = None) -> list[str]:
    """A busybox command printing `<out> <i>` (and `<err> <i>` on stderr) for i in 0..n-1;
    with pace=(lines, seconds) it sleeps that long after every that many lines."""
    padding = (" " + "x" * pad) if pad else ""
    body = f'echo "{out} $i{padding}"; '
    if err:
        body += f'echo "{err} $i{padding}" >&2; '
    if pace:
        body += f'if [ $((i % {pace[0]})) -eq {pace[0] - 1} ]; then sleep {pace[1]}; fi; '
    script = f'i=0; while [ $i -lt {n} ]; do {body}i=$((i+1)); done{tail}'
    return ["sh", "-c", script]


def parse_docker_time_ns(s: str) -> int:
    """Docker's RFC 3339 time with nanoseconds -> Unix nanoseconds, exactly."""
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    assert m, s
    whole = int(h.parse_docker_time(m.group(1) + m.group(3)))
    frac = (m.group(2) or "").ljust(9, "0")[:9]
    return whole * 1_000_000_000 + int(frac)


def numbers(entries: list[dict], prefix: str, stream: str | None = None) -> list[int]:
    """The i of each `<prefix> <i>...` line, in arrival order."""
    out = []
    for e in entries:
        if stream and e["labels"].get("stream") != stream:
            continue
        parts = e["line"].split()
        if len(parts) >= 2 and parts[0] == prefix:
            out.append(int(parts[1]))
    return out


class Entries:
    """What the receiver accepted, fetched incrementally (the list can get long)."""

    def __init__(self, receiver: h.LokiReceiver):
        self.receiver = receiver
        self.all: list[dict] = []

    def refresh(self) -> list[dict]:
        self.all.extend(self.receiver.entries(offset=len(self.all)))
        return self.all

    def reset(self) -> None:
        self.receiver.reset()
        self.all = []

    def of(self, container: str) -> list[dict]:
        self.refresh()
        return [e for e in self.all if e["labels"].get("container") == container]


class ShippingTest(unittest.TestCase):
    """A fresh receiver, temp dir and positions file per test; agents started by start_agent()."""

    @classmethod
    def setUpClass(cls):
        h.ensure_engine()
        cls.node = h.docker("info", "--format", "{{.Name}}")

    def setUp(self):
        self.docker = h.Docker()
        self.addCleanup(self.docker.close)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-ship-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.positions = self.dir / "positions.json"
        self.receiver = h.LokiReceiver()
        self.addCleanup(self.receiver.stop)
        self.entries = Entries(self.receiver)

    def start_agent(self, *extra: str) -> h.Agent:
        agent = h.Agent(*h.shipping_args(self.receiver, self.positions, "--log-level", "info", *extra))
        self.addCleanup(agent.kill)
        agent.wait_ready(60)
        return agent

    def run_container(self, kind: str, cmd: list[str], *args: str) -> h.Container:
        return self.docker.run(kind, *args, cmd=cmd)

    def wait_exited(self, c: h.Container, timeout: float = 120) -> None:
        h.wait_until(lambda: self.docker("inspect", "-f", "{{.State.Status}}", c.id) == "exited",
                     timeout, interval=0.5, what=f"{c.name} to exit")

    def wait_count(self, name: str, n: int, timeout: float, agent: h.Agent | None = None) -> list[dict]:
        """Waits until `n` entries of container `name` arrived; returns them."""
        def enough():
            got = self.entries.of(name)
            return got if len(got) >= n else None
        try:
            return h.wait_until(enough, timeout, interval=0.5, what=f"{n} entries of {name}")
        except AssertionError as e:
            detail = f"; got {len(self.entries.of(name))}"
            if agent is not None:
                detail += f"; agent stderr:\n{agent.log(30)}"
            raise AssertionError(str(e) + detail) from None

    def settle(self, agent: h.Agent, timeout: float = 60) -> h.Scrape:
        """Waits until the agent holds nothing read and unacknowledged, and the receiver has
        everything the agent counts as sent (pushes acknowledged = entries stored)."""
        def quiet(s: h.Scrape):
            if s.value("swarmwatch_log_read_ahead_bytes") != 0:
                return False
            sent = s.value("swarmwatch_loki_entries_sent_total")
            return sent == self.receiver.stats()["entries"]
        scrape = agent.scrape_until(quiet, timeout, what="the agent to settle (read-ahead 0, receiver = sent)")
        time.sleep(1.5)  # a line written just now is picked up within the batch wait
        return agent.scrape_until(quiet, timeout, what="the agent to settle again")

    def dropped(self, scrape: h.Scrape, reason: str) -> float:
        return scrape.total("swarmwatch_loki_entries_dropped_total", reason=reason)

    def assert_nothing_refused(self, agent: h.Agent) -> None:
        """No push was refused by the receiver and the agent dropped nothing."""
        stats = self.receiver.stats()
        self.assertNotIn("400", stats["rejected"], f"receiver refused pushes: {stats}; agent:\n{agent.log(20)}")
        s = agent.scrape()
        self.assertEqual(self.dropped(s, "rejected") + self.dropped(s, "retries_exhausted"), 0,
                         f"agent dropped entries; stderr:\n{agent.log(20)}")

    def assert_each_once(self, got: list[int], n: int, what: str, start: int = 0) -> None:
        """Every number of [start, n) exactly once, in any order: a container that floods changes
        lanes (into the floods' lane, and back once it has been quiet 5 s), and a batch of one lane
        can reach Loki before an earlier one of the other (README, "Fair delivery")."""
        if sorted(got) != list(range(start, n)):
            self.assert_once_in_order(got, n, what, start)

    def assert_once_in_order(self, got: list[int], n: int, what: str, start: int = 0) -> None:
        """Every number of [start, n) exactly once and in order: for a container that never
        floods (its lines stay in one lane)."""
        expected = list(range(start, n))
        if got == expected:
            return
        seen: dict[int, int] = {}
        for x in got:
            seen[x] = seen.get(x, 0) + 1
        missing = [x for x in expected if x not in seen]
        dups = sorted(x for x, k in seen.items() if k > 1)
        disorder = next((i for i in range(1, len(got)) if got[i] < got[i - 1]), None)
        self.fail(f"{what}: {len(got)} lines for {len(expected)} expected; missing {len(missing)} "
                  f"(first {missing[:10]}), duplicated {len(dups)} (first {dups[:10]}), first out of "
                  f"order at index {disorder}")


class RealLokiTestCase(unittest.TestCase):
    """The real Loki of ../shared/tools/loki for the class (skipped, saying why, without it), the
    host's engine, and a scratch directory per test named after `scratch`."""

    scratch = "loki"

    @classmethod
    def setUpClass(cls):
        h.ensure_engine()
        cls.loki = h.RealLoki()
        cls.addClassCleanup(cls.loki.close)

    def setUp(self):
        self.docker = h.Docker()
        self.addCleanup(self.docker.close)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-{self.scratch}-"))
        self.addCleanup(shutil.rmtree, self.dir, True)


class PrivateEngineLokiTestCase(unittest.TestCase):
    """A real Loki and a dockerd of the test's own for each test (nothing else the host's engine
    runs feeds the agent or Loki's limits; the engine can be restarted), and a scratch directory
    named after `scratch`."""

    scratch = "loki"

    def setUp(self):
        self.loki = h.RealLoki()
        self.addCleanup(self.loki.close)
        self.engine = h.PrivateEngine()
        self.addCleanup(self.engine.close)
        self.engine.start()
        self.docker = h.Docker(self.engine.host)
        self.addCleanup(self.docker.close)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-{self.scratch}-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
