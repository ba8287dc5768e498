"""Request metrics from real web servers: Apache with PHP (the stack's web image) behind nginx (the
stack's proxy image), both logging to stdout in the stack's formats, on a real Docker engine. The
test sends a known mix of requests through nginx and checks, through a real Prometheus, the exact
counts per method and code for both tiers, and that the slow PHP page lands in its histogram bucket.
"""

import json
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

import harness as h

# A PHP page that sleeps this long lands between the 0.5 s and 1 s buckets, with 400 ms of margin
# on either side for a busy machine.
SLOW_SECONDS = 0.6

PAGES = {
    "index.php": "<?php echo 'hello from ', gethostname(), \"\\n\";\n",
    "slow.php": f"<?php usleep({int(SLOW_SECONDS * 1e6)}); echo \"slow\\n\";\n",
    "post.php": "<?php http_response_code($_SERVER['REQUEST_METHOD'] === 'POST' ? 201 : 405);\n"
                "echo strlen(file_get_contents('php://input')), \"\\n\";\n",
}

NGINX_CONF = """
server {
    listen 80 default_server;
    location / {
        proxy_pass http://WEB:80;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}
"""

# (method, path, body) -> expected status, and how many of each the test sends.
REQUESTS = [
    ("GET", "/", None, 200, 6),
    ("GET", "/missing", None, 404, 3),
    ("POST", "/post.php", b"name=Ada", 201, 2),
    ("GET", "/slow.php", None, 200, 2),
    ("HEAD", "/", None, 200, 1),
    ("PUT", "/post.php", b"x", 405, 1),
]


def expected_counts() -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for method, _, _, status, n in REQUESTS:
        counts[(method, str(status))] = counts.get((method, str(status)), 0) + n
    return counts


class AccessLogMetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.ensure_engine()
        build = subprocess.run([str(h.REPO / "stack/images/build"), "web", "proxy"],
                               capture_output=True, text=True, timeout=1200)
        if build.returncode != 0:
            raise AssertionError(f"stack/images/build web proxy failed:\n{build.stderr[-4000:]}")
        cls.tmp = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-access-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.docker = h.Docker()
        cls.addClassCleanup(cls.docker.close)

        # The agent starts first: it counts requests Docker logged after its start.
        cls.agent = h.Agent("--docker-host", h.HOST_SOCKET,
                            "--positions-file", str(cls.tmp / "positions.json"))
        cls.addClassCleanup(cls.agent.kill)
        cls.agent.wait_ready(60)
        cls.node = json.loads(h.docker("info", "--format", "{{json .Name}}"))

        site = cls.tmp / "site"
        site.mkdir()
        for name, text in PAGES.items():
            (site / name).write_text(text)
        site.chmod(0o755)
        net = cls.docker.network("web")
        cls.web = cls.docker.run("web", "--network", net, "--label", "swarmwatch.access_log=apache",
                                 "-v", f"{site}:/var/www/html:ro", cmd=(),
                                 image="swarmwatch/web:local")
        conf = cls.tmp / "proxy.conf"
        conf.write_text(NGINX_CONF.replace("WEB", cls.web.name))
        conf.chmod(0o644)
        cls.proxy = cls.docker.run("proxy", "--network", net, "--label",
                                   "swarmwatch.access_log=nginx",
                                   "-v", f"{conf}:/etc/nginx/conf.d/default.conf:ro", cmd=(),
                                   image="swarmwatch/proxy:local")
        address = cls.proxy.inspect()["NetworkSettings"]["Networks"][net]["IPAddress"]
        cls.base = f"http://{address}"
        h.wait_until(lambda: cls.request("GET", "/index.php")[0] == 200, 60,
                     what="Apache behind nginx to answer")
        cls.prometheus = h.Prometheus([f"127.0.0.1:{cls.agent.port}"])
        cls.addClassCleanup(cls.prometheus.close)

    @classmethod
    def request(cls, method: str, path: str, body: bytes | None = None) -> tuple[int, float]:
        req = urllib.request.Request(cls.base + path, data=body, method=method)
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = 0
        return status, time.monotonic() - start

    def counts(self, service: str) -> dict[tuple[str, str], int]:
        rows = self.prometheus.query(
            f'sum by (method, code) (http_requests_total{{service="{service}"}})')
        return {(r["metric"]["method"], r["metric"]["code"]): int(float(r["value"][1])) for r in rows}

    def unparsed(self) -> dict[str, float]:
        scrape = self.agent.scrape()
        return {s: scrape.value("swarmwatch_access_log_unparsed_lines_total", service=s)
                for s in (self.web.name, self.proxy.name)}

    def bucket(self, service: str, le: str) -> int:
        rows = self.prometheus.query(
            f'sum(http_request_duration_seconds_bucket{{service="{service}",le="{le}"}})')
        return int(float(rows[0]["value"][1])) if rows else -1

    def test_series_of_removed_containers_go_with_them(self):
        """Ten short-lived web containers (their service is their name): while each lives its
        request and unparsed-line series show; once removed and read to the end, none is left."""
        line = '10.0.0.1 - - [05/Dec/2026:20:00:00 +0000] \\"GET / HTTP/1.1\\" 200 5'
        names = []
        for _ in range(10):
            c = self.docker.run("churnweb", "--label", "swarmwatch.access_log=apache_common",
                                cmd=["sh", "-c", f'echo "{line}"; echo garbage; exec sleep 3600'])
            names.append(c.name)
        for name in names:
            self.agent.scrape_until(
                lambda s: s.select("http_requests_total", service=name) and
                s.select("swarmwatch_access_log_unparsed_lines_total", service=name), 30,
                what=f"request series of {name}")
        for name in names:
            self.docker.remove_container(name)

        def leftovers(s: h.Scrape):
            return [x for x in s.samples if x.labels.get("service") in names]
        s = self.agent.scrape_until(lambda s: not leftovers(s), 30,
                                    what="the removed containers' request series to go")
        self.assertTrue(s.select("http_requests_total", service=self.web.name),
                        "a live service keeps its series")

    def test_request_mix_counts_and_latency_buckets_for_both_tiers(self):
        # Requests made while waiting for the servers to come up are counted too: start from there.
        baseline = {s: self.counts(s) for s in (self.web.name, self.proxy.name)}
        # Let Prometheus catch up with every request made so far.
        h.wait_until(lambda: self.agent.scrape().total("http_requests_total", service=self.web.name)
                     == sum(self.counts(self.web.name).values()) and
                     self.agent.scrape().total("http_requests_total", service=self.proxy.name)
                     == sum(self.counts(self.proxy.name).values()), 30,
                     what="prometheus to hold the warm-up requests")
        baseline = {s: self.counts(s) for s in (self.web.name, self.proxy.name)}
        unparsed_before = self.unparsed()

        for method, path, body, status, n in REQUESTS:
            for _ in range(n):
                got, seconds = self.request(method, path, body)
                self.assertEqual(got, status, f"{method} {path}")
                if path == "/slow.php":
                    self.assertGreaterEqual(seconds, SLOW_SECONDS)
        want = expected_counts()
        total = sum(want.values())

        for service in (self.web.name, self.proxy.name):
            def delta():
                now = self.counts(service)
                return {k: now.get(k, 0) - baseline[service].get(k, 0) for k in now
                        if now.get(k, 0) != baseline[service].get(k, 0)}
            try:
                h.wait_until(lambda: sum(delta().values()) >= total, 30,
                             what=f"{total} requests of {service} in Prometheus")
            except AssertionError as e:
                raise AssertionError(f"{e}: have {delta()}\nagent log:\n{self.agent.log()}") from None
            self.assertEqual(delta(), want, f"requests of {service} by (method, code)")

        for service in (self.web.name, self.proxy.name):
            # Every request but the slow ones is fast (< 0.5 s); the slow ones are < 1 s.
            all_requests = self.bucket(service, "+Inf")
            self.assertEqual(all_requests - self.bucket(service, "0.5"), 2,
                             f"{service}: the two slow requests are above 0.5 s, nothing else is")
            self.assertEqual(self.bucket(service, "1"), all_requests,
                             f"{service}: every request took less than 1 s")

        # The labels an operator filters by.
        rows = self.prometheus.query(f'http_requests_total{{service="{self.web.name}",code="404"}}')
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["metric"]["node"], self.node)
        self.assertEqual(rows[0]["metric"]["method"], "GET")
        self.assertNotIn("stack", rows[0]["metric"], "no stack: an empty label")
        # Every line of the mix parsed (Apache's and nginx's own messages go to stderr).
        self.assertEqual(self.unparsed(), unparsed_before)
        # Response sizes: every request has one.
        sizes = self.prometheus.query(
            f'sum(http_response_size_bytes_count{{service="{self.web.name}"}})')
        self.assertEqual(int(float(sizes[0]["value"][1])), sum(self.counts(self.web.name).values()))

    def test_a_line_that_is_not_in_the_format_is_counted_unparsed(self):
        before = self.agent.scrape().value("swarmwatch_access_log_unparsed_lines_total",
                                           service=self.web.name)
        # What a misconfigured vhost would write: the common format, without %D.
        line = '10.0.0.9 - - [26/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5'
        self.web.exec("sh", "-c", f"echo '{line}' > /proc/1/fd/1")
        self.agent.scrape_until(
            lambda s: s.value("swarmwatch_access_log_unparsed_lines_total",
                              service=self.web.name) == before + 1, 15,
            what="the unparsed line to be counted")


if __name__ == "__main__":
    unittest.main(verbosity=2)
