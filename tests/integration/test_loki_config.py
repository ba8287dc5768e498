"""The stack's Loki configuration (stack/loki/loki.yml) as the real Loki 3.4.6 reads it (issue 21):
Loki accepts the file, loads every key as written, and its retention as configured deletes old
chunks. The e2e cannot wait for a deletion (the compactor deletes 2 hours after marking, and a
chunk must first be 31 days old), so retention is checked here on the values Loki loaded, against
the rules of Loki's retention documentation that `-verify-config` does not check. Needs the real
Loki of ../shared/tools/loki (skipped, saying so, without it); takes a few seconds."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import yaml

import harness as h
import loki_config as lc


class StackLokiConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = h.real_loki_missing()
        if missing:
            raise unittest.SkipTest(missing)
        cls.dir = Path(tempfile.mkdtemp(prefix="swit-loki-config-"))
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.binary = cls.dir / "loki"
        with gzip.open(h.LOKI_TOOLS / "loki-3.4.6-linux-amd64.gz") as src, open(cls.binary, "wb") as dst:
            shutil.copyfileobj(src, dst)
        cls.binary.chmod(0o755)
        p = cls.loki(lc.STACK_LOKI_CONFIG, "-print-config-stderr")
        assert p.returncode == 0, p.stderr[-2000:]
        cls.loaded = lc.loaded_config(p.stderr)

    @classmethod
    def loki(cls, config: Path, *flags: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(cls.binary), f"-config.file={config}", "-verify-config", *flags],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)

    def variant(self, old: str, new: str) -> Path:
        text = lc.STACK_LOKI_CONFIG.read_text()
        self.assertIn(old, text)
        path = self.dir / "variant.yml"
        path.write_text(text.replace(old, new, 1))
        return path

    def test_loki_accepts_the_stacks_file(self):
        p = self.loki(lc.STACK_LOKI_CONFIG)
        self.assertEqual(p.returncode, 0, f"Loki 3.4.6 refuses stack/loki/loki.yml: {p.stderr[-2000:]}")
        self.assertIn("version=3.4.6", self.loki(lc.STACK_LOKI_CONFIG, "-print-config-stderr").stderr)

    def test_loki_refuses_what_it_does_not_know(self):
        # What makes "accepted" above mean something: a misspelt key or a missing store is an error.
        p = self.loki(self.variant("  retention_enabled: true", "  retention_enable: true"))
        self.assertNotEqual(p.returncode, 0, "Loki took a misspelt compactor key")
        self.assertIn("retention_enable", p.stderr)
        p = self.loki(self.variant("  delete_request_store: filesystem\n", ""))
        self.assertNotEqual(p.returncode, 0, "Loki took retention without a delete-request store")

    def test_loki_loads_every_key_as_written(self):
        self.assertEqual(lc.mismatches(lc.file_config(), self.loaded), [])
        # And the comparison sees a difference where there is one.
        changed = lc.file_config()
        changed["limits_config"]["retention_period"] = "745h"
        self.assertEqual(len(lc.mismatches(changed, self.loaded)), 1)

    def test_retention_as_configured_deletes_old_chunks(self):
        self.assertEqual(lc.retention_problems(self.loaded), [])
        limits, compactor = self.loaded["limits_config"], self.loaded["compactor"]
        self.assertEqual(lc.duration_seconds(limits["retention_period"]), 31 * 86400,
                         "stack/README.md says Loki keeps 31 days")
        self.assertTrue(compactor["retention_enabled"])
        # The rules themselves fail where they should (each variant as Loki loads it).
        for old, new, problem in (
                ("  retention_enabled: true", "  retention_enabled: false", "nothing is ever deleted"),
                ("retention_period: 744h", "retention_period: 36h", "not a multiple of the index period"),
                ("retention_period: 744h", "retention_period: 12h", "under Loki's minimum"),
                ("retention_period: 744h", "retention_period: 0s", "keeps everything forever"),
                ("reject_old_samples_max_age: 168h", "reject_old_samples_max_age: 800h", "arrive expired"),
                ("working_directory: /loki/compactor", "working_directory: /tmp/compactor", "not under the data path")):
            p = self.loki(self.variant(old, new), "-print-config-stderr")
            self.assertEqual(p.returncode, 0, f"{new}: {p.stderr[-500:]}")
            problems = lc.retention_problems(lc.loaded_config(p.stderr))
            self.assertTrue(any(problem in m for m in problems), f"{new}: {problems}")

    def test_the_stack_keeps_lokis_data_on_its_volume(self):
        stack = yaml.safe_load((h.REPO / "stack" / "docker-stack.yml").read_text())
        loki = stack["services"]["loki"]
        prefix = self.loaded["common"]["path_prefix"]
        self.assertIn(f"loki-data:{prefix}", loki["volumes"], "the data path (chunks, index, compactor) is the volume")
        for path in (self.loaded["common"]["storage"]["filesystem"]["chunks_directory"],
                     self.loaded["compactor"]["working_directory"]):
            self.assertTrue(path.startswith(prefix + "/"), f"{path} is on the volume {prefix}")
        target = next(c["target"] for c in loki["configs"] if c["source"] == "loki_conf")
        self.assertIn(f"-config.file={target}", loki["command"])
        self.assertTrue(loki["image"].endswith(":-grafana/loki:3.4.6}"), f"pinned to the tests' Loki: {loki['image']}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
