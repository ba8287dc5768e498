"""The Right-sizing dashboard's arithmetic, to the number: its verdicts, suggestions, headroom,
per-node reservations and cluster totals (dashboards/right-sizing.json, variables substituted as
Grafana does for All) evaluated by a real PromQL engine (promtool's rule tests) on series shaped
as the stack's recording rules and the managers' agents write them, with exact expected values.

The suggestion rule it pins (dashboards/generate.py, the same as `swarmwatch rightsize`'s): per
task, reservation = p95 x 1.2 and limit = max x 1.5 of the busiest task over 7 days, CPU rounded
up to 0.01 core and memory up to a power-of-two MiB step of at most 1/16, never below 0.01 core and
16 MiB, a limit never below its reservation; starved = throttled in more than 5% of the CFS
periods, or an OOM kill, or a working set peak above 90% of the memory limit, and then the starved
resource's limit is at least 1.5 x the current one; over-reserved = a reservation above 1.5 x its
suggestion by more than 0.05 core or 32 MiB; under-reserved = a reservation missing or below its
suggestion / 1.5 by as much; fits otherwise. The expected figures are what agent/rightsize_rule's
Suggest() returns for the same usage (tests/unit/rightsize_rule_test.cpp pins that side).

Needs promtool only (the prometheus package). test_dashboards_data.py runs the same queries
against a Prometheus scraping a real agent on a real Swarm, for data rather than figures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import dashboard_harness as dh

FILE = "right-sizing.json"
MiB = 1024 * 1024
STACK = "shop"
MANAGERS = ("swe2e-manager", "swe2e-manager2")  # every manager's agent exports the Swarm figures


class Service:
    def __init__(self, name: str, cpu: tuple[float, float], mem: tuple[int, int],
                 reserve: tuple[float | None, int | None] = (None, None),
                 limit: tuple[float | None, int | None] = (None, None),
                 throttled: float | None = None, oom_kills: int = 0,
                 tasks: tuple[str, ...] = (), now: tuple[float, int] | None = None,
                 exists: bool = True, stack: str | None = STACK):
        self.name, self.stack = name, stack
        self.cpu_p95, self.cpu_max = cpu
        self.mem_p95, self.mem_max = mem
        self.reserve, self.limit = reserve, limit
        self.throttled, self.oom_kills = throttled, oom_kills
        self.tasks, self.now, self.exists = tasks, now, exists

    @property
    def labels(self) -> str:
        stack = f', stack="{self.stack}"' if self.stack else ""
        return f'{{service="{self.name}"{stack}}}'

    def with_labels(self, extra: str) -> str:
        return self.labels[:-1] + ", " + extra + "}"


# One service per case the rule tells apart. `tasks`: the nodes of its running tasks; `now`: its
# cores and working set now, all tasks (for the cluster's reserved-but-unused).
SERVICES = [
    # Idle and reserving much: every suggestion at its floor, over-reserved.
    Service("shop_idle", (0.001, 0.002), (2 * MiB, 3 * MiB), reserve=(0.5, 256 * MiB),
            tasks=("n2",), now=(0.001, 2 * MiB)),
    # The issue's case: 256 MiB reserved, 20 MiB held: 24 MiB suggested.
    Service("shop_web", (0.1, 0.2), (20 * MiB, 20 * MiB), reserve=(0.12, 256 * MiB),
            tasks=("n1", "n1", "n2"), now=(0.3, 60 * MiB)),
    # Burns its whole 0.2-core limit, throttled: starved, a limit above 0.2 suggested (0.2 x 1.5
    # is 0.30000000000000004 in floating point: 0.3, not 0.31; so are 0.1 x 1.5 and 0.4 x 1.5).
    Service("shop_burn", (0.2, 0.2), (8 * MiB, 8 * MiB), limit=(0.2, None), throttled=0.6,
            tasks=("n1",), now=(0.2, 8 * MiB)),
    # A process OOM-killed (its peak 100 MiB of 128 MiB is under 90%): starved by the kill.
    Service("shop_oom", (0.05, 0.1), (100 * MiB, 100 * MiB), limit=(None, 128 * MiB), oom_kills=1),
    # A peak of 60 MiB under a 64 MiB limit (94%), with a CPU limit it never hits: starved.
    Service("shop_near", (0.05, 0.05), (50 * MiB, 60 * MiB), limit=(1.0, 64 * MiB), throttled=0.0),
    # Reserves a little above its suggestion, and uses more CPU than it reserves right now
    # (adds nothing to the reserved-but-unused total, rather than taking from it): fits.
    Service("shop_fits", (0.25, 0.4), (100 * MiB, 150 * MiB), reserve=(0.3, 128 * MiB),
            tasks=("n1",), now=(0.35, 110 * MiB)),
    # Bursty, reserving nothing where it needs 0.06 core and 36 MiB: under-reserved. Its 300 MiB
    # limit rounds to 304 MiB (16 MiB steps above 256 MiB).
    Service("shop_bursty", (0.05, 1.0), (30 * MiB, 200 * MiB)),
    # Reserves a tenth of what it uses: under-reserved.
    Service("shop_under", (0.5, 0.6), (200 * MiB, 220 * MiB), reserve=(0.05, 32 * MiB)),
    # Reserves 5x its suggestion in CPU and 3x in memory, but by no more than 0.04 core and
    # 32 MiB: not worth an update, fits.
    Service("shop_small", (0.001, 0.002), (4 * MiB, 4 * MiB), reserve=(0.05, 48 * MiB)),
    # Throttled while its 5-minute rates read below its 0.2-core limit: the suggested limit is
    # 1.5 x the current one (0.3), not 1.5 x the max read (0.18).
    Service("shop_spiky", (0.1, 0.12), (20 * MiB, 20 * MiB), limit=(0.2, None), throttled=0.3),
    # Outside any stack (no stack label anywhere).
    Service("adhoc", (0.01, 0.01), (10 * MiB, 10 * MiB), stack=None),
    # Removed from the Swarm days ago: its week of usage is still recorded, but it is not listed.
    Service("shop_old", (0.5, 0.5), (500 * MiB, 500 * MiB), reserve=(2.0, 1024 * MiB), exists=False),
]

# Per service: the expected row of each table column (panel, refId); absent = no value.
EXPECTED = {
    ("Verdict and suggestion", "A"): {  # 0 fits, 1 under-reserved, 2 over-reserved, 3 starved
        "shop_idle": 2, "shop_web": 2, "shop_burn": 3, "shop_oom": 3, "shop_near": 3,
        "shop_fits": 0, "shop_bursty": 1, "shop_under": 1, "shop_small": 0, "shop_spiky": 3,
        "adhoc": 0},
    ("Verdict and suggestion", "B"): {  # reserve CPU
        "shop_idle": 0.01, "shop_web": 0.12, "shop_burn": 0.24, "shop_oom": 0.06, "shop_near": 0.06,
        "shop_fits": 0.3, "shop_bursty": 0.06, "shop_under": 0.6, "shop_small": 0.01,
        "shop_spiky": 0.12, "adhoc": 0.02},
    ("Verdict and suggestion", "C"): {  # limit CPU: burn's and spiky's raised to 1.5 x 0.2
        "shop_idle": 0.01, "shop_web": 0.3, "shop_burn": 0.3, "shop_oom": 0.15, "shop_near": 0.08,
        "shop_fits": 0.6, "shop_bursty": 1.5, "shop_under": 0.9, "shop_small": 0.01,
        "shop_spiky": 0.3, "adhoc": 0.02},
    ("Verdict and suggestion", "D"): {  # reserve memory: 120 MiB is 30 steps of 4 MiB
        "shop_idle": 16 * MiB, "shop_web": 24 * MiB, "shop_burn": 16 * MiB, "shop_oom": 120 * MiB,
        "shop_near": 60 * MiB, "shop_fits": 120 * MiB, "shop_bursty": 36 * MiB,
        "shop_under": 240 * MiB, "shop_small": 16 * MiB, "shop_spiky": 24 * MiB, "adhoc": 16 * MiB},
    ("Verdict and suggestion", "E"): {  # limit memory: oom's and near's raised to 1.5 x theirs
        "shop_idle": 16 * MiB, "shop_web": 30 * MiB, "shop_burn": 16 * MiB, "shop_oom": 192 * MiB,
        "shop_near": 96 * MiB, "shop_fits": 232 * MiB, "shop_bursty": 304 * MiB,
        "shop_under": 336 * MiB, "shop_small": 16 * MiB, "shop_spiky": 30 * MiB, "adhoc": 16 * MiB},
    ("Verdict and suggestion", "F"): {"shop_burn": 0.6, "shop_near": 0, "shop_spiky": 0.3},
    ("Verdict and suggestion", "G"): {  # OOM kills
        "shop_idle": 0, "shop_web": 0, "shop_burn": 0, "shop_oom": 1, "shop_near": 0,
        "shop_fits": 0, "shop_bursty": 0, "shop_under": 0, "shop_small": 0, "shop_spiky": 0,
        "adhoc": 0},
    ("CPU per task (cores)", "D"): {"shop_idle": 0.5, "shop_web": 0.12, "shop_fits": 0.3,
                                    "shop_under": 0.05, "shop_small": 0.05},
    ("CPU per task (cores)", "E"): {"shop_burn": 0.2, "shop_near": 1.0, "shop_spiky": 0.2},
    ("CPU per task (cores)", "F"): {"shop_idle": 0.499, "shop_web": 0.02, "shop_fits": 0.05,
                                    "shop_under": -0.45, "shop_small": 0.049},
    ("CPU per task (cores)", "G"): {"shop_burn": 0, "shop_near": 0.95, "shop_spiky": 0.08},
    ("Memory per task", "F"): {"shop_idle": 254 * MiB, "shop_web": 236 * MiB, "shop_fits": 28 * MiB,
                               "shop_under": -168 * MiB, "shop_small": 44 * MiB},
    ("Memory per task", "G"): {"shop_oom": 28 * MiB, "shop_near": 4 * MiB},
}
# Per node: tasks x their service's reservation (n1: 2 web + burn (none) + fits; n2: web + idle).
EXPECTED_NODES = {
    ("Nodes", "B"): {"n1": 0.54, "n2": 0.62},
    ("Nodes", "E"): {"n1": 640 * MiB, "n2": 512 * MiB},
}
# Cluster: idle 0.5 - 0.001 and web 3 x 0.12 - 0.3 unused (fits is short: 0, not -0.05); the
# suggestions free idle's 0.5 - 0.01 (web and fits are at theirs). Memory: 254 + 708 + 18 MiB;
# freed 240 + 3 x 232 + 8 MiB.
EXPECTED_CLUSTER = {
    ("CPU reserved but unused", "A"): 0.559,
    ("Memory reserved but unused", "A"): 980 * MiB,
    ("CPU the suggestions free", "A"): 0.49,
    ("Memory the suggestions free", "A"): 944 * MiB,
}


def input_series() -> list[dict]:
    out = []

    def add(name: str, labels: str, value) -> None:
        out.append({"series": name + labels, "values": f"{value}x10"})

    for s in SERVICES:
        for op in ("p95", "p99"):
            add(f"service:container_cpu_usage_seconds:{op}_7d_max_rate5m", s.labels, s.cpu_p95)
            add(f"service:container_memory_working_set_bytes:{op}_7d_max1m", s.labels, s.mem_p95)
        add("service:container_cpu_usage_seconds:max_7d_max_rate5m", s.labels, s.cpu_max)
        add("service:container_memory_working_set_bytes:max_7d_max1m", s.labels, s.mem_max)
        if s.throttled is not None:
            add("service:container_cpu_cfs_throttled_periods:ratio_rate7d", s.labels, s.throttled)
        add("service:container_oom_events:increase7d", s.labels, s.oom_kills)
        for i, node in enumerate(s.tasks):
            task = f'node="{node}", task="{s.name}.{i + 1}.t{i}"'
            add("task:container_memory_working_set_bytes:max1m", s.with_labels(task), 10 * MiB)
        if s.now:
            add("service:container_cpu_usage_seconds:rate5m", s.labels, s.now[0])
            add("service:container_memory_working_set_bytes:sum", s.labels, s.now[1])
        if not s.exists:
            continue
        for manager in MANAGERS:
            target = f'instance="{manager}", job="swarmwatch", node="{manager}"'
            add("swarm_service_desired_tasks", s.with_labels(target + ', mode="replicated"'),
                max(1, len(s.tasks)))
            for metric, value in (("swarm_service_reservation_cpu_cores", s.reserve[0]),
                                  ("swarm_service_reservation_memory_bytes", s.reserve[1]),
                                  ("swarm_service_limit_cpu_cores", s.limit[0]),
                                  ("swarm_service_limit_memory_bytes", s.limit[1])):
                if value is not None:  # absent where unset, as the agent exports them
                    add(metric, s.with_labels(target), value)
    return out


def check(expr: str, expected: list[tuple[str, float]]) -> dict:
    # Rounded to a millionth: sums and differences of decimal fractions are exact only to a bit
    # or two; the suggestions' own rounding is exact (0.12 vs 0.13 is far above that).
    return {"expr": f"round({expr}, 0.000001)", "eval_time": "5m",
            "exp_samples": [{"labels": labels, "value": value} for labels, value in expected]}


class RightSizingArithmeticTest(unittest.TestCase):
    def setUp(self):
        if not shutil.which("promtool"):
            self.skipTest("promtool not installed (scripts/install-deps --test: the prometheus package)")
        self.dashboard = dh.load()[FILE]
        self.queries = {(q.panel, q.ref): q.expr for q in dh.queries({FILE: self.dashboard})}
        self.by_name = {s.name: s for s in SERVICES}

    def expr(self, key: tuple[str, str]) -> str:
        return dh.substitute(self.queries[key], self.dashboard, {}, dh.Time())

    def cases(self) -> list[dict]:
        out = []
        for key, rows in EXPECTED.items():
            out.append(check(self.expr(key), [(self.by_name[n].labels, v) for n, v in rows.items()]))
        for key, rows in EXPECTED_NODES.items():
            out.append(check(self.expr(key), [(f'{{node="{n}"}}', v) for n, v in rows.items()]))
        for key, value in EXPECTED_CLUSTER.items():
            out.append(check(self.expr(key), [("{}", value)]))
        return out

    def test_tables_and_totals_have_the_expected_figures(self):
        with tempfile.TemporaryDirectory(prefix="swrs-") as tmp:
            rules = Path(tmp) / "none.yml"
            rules.write_text("groups: []\n")
            spec = Path(tmp) / "rightsizing.test.yml"
            # promtool reads YAML, of which JSON is a subset.
            spec.write_text(json.dumps({
                "rule_files": [str(rules)], "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": input_series(),
                           "promql_expr_test": self.cases()}]}, indent=1))
            p = subprocess.run(["promtool", "test", "rules", str(spec)], capture_output=True,
                               text=True, timeout=120)
        self.assertEqual(p.returncode, 0, f"promtool:\n{p.stdout[-8000:]}\n{p.stderr[-2000:]}")
        self.assertIn("SUCCESS", p.stdout)

    def test_every_case_is_checked(self):
        """Each service the rule tells apart is in the verdict table's expectations, and each
        column of the three per-service tables that the dashboard computes (not a plain copy of a
        series) is checked."""
        verdicts = EXPECTED[("Verdict and suggestion", "A")]
        self.assertEqual(set(verdicts), {s.name for s in SERVICES if s.exists})
        self.assertEqual(set(verdicts.values()), {0, 1, 2, 3})
        for ref in "ABCDEFG":
            self.assertIn(("Verdict and suggestion", ref), EXPECTED)
        for panel in ("CPU per task (cores)", "Memory per task"):
            for ref in "FG":
                self.assertIn((panel, ref), EXPECTED)


if __name__ == "__main__":
    unittest.main(verbosity=2)
