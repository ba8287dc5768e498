"""The stack's rules and their promtool tests stay in step: each rule group of
stack/prometheus/alerts.yml has tests/rules/<group>.test.yml, each alert there is expected to fire
in one case and expected silent in another, each recording rule is queried, and each alert says
how bad it is and what happened. promtool runs the test files (ctest rules.<group>); this checks
that a rule added without tests, or a test file left for a group that is gone, does not pass
unnoticed."""
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "stack" / "prometheus" / "alerts.yml"
TESTS = Path(__file__).resolve().parent


class RulesCoverage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.groups = {g["name"]: g for g in yaml.safe_load(ALERTS.read_text())["groups"]}
        cls.test_files = {p.name[:-len(".test.yml")]: yaml.safe_load(p.read_text())
                          for p in TESTS.glob("*.test.yml")}

    def test_one_test_file_per_group(self):
        self.assertEqual(sorted(self.groups), sorted(self.test_files),
                         "tests/rules/<group>.test.yml for each group of alerts.yml, and no other")

    def test_test_files_load_the_stack_rules(self):
        for name, doc in self.test_files.items():
            files = [(TESTS / f).resolve() for f in doc.get("rule_files", [])]
            self.assertEqual(files, [ALERTS], f"{name}.test.yml loads stack/prometheus/alerts.yml")

    def test_every_alert_fires_in_one_case_and_not_in_another(self):
        for group, spec in self.groups.items():
            cases = [c for t in self.test_files.get(group, {}).get("tests", [])
                     for c in t.get("alert_rule_test", [])]
            for rule in spec["rules"]:
                if "alert" not in rule:
                    continue
                name = rule["alert"]
                mine = [c for c in cases if c["alertname"] == name]
                self.assertTrue([c for c in mine if c.get("exp_alerts")],
                                f"{group}.test.yml has a case where {name} fires")
                self.assertTrue([c for c in mine if not c.get("exp_alerts")],
                                f"{group}.test.yml has a case where {name} does not fire")

    def test_every_recording_rule_is_queried(self):
        for group, spec in self.groups.items():
            exprs = " ".join(c["expr"] for t in self.test_files.get(group, {}).get("tests", [])
                             for c in t.get("promql_expr_test", []))
            for rule in spec["rules"]:
                if "record" in rule:
                    self.assertIn(rule["record"], exprs, f"{group}.test.yml queries {rule['record']}")

    def test_every_alert_has_a_severity_and_says_what_happened(self):
        names = []
        for spec in self.groups.values():
            for rule in spec["rules"]:
                if "alert" not in rule:
                    continue
                names.append(rule["alert"])
                self.assertIn(rule.get("labels", {}).get("severity"), ("critical", "warning"), rule["alert"])
                for key in ("summary", "description"):
                    self.assertTrue(rule.get("annotations", {}).get(key), f"{rule['alert']} has a {key}")
        self.assertEqual(len(names), len(set(names)), "alert names are unique")


if __name__ == "__main__":
    unittest.main(verbosity=2)
