"""The stack's Loki configuration (stack/loki/loki.yml) as the real Loki 3.4.6 reads it (issue 21):
Loki accepts the file, loads every key as written, and its retention as configured deletes old
chunks. The e2e cannot wait for a deletion (a chunk must be 31 days old, and the compactor deletes
2 hours after marking it), so retention is checked here twice: on the values Loki loaded, against
the rules of Loki's retention documentation that `-verify-config` does not check; and for real, on
a Loki running the stack's file with its retention period as it is, fed lines 32 and 30 days old
(what the wait needs changes: ports and paths, the compactor's interval and delete delay, and old
samples accepted). Needs the real Loki of ../shared/tools/loki (skipped, saying so, without it);
takes about two minutes."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
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
        # -verify-config with the dump: what Loki makes of the stack's file, read once for every test.
        cls.verified = cls.loki(lc.STACK_LOKI_CONFIG, "-print-config-stderr")
        cls.loaded = lc.loaded_config(cls.verified.stderr) if cls.verified.returncode == 0 else {}

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
        p = self.verified
        self.assertEqual(p.returncode, 0, f"Loki 3.4.6 refuses stack/loki/loki.yml: {p.stderr[-2000:]}")
        self.assertIn("version=3.4.6", p.stderr)

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

    def test_retention_deletes_what_is_older_than_the_period_and_keeps_the_rest(self):
        data = self.dir / "retention"
        http_port, grpc_port = h.free_port(), h.free_port()
        config = lc.file_config()
        # Only what the wait needs; limits_config.retention_period and the schema stay the stack's.
        config["server"].update(http_listen_address="127.0.0.1", http_listen_port=http_port,
                                grpc_listen_address="127.0.0.1", grpc_listen_port=grpc_port, log_level="info")
        config["common"]["path_prefix"] = str(data)
        config["common"]["storage"]["filesystem"] = {"chunks_directory": str(data / "chunks"),
                                                     "rules_directory": str(data / "rules")}
        config["compactor"].update(working_directory=str(data / "compactor"), compaction_interval="10s",
                                   retention_delete_delay="5s")
        config["limits_config"]["reject_old_samples"] = False  # to write the past
        config["ingester"] = {"wal": {"enabled": False},  # a restart must not bring the lines back
                              "lifecycler": {"min_ready_duration": "1s", "final_sleep": "0s"}}
        path = self.dir / "retention.yml"
        path.write_text(yaml.safe_dump(config))
        retention_s = lc.duration_seconds(config["limits_config"]["retention_period"])
        self.assertEqual(retention_s, 31 * 86400)
        url = f"http://127.0.0.1:{http_port}"
        day_ns = 86400 * 10**9
        now = time.time_ns()
        lines = {"expired": now - 32 * day_ns, "kept": now - 30 * day_ns, "today": now}
        log = open(self.dir / "retention.log", "ab")
        self.addCleanup(log.close)

        def start() -> subprocess.Popen:
            proc = subprocess.Popen([str(self.binary), f"-config.file={path}"], stdout=log, stderr=subprocess.STDOUT)
            self.addCleanup(lambda: proc.poll() is not None or (proc.kill(), proc.wait()))

            def ready():
                self.assertIsNone(proc.poll(), f"Loki exited: {self.log_tail()}")
                try:
                    return h.http_get(url + "/ready", timeout=2).status == 200
                except OSError:
                    return False
            h.wait_until(ready, 60, interval=0.5, what="Loki /ready")
            return proc

        def stop(proc: subprocess.Popen) -> None:
            proc.terminate()
            self.assertEqual(proc.wait(60), 0, self.log_tail())

        def chunks() -> list[Path]:
            return sorted(p for p in (data / "chunks" / "fake").rglob("*") if p.is_file())

        def stored(name: str) -> list[str]:
            # A narrow range around the line: Loki refuses a query longer than max_query_length (30d1h).
            ts = lines[name]
            q = urllib.parse.urlencode({"query": f'{{job="retention", age="{name}"}}', "start": ts - 3600 * 10**9,
                                        "end": ts + 3600 * 10**9, "limit": 10})
            r = h.http_get(f"{url}/loki/api/v1/query_range?{q}", timeout=30)
            self.assertEqual(r.status, 200, r.text[:300])
            return [v[1] for s in json.loads(r.text)["data"]["result"] for v in s["values"]]

        loki = start()
        push = {"streams": [{"stream": {"job": "retention", "age": name}, "values": [[str(ts), f"{name} line"]]}
                            for name, ts in lines.items()]}
        req = urllib.request.Request(url + "/loki/api/v1/push", data=json.dumps(push).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 204)
        with urllib.request.urlopen(urllib.request.Request(url + "/flush", method="POST"), timeout=30) as r:
            self.assertEqual(r.status, 204)
        h.wait_until(lambda: len(chunks()) == 3, 30, what="the three chunks on disk")
        # The ingester's index reaches the store when it stops (else every 15 minutes); the
        # compactor of the next start applies the retention to it.
        stop(loki)
        self.assertEqual(len(chunks()), 3)
        loki = start()
        h.wait_until(lambda: len(chunks()) == 2, 180, interval=2, what="the compactor deleting the expired chunk")
        self.assertEqual(stored("expired"), [], "the line older than the retention is gone")
        self.assertEqual(stored("kept"), ["kept line"], "the line within the retention stays")
        self.assertEqual(stored("today"), ["today line"])
        stop(loki)

    def log_tail(self) -> str:
        try:
            return (self.dir / "retention.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""


if __name__ == "__main__":
    unittest.main(verbosity=2)
