"""The dashboards in dashboards/*.json checked with Grafana's and Prometheus's own code, no services
needed: each dashboard type-checks against Grafana's dashboard model (@grafana/schema, compiled by
tsc); every PromQL expression parses with Prometheus's grammar (@prometheus-io/lezer-promql) and
every LogQL expression with Grafana's (@grafana/lezer-logql), template variables substituted;
LogQL uses only the labels the shipper sets; and what file provisioning needs holds (unique uids
and titles, `"id": null`, gridPos on every panel, data sources by the provisioned uids, links to
dashboards that exist). The node packages are pinned in tests/dashboards/package-lock.json and
installed by `npm ci` (scripts/install-deps --test does it; this test does it when they are
missing or older than the lock file).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import dashboard_harness as dh

NODE_DIR = dh.REPO / "tests" / "dashboards"
STAMP = NODE_DIR / "node_modules" / ".swarmwatch-lock-sha256"


def lock_hash() -> str:
    return hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()


def ensure_node_modules() -> None:
    """`npm ci` unless node_modules was installed from the current package-lock.json."""
    if STAMP.exists() and STAMP.read_text().strip() == lock_hash():
        return
    npm = shutil.which("npm")
    if not npm:
        raise AssertionError("npm not found: run scripts/install-deps --test (nodejs, npm)")
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError(f"npm ci in tests/dashboards failed ({p.returncode}):\n{p.stdout[-3000:]}")
    STAMP.write_text(lock_hash() + "\n")


def node(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["node", *args], cwd=NODE_DIR, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=300)


# Selections the grammar check substitutes: every variable at "All", one value, and two values
# (Grafana's multi-value form (a|b), regex-escaped).
SELECTIONS = {
    "All": {},
    "one value": {"node": "node-1", "stack": "shop", "service": "shop_web.v2", "search": "timeout"},
    "two values": {"node": ["node-1", "node-2"], "stack": ["shop", "ops"],
                   "service": ["shop_web", "shop_proxy"], "search": "GET /item/[0-9]+"},
}


class DashboardModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dashboards = dh.load()
        if not cls.dashboards:
            raise AssertionError("no dashboards/*.json")

    def test_json_is_what_generate_py_makes(self):
        p = subprocess.run(["python3", str(dh.DASHBOARDS / "generate.py"), "--check"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_provisioning_needs(self):
        uids, titles = {}, {}
        all_uids = {d.get("uid") for d in self.dashboards.values()}
        for file, d in self.dashboards.items():
            with self.subTest(file=file):
                self.assertIn("id", d, "provisioned dashboards carry \"id\": null")
                self.assertIsNone(d["id"], "a fixed id clashes with Grafana's database ids")
                self.assertRegex(d.get("uid", ""), r"^[a-zA-Z0-9_-]{1,40}$", "stable uid")
                self.assertTrue(d.get("title"), "title")
                self.assertIsInstance(d.get("schemaVersion"), int)
                self.assertNotIn(d["uid"], uids, f"uid also used by {uids.get(d['uid'])}")
                self.assertNotIn(d["title"], titles, f"title also used by {titles.get(d['title'])}")
                uids[d["uid"]], titles[d["title"]] = file, file
                ids = set()
                for p in dh.panels(d):
                    what = f"panel {p.get('title')!r}"
                    g = p.get("gridPos")
                    self.assertIsInstance(g, dict, f"{what}: gridPos")
                    for k in ("h", "w", "x", "y"):
                        self.assertIsInstance(g.get(k), int, f"{what}: gridPos.{k}")
                    self.assertLessEqual(g["x"] + g["w"], 24, f"{what}: wider than the grid")
                    self.assertNotIn(p.get("id"), ids, f"{what}: panel id repeated")
                    ids.add(p.get("id"))
                    self.assertTrue(p.get("title"), f"panel {p.get('id')}: no title")
                    if p["type"] == "row":
                        continue
                    self.assertIn(dh.datasource_type(p.get("datasource")), ("prometheus", "loki"))
                    self.assertIn(p["datasource"].get("uid"), dh.DATASOURCE_UIDS, what)
                    self.assertTrue(p.get("targets"), f"{what}: no query")
                    refs = [t.get("refId") for t in p["targets"]]
                    self.assertEqual(len(refs), len(set(refs)), f"{what}: refIds repeat")
                    for t in p["targets"]:
                        self.assertIn(t.get("datasource", {}).get("uid"), dh.DATASOURCE_UIDS,
                                      f"{what} [{t.get('refId')}]: data source by provisioned uid")
                self.assertFalse(self.overlaps(d), "panels overlap")
                for v in d.get("templating", {}).get("list", []):
                    if v["type"] == "query":
                        self.assertIn(v.get("datasource", {}).get("uid"), dh.DATASOURCE_UIDS,
                                      f"variable {v['name']}")
                        # swarmprom's "only All" trap: All must also match an absent label.
                        self.assertTrue(v.get("includeAll") and v.get("allValue") == ".*",
                                        f"variable {v['name']}: All with allValue .*")
                for a in d.get("annotations", {}).get("list", []):
                    ds = a.get("datasource", {})
                    self.assertTrue(a.get("builtIn") == 1 or ds.get("uid") in dh.DATASOURCE_UIDS,
                                    f"annotation {a.get('name')}")

        # Links: the dashboard drop-down finds every dashboard by tag; panel and data links name
        # dashboards that exist, and keep the time range and the variables.
        for file, d in self.dashboards.items():
            with self.subTest(file=file, what="links"):
                tagged = [l for l in d.get("links", []) if l.get("type") == "dashboards"]
                self.assertTrue(tagged, "a link to the other dashboards")
                for l in tagged:
                    self.assertTrue(l["keepTime"] and l["includeVars"], l["title"])
                    for other in self.dashboards.values():
                        self.assertTrue(set(l["tags"]) <= set(other.get("tags", [])),
                                        f"{other['uid']} lacks the tags {l['tags']}")
                for url in self.link_urls(d):
                    m = re.match(r"^/d/([^/?]+)/[^?]*\?(.*)$", url)
                    self.assertTrue(m, f"link {url!r}: /d/<uid>/<slug>?...")
                    self.assertIn(m.group(1), all_uids, f"link {url!r}: no such dashboard")
                    self.assertIn("${__url_time_range}", m.group(2), f"link {url!r}: keeps time")
                    self.assertTrue("${__all_variables}" in url or "${node:queryparam}" in url,
                                    f"link {url!r}: keeps the variables")

    @staticmethod
    def link_urls(d: dict) -> list[str]:
        urls = []
        for p in dh.panels(d):
            urls += [l["url"] for l in p.get("links", [])]
            urls += [l["url"] for l in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])]
        return urls

    @staticmethod
    def overlaps(d: dict) -> list[tuple[str, str]]:
        cells = {}
        clashes = []
        for p in dh.panels(d):
            g = p["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    if (x, y) in cells:
                        clashes.append((cells[(x, y)], p["title"]))
                    cells[(x, y)] = p["title"]
        return clashes

    def test_every_query_uses_only_defined_variables(self):
        for q in dh.queries(self.dashboards):
            with self.subTest(query=q.key):
                dh.substitute(q.expr, self.dashboards[q.file], {}, dh.Time())  # KeyError if not


class GrafanaCodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_node_modules()
        cls.dashboards = dh.load()

    def test_dashboards_type_check_against_grafana_schema(self):
        p = node("typecheck.mjs", str(dh.DASHBOARDS))
        self.assertEqual(p.returncode, 0, f"tsc found errors:\n{p.stdout[-6000:]}{p.stderr[-2000:]}")
        self.assertIn(f"typecheck: {len(self.dashboards)} dashboards, tsc exit 0", p.stdout)

    def test_promql_and_logql_parse_with_their_grammars(self):
        items, where = [], {}
        for q in dh.queries(self.dashboards):
            for name, values in SELECTIONS.items():
                expr = dh.substitute(q.expr, self.dashboards[q.file], values, dh.Time())
                lang = q.lang
                if lang == "label_values":
                    selector, _ = dh.label_values_parts(expr)
                    expr, lang = selector or "up", "promql"
                ident = str(len(items))
                items.append({"id": ident, "lang": lang, "expr": expr})
                where[ident] = (q, name, expr)
        counts = {lang: sum(1 for i in items if i["lang"] == lang) for lang in ("promql", "logql")}
        self.assertGreater(counts["promql"], 0)
        self.assertGreater(counts["logql"], 0)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(items, f)
        try:
            p = node("grammar.mjs", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 0, p.stderr)
        results = json.loads(p.stdout)
        self.assertEqual(len(results), len(items))
        problems = []
        for r in results:
            q, selection, expr = where[r["id"]]
            for e in r["errors"]:
                problems.append(f"{q.key} ({selection}): {e}\n    {expr}")
            if q.lang == "logql":
                stray = set(r["labels"]) - dh.LOKI_STREAM_LABELS
                if stray:
                    problems.append(f"{q.key}: labels the shipper does not set: {sorted(stray)}")
                if "job" not in r["labels"]:
                    problems.append(f"{q.key}: no job matcher (Loki needs one non-empty matcher)")
        self.assertFalse(problems, "\n" + "\n".join(problems))
        print(f"grammar: {counts['promql']} PromQL and {counts['logql']} LogQL expressions parsed "
              f"({len(SELECTIONS)} variable selections each)", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
