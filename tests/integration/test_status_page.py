"""The agent's status page in a real browser: headless Chromium (Debian's `chromium`) loads `/` from
an agent watching a real Docker engine; the containers it shows are the engine's, with their CPU and
memory trends, log lag and a web service's request rate. A screenshot at a phone's size is kept as a
CI artifact (ARTIFACTS_DIR, default build/artifacts/).
"""

import html.parser
import os
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import harness as h

ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", h.REPO / "build" / "artifacts"))
APACHE_LINE = ('10.0.0.1 - - [26/Nov/2026:10:00:00 +0000] \\"GET /students HTTP/1.1\\" 200 512 '
               '\\"-\\" \\"curl/8\\" 2500')


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    raise AssertionError("chromium is not installed (scripts/install-deps --test installs it)")


class Rows(html.parser.HTMLParser):
    """The attributes of every <tr> of the page, and whether each row holds an <svg>."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.in_row = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append({**dict(attrs), "svgs": 0, "text": ""})
            self.in_row = True
        elif tag == "svg" and self.in_row:
            self.rows[-1]["svgs"] += 1

    def handle_endtag(self, tag):
        if tag == "tr":
            self.in_row = False

    def handle_data(self, data):
        if self.in_row:
            self.rows[-1]["text"] += data + " "


class StatusPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.ensure_engine()
        cls.browser = chromium()
        cls.tmp = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-status-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.docker = h.Docker()
        cls.addClassCleanup(cls.docker.close)
        cls.receiver = h.LokiReceiver()
        cls.addClassCleanup(cls.receiver.stop)
        cls.agent = h.Agent(*h.shipping_args(cls.receiver, cls.tmp / "positions.json"))
        cls.addClassCleanup(cls.agent.kill)
        cls.agent.wait_ready(60)
        cls.busy = cls.docker.run("busy", "--memory", "64m",
                                  cmd=("sh", "-c", "while :; do :; done"))
        cls.web = cls.docker.run("web", "--label", "swarmwatch.access_log=apache",
                                 cmd=("sh", "-c", f'while :; do echo "{APACHE_LINE}"; sleep 0.1; done'))
        cls.stopped = cls.docker.run("stopped", cmd=("busybox", "true"))

    def browse(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                               "--hide-scrollbars", f"--user-data-dir={self.tmp / 'profile'}",
                               *args, self.agent.url + "/"],
                              capture_output=True, text=True, timeout=90)

    def dom_rows(self) -> list[dict]:
        p = self.browse("--dump-dom")
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        parser = Rows()
        parser.feed(p.stdout)
        return parser.rows

    def test_page_in_chromium_lists_the_engines_containers_with_trends(self):
        # Three samples (one at start, then every 10 s) make a trend of two CPU rates.
        def ready():
            rows = {r.get("data-id"): r for r in self.dom_rows() if r.get("data-id")}
            busy, web = rows.get(self.busy.id), rows.get(self.web.id)
            services = [r for r in self.dom_rows() if r.get("data-service") == self.web.name]
            if busy and web and busy["svgs"] == 2 and services and "data-rate" in services[0]:
                return rows, services[0]
            return None

        rows, web_service = h.wait_until(ready, 60, interval=2,
                                         what="CPU and memory trends and a request rate on the page")
        # Every container the engine lists, and no other (containers of other tests may come and
        # go meanwhile: those in both listings must be shown, and nothing outside either).
        before = set(h.docker("ps", "-aq", "--no-trunc").split())
        shown = {r["data-id"] for r in self.dom_rows() if r.get("data-id")}
        after = set(h.docker("ps", "-aq", "--no-trunc").split())
        self.assertLessEqual(before & after, shown, "containers of the engine missing from the page")
        self.assertLessEqual(shown, before | after, "containers on the page the engine does not list")

        busy = rows[self.busy.id]
        self.assertEqual(busy["data-name"], self.busy.name)
        self.assertEqual(busy["data-state"], "running")
        # A spinner gets ~1 core alone, but far less beside a busy suite (0.198 once): what counts
        # is that its CPU shows, where an idle container's is ~0.
        self.assertGreater(float(busy["data-cpu"]), 0.05, f"a spinning container uses CPU: {busy}")
        self.assertGreater(float(busy["data-memory"]), 0, busy)
        self.assertIn("of 64.0 MiB", busy["text"], "the memory limit is shown")
        self.assertEqual(rows[self.stopped.id]["data-state"], "stopped")
        # Shipping to the receiver: each container's log lag is shown (the web one writes).
        self.assertIn("data-lag", rows[self.web.id], rows[self.web.id])
        self.assertGreaterEqual(int(rows[self.web.id]["data-lag"]), 0)
        rate = float(web_service["data-rate"])
        self.assertGreater(rate, 2, f"~10 lines/s are written: {web_service}")
        self.assertLess(rate, 15, f"~10 lines/s are written: {web_service}")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        p = self.browse("--window-size=412,915", f"--screenshot={shot}")
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertGreater(shot.stat().st_size, 5000, "a screenshot with content")
        print(f"\nstatus page screenshot: {shot}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
