"""Every PromQL expression of every dashboard, and every variable query, run against a real
Prometheus that scrapes a real agent watching real Swarm services: a CPU-limited worker that logs
(and errs) all the time, and a stack's web tier (Apache + PHP, the stack's web image) behind its
proxy (nginx, the stack's proxy image), both labelled swarmwatch.access_log and under requests.

Prometheus scrapes the agent as the stack's does (job swarmwatch, target label node = the node's
hostname, honor_labels), and the variables are substituted as Grafana does, for All, for one value
and for several. Each expression must return data with a finite value, as an instant query and as
a range query, or be on EXPECTED_EMPTY with its reason. Every variable query must offer the
services, stack and node the test made.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import dashboard_harness as dh
import harness as h

# Names of everything this test creates start with swdash (services, network, stack namespace).
STACK = f"swdash{os.getpid()}{secrets.token_hex(2)}"
BUSY, WEB, PROXY = f"{STACK}_busy", f"{STACK}_web", f"{STACK}_proxy"
NETWORK = f"{STACK}_net"

SVC = "container_label_com_docker_swarm_service_name"

# Grafana's built-ins for a panel over the last two minutes with a 1 s scrape interval.
TIME = dh.Time(interval="5s", rate_interval="20s", range_s=120)
RANGE_SECONDS, STEP = 60, "5s"

# (dashboard file, panel title, refId) -> why it has no data here. Checked: these still parse and
# run; an entry that does return data is reported, not failed (someone may run the stack here).
EXPECTED_EMPTY = {
    ("agent-health.json", "Agent CPU and memory", "A"):
        "the test runs the agent as a host process, not as the stack's swarmwatch service",
    ("agent-health.json", "Agent CPU and memory", "B"):
        "the test runs the agent as a host process, not as the stack's swarmwatch service",
    ("swarm-overview.json", "Alert receivers", "A"):
        "no Alertmanager runs here (the stack's does: stack e2e); empty reads 'no Alertmanager'",
    **{("swarm-service.json", panel, ref): "no mysqld here: the stack's mysqld-exporter and db-backup "
       "jobs (test_stack_e2e.py checks these panels on the stack's Prometheus)"
       for panel, refs in (("Database connections", "ABC"), ("Database queries per second", "AB"),
                           ("Database slow queries", "A"), ("InnoDB buffer pool", "AB"),
                           ("Last good backup", "A"))
       for ref in refs},
}

# Panels that read the managers' Swarm state: empty only while the agent does not export it.
SWARM_STATE = {
    ("swarm-overview.json", "Nodes ready", "A"): "swarm_node_info",
    ("swarm-overview.json", "Nodes", "A"): "swarm_node_info",
    ("swarm-overview.json", "Tasks: running vs desired", "A"): "swarm_service_desired_tasks",
    ("swarm-overview.json", "Tasks: running vs desired", "B"): "swarm_service_running_tasks",
}
PSI_PANELS = ("Pressure (PSI): some task waiting", "Pressure (PSI): all tasks stalled")
# The Nodes dashboard's host-wide pressure panels: /proc/pressure, absent on kernels without PSI.
NODE_PSI_PANELS = ("Pressure: some task waiting", "Pressure: all tasks stalled")

PAGES = {
    "index.php": "<?php echo 'hello from ', gethostname(), \"\\n\";\n",
    "slow.php": "<?php usleep(300000); echo \"slow\\n\";\n",
    "fail.php": "<?php http_response_code(500); echo \"failed\\n\";\n",
}
NGINX_CONF = """
server {
    listen 80 default_server;
    resolver 127.0.0.11 valid=5s ipv6=off;
    location / {
        set $web http://WEB:80;
        proxy_pass $web;
        proxy_set_header Host $host;
    }
}
""".replace("WEB", WEB)
# What the traffic thread asks, over and over: 2xx, 404 (also a route), 500, a slow page.
PATHS = ["/", "/index.php", "/missing", "/item/7", "/fail.php", "/index.php", "/slow.php"]
ROUTES = "/item/{id},/slow.php,/fail.php"

# The worker: burns CPU against a 0.2 CPU limit (throttling), writes and reads a file on a bind
# mount with O_DIRECT (block I/O the cgroup is charged for even when the page cache is warm, on
# cgroup v1 too), logs a line per round on stdout and an error-looking one every fifth on stderr.
BUSY_SCRIPT = ("i=0; while :; do i=$((i+1)); echo \"round $i\"; "
               "if [ $((i % 5)) -eq 0 ]; then echo \"error: simulated failure $i\" >&2; "
               "dd if=/dev/zero of=/data/blob bs=64k count=8 oflag=direct 2>/dev/null; "
               "dd if=/data/blob of=/dev/null bs=64k iflag=direct 2>/dev/null; fi; "
               "j=0; while [ $j -lt 2000 ]; do j=$((j+1)); done; done")


# The managers' Swarm figures the Right-sizing dashboard reads (its per-service tables list only
# the services swarm_service_desired_tasks names; reservations, limits and capacity are issue
# 19's): its queries that read them are expected empty while the agent under test exports none
# (checked in its /metrics).
SWARM_RESOURCES = ("swarm_service_desired_tasks",
                   "swarm_service_reservation_cpu_cores", "swarm_service_reservation_memory_bytes",
                   "swarm_service_limit_cpu_cores", "swarm_service_limit_memory_bytes",
                   "swarm_node_capacity_cpu_cores", "swarm_node_capacity_memory_bytes")


def stack_rules_every_evaluation() -> str:
    """The stack's rule file with each group at Prometheus' evaluation interval: the stack runs
    its right-sizing windows every 5 minutes, and a group's first evaluation may come a whole
    interval after the start; here the recorded series the Right-sizing dashboard reads exist
    within seconds. The expressions are the stack's, unchanged."""
    text = (h.REPO / "stack" / "prometheus" / "alerts.yml").read_text()
    return re.sub(r"(?m)^    interval: \S+\n", "", text)


class DashboardPrometheus(h.Prometheus):
    """h.Prometheus with the stack's scrape settings (job swarmwatch, honor_labels, node label)
    and the stack's recording and alert rules."""

    def __init__(self, target: str, node: str, interval: str = "1s", start_timeout: float = 60):
        super().__init__([target], interval, start_timeout, target_labels={"node": node},
                         honor_labels=True, rules=stack_rules_every_evaluation())

    def api(self, path: str, params: dict) -> dict:
        r = h.http_get(self.url + path + "?" + urllib.parse.urlencode(params, doseq=True), timeout=30)
        doc = json.loads(r.body)
        if r.status != 200 or doc.get("status") != "success":
            raise AssertionError(f"{path} {params}: {r.status} {doc.get('error', doc)}")
        return doc["data"]

    def instant(self, expr: str) -> list[dict]:
        return self.api("/api/v1/query", {"query": expr})["result"]

    def range(self, expr: str, seconds: int, step: str) -> list[dict]:
        end = time.time()
        return self.api("/api/v1/query_range", {"query": expr, "start": f"{end - seconds:.3f}",
                                                "end": f"{end:.3f}", "step": step})["result"]

    def label_values(self, label: str, selector: str | None, seconds: int) -> list[str]:
        end = time.time()
        params = {"start": f"{end - seconds:.3f}", "end": f"{end:.3f}"}
        if selector:
            params["match[]"] = [selector]
        return self.api(f"/api/v1/label/{label}/values", params)


def finite_values(result: list[dict]) -> int:
    n = 0
    for series in result:
        points = series.get("values") or ([series["value"]] if "value" in series else [])
        n += sum(1 for _, v in points if math.isfinite(float(v)))
    return n


class Traffic(threading.Thread):
    """Sends PATHS round and round through the proxy until stop()."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.done = threading.Event()
        self.codes: dict[int, int] = {}

    def run(self) -> None:
        i = 0
        while not self.done.is_set():
            path = PATHS[i % len(PATHS)]
            i += 1
            try:
                with urllib.request.urlopen(self.base + path, timeout=5) as r:
                    r.read()
                    code = r.status
            except urllib.error.HTTPError as e:
                code = e.code
            except OSError:
                code = 0
            self.codes[code] = self.codes.get(code, 0) + 1
            self.done.wait(0.05)

    def stop(self) -> None:
        self.done.set()
        self.join(10)


class DashboardsOnRealDataTest(h.SwarmEngineTest):
    """On this machine's engine, with the agent as a host process. test_v2_host.py runs the same
    on the cgroup v2 guest by overriding the hooks below and h.SwarmEngineTest's (where the engine
    is, how files reach its bind mounts, where the agent runs, how the proxy is reached)."""

    setup_timeout = 120  # for the services to answer and each figure to show in Prometheus

    @classmethod
    def prepare_engine(cls) -> None:
        """A Swarm manager with the web and proxy images."""
        super().prepare_engine()
        build = subprocess.run([str(h.REPO / "stack/images/build"), "web", "proxy"],
                               capture_output=True, text=True, timeout=1200)
        if build.returncode != 0:
            raise AssertionError(f"stack/images/build web proxy failed:\n{build.stderr[-4000:]}")

    @classmethod
    def engine_dir(cls, name: str) -> tuple[Path, str]:
        """A directory this process writes and the engine bind-mounts: (here, as the engine sees it)."""
        path = cls.tmp / name
        path.mkdir()
        return path, str(path)

    @classmethod
    def block_io_dir(cls) -> str:
        """A directory on a block device of the engine's host, for the worker's O_DIRECT I/O."""
        return cls.engine_dir("io")[1]

    @classmethod
    def probe_block_io(cls, directory: str) -> str | None:
        return h.block_io_uncounted(directory)

    @classmethod
    def start_agent(cls, receiver: h.LokiReceiver):
        agent = h.Agent(*h.shipping_args(receiver, cls.tmp / "positions.json",
                                         "--start-position", "end", "--access-log-routes", ROUTES))
        cls.addClassCleanup(agent.kill)
        return agent, f"127.0.0.1:{agent.port}"

    @classmethod
    def proxy_port(cls) -> tuple[int, str]:
        """(the port the proxy service publishes, the URL this process reaches it at)."""
        port = h.free_port()
        return port, f"http://127.0.0.1:{port}"

    @classmethod
    def setUpClass(cls):
        started = time.monotonic()
        cls.tmp = Path(tempfile.mkdtemp(prefix="swdash-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.prepare_engine()
        print(f"engine and images ready: {time.monotonic() - started:.0f}s", flush=True)
        cls.node = json.loads(cls.d("info", "--format", "{{json .Name}}"))

        cls.receiver = h.LokiReceiver()
        cls.addClassCleanup(cls.receiver.stop)
        cls.agent, target = cls.start_agent(cls.receiver)
        cls.agent.wait_ready(180)
        cls.prometheus = DashboardPrometheus(target, cls.node)
        cls.addClassCleanup(cls.prometheus.close)

        # The services, as `docker stack deploy` would label them.
        cls.addClassCleanup(cls.remove_services)
        stack = ["--label", f"com.docker.stack.namespace={STACK}",
                 "--container-label", f"com.docker.stack.namespace={STACK}"]
        cls.d("network", "create", "--driver", "overlay", "--attachable",
              "--label", f"com.docker.stack.namespace={STACK}", NETWORK)
        site, site_seen = cls.engine_dir("site")
        for name, text in PAGES.items():
            (site / name).write_text(text)
            (site / name).chmod(0o644)
        site.chmod(0o755)
        conf_dir, conf_seen = cls.engine_dir("proxy")
        (conf_dir / "default.conf").write_text(NGINX_CONF)
        (conf_dir / "default.conf").chmod(0o644)
        conf_dir.chmod(0o755)
        cls.tmp.chmod(0o755)
        port, base = cls.proxy_port()
        io = cls.block_io_dir()
        # Where the kernel counts no block I/O per cgroup, the block I/O panels cannot have data.
        cls.block_io_uncounted = cls.probe_block_io(io)
        cls.d("service", "create", "--detach", "--name", BUSY, *stack,
              "--limit-cpu", "0.2", "--limit-memory", "64m",
              "--reserve-cpu", "0.1", "--reserve-memory", "32m",
              "--mount", f"type=bind,source={io},target=/data", h.IMAGE, "sh", "-c", BUSY_SCRIPT)
        cls.d("service", "create", "--detach", "--name", WEB, *stack, "--network", NETWORK,
              "--endpoint-mode", "dnsrr", "--container-label", "swarmwatch.access_log=apache",
              "--mount", f"type=bind,source={site_seen},target=/var/www/html,readonly",
              "swarmwatch/web:local")
        cls.d("service", "create", "--detach", "--name", PROXY, *stack, "--network", NETWORK,
              "--endpoint-mode", "dnsrr", "--container-label", "swarmwatch.access_log=nginx",
              "--publish", f"mode=host,target=80,published={port}",
              "--mount", f"type=bind,source={conf_seen}/default.conf,target=/etc/nginx/conf.d/default.conf,"
                         "readonly",
              "swarmwatch/proxy:local")

        def answers() -> bool:
            try:
                with urllib.request.urlopen(base + "/index.php", timeout=5) as r:
                    return r.status == 200
            except (OSError, urllib.error.HTTPError):
                return False
        try:
            h.wait_until(answers, cls.setup_timeout, interval=1, what="Apache behind nginx (Swarm services)")
        except AssertionError as e:
            ps = cls.d("service", "ps", "--no-trunc", WEB, PROXY, check=False)
            raise AssertionError(f"{e}\n{ps}") from None
        cls.traffic = Traffic(base)
        cls.traffic.start()
        cls.addClassCleanup(cls.traffic.stop)

        # Enough history for every window: rates over $__rate_interval need two samples of a
        # counter that moved, in every series the panels read.
        p = cls.prometheus
        checks = {
            "request rates of web and proxy":
                f'count(sum by (service) (rate(http_requests_total{{stack="{STACK}"}}[10s])) > 0) == 2',
            "CPU of the worker":
                f'sum(rate(container_cpu_usage_seconds_total{{{SVC}="{BUSY}"}}[10s])) > 0',
            **({} if cls.block_io_uncounted else {"block I/O of the worker":
                f'sum(rate(container_fs_writes_bytes_total{{{SVC}="{BUSY}"}}[10s])) > 0 and '
                f'sum(rate(container_fs_reads_bytes_total{{{SVC}="{BUSY}"}}[10s])) > 0'}),
            "log lines shipped":
                'sum(rate(swarmwatch_loki_entries_sent_total[10s])) > 0',
            "5xx answers":
                f'sum(rate(http_requests_total{{stack="{STACK}", code="500"}}[10s])) > 0',
            "the right-sizing rules' windows of the worker":
                f'service:container_cpu_usage_seconds:p95_7d_max_rate5m{{service="{BUSY}"}} and '
                f'service:container_memory_working_set_bytes:p95_7d_max1m{{service="{BUSY}"}} and '
                f'service:container_cpu_cfs_throttled_periods:ratio_rate7d{{service="{BUSY}"}}',
        }
        for what, expr in checks.items():
            h.wait_until(lambda: p.instant(expr), cls.setup_timeout, interval=1, what=what)
        # The longest window a panel uses at step granularity is $__rate_interval: let it fill.
        time.sleep(25)
        cls.scrape = cls.agent.scrape()
        print(f"setup took {time.monotonic() - started:.0f}s; requests so far by status: "
              f"{dict(sorted(cls.traffic.codes.items()))}", flush=True)

    @classmethod
    def remove_services(cls) -> None:
        for s in (PROXY, WEB, BUSY):
            cls.d("service", "rm", s, check=False)
        try:
            h.wait_until(lambda: not cls.d("ps", "-aq", "--filter",
                                              f"label=com.docker.stack.namespace={STACK}", check=False),
                         60, what="the test's task containers to go away")
        finally:
            cls.d("network", "rm", NETWORK, check=False)

    # ----------------------------------------------------------------------------------------

    def selections(self, file: str) -> dict[str, dict]:
        """Variable choices per dashboard: All, one value, several (Grafana's (a|b))."""
        if file == "web-requests.json":
            one, two = WEB, [WEB, PROXY]
        else:
            one, two = BUSY, [BUSY, WEB]
        return {"All": {},
                "one": {"node": self.node, "stack": STACK, "service": one},
                "several": {"node": [self.node], "stack": [STACK], "service": two}}

    def expected_empty(self, q: dh.Query) -> str | None:
        key = (q.file, q.panel, q.ref)
        if key in EXPECTED_EMPTY:
            return EXPECTED_EMPTY[key]
        if key in SWARM_STATE and not self.scrape.select(SWARM_STATE[key]):
            return f"needs {SWARM_STATE[key]} (being added to the agent; not in its /metrics yet)"
        missing = [m for m in SWARM_RESOURCES if m in q.expr and not self.scrape.select(m)]
        if q.file == "right-sizing.json" and missing:
            return f"needs {', '.join(missing)} (not in the agent's /metrics)"
        if self.block_io_uncounted and "container_fs_" in q.expr:
            return self.block_io_uncounted
        if q.panel in PSI_PANELS and not self.scrape.select(
                f"container_pressure_{'cpu' if q.ref == 'A' else 'memory' if q.ref == 'B' else 'io'}"
                f"_{'waiting' if 'waiting' in q.panel else 'stalled'}_seconds_total"):
            return "this kernel has no pressure (PSI) files for containers"
        if q.file == "nodes.json" and q.panel in NODE_PSI_PANELS and not self.scrape.select(
                "node_pressure_memory_waiting_seconds_total"):
            return "this kernel has no pressure (PSI) files (/proc/pressure)"
        return None

    def test_every_panel_query_returns_data(self):
        dashboards = dh.load()
        failures, empty_as_expected, unexpectedly_full = [], {}, []
        ran = 0
        for q in dh.queries(dashboards):
            if q.lang != "promql":
                continue  # LogQL: no Loki here; test_dashboards_static parses it
            reason = self.expected_empty(q)
            target = next(t for p in dh.panels(dashboards[q.file]) if p.get("title") == q.panel
                          for t in p.get("targets", []) if t.get("refId") == q.ref)
            for selection, values in self.selections(q.file).items():
                expr = dh.substitute(q.expr, dashboards[q.file], values, TIME)
                ran += 1
                try:
                    if target.get("instant"):
                        result = self.prometheus.instant(expr)
                    else:
                        result = self.prometheus.range(expr, RANGE_SECONDS, STEP)
                except AssertionError as e:
                    failures.append(f"{q.key} ({selection}): Prometheus refused it: {e}\n    {expr}")
                    continue
                if reason:
                    empty_as_expected[q.key] = reason
                    if result:
                        unexpectedly_full.append(f"{q.key} ({selection})")
                elif not finite_values(result):
                    what = "no series" if not result else "only NaN/Inf values"
                    failures.append(f"{q.key} ({selection}): {what}\n    {expr}")
        print(f"ran {ran} PromQL queries; expected empty: {len(empty_as_expected)}", flush=True)
        for key, reason in sorted(empty_as_expected.items()):
            print(f"  expected empty: {key}: {reason}", flush=True)
        for key in unexpectedly_full:
            print(f"  note: on the expected-empty list but returned data: {key}", flush=True)
        self.assertGreater(ran, 100)
        self.assertFalse(failures, "panels without data:\n" + "\n".join(failures))

    def panel_values(self, file: str, panel: str, ref: str, service: str) -> dict[tuple, float]:
        """The panel query's instant answer for one service: {tuple of label values: value}."""
        d = dh.load()[file]
        q = next(q for q in dh.queries({file: d}) if q.panel == panel and q.ref == ref)
        expr = dh.substitute(q.expr, d, {"node": self.node, "stack": STACK, "service": service}, TIME)
        out = {}
        for r in self.prometheus.instant(expr):
            out[tuple(sorted(r["metric"].items()))] = float(r["value"][1])
        return out

    def only(self, values: dict[tuple, float], what: str) -> float:
        self.assertEqual(len(values), 1, f"{what}: one series expected, got {values}")
        return next(iter(values.values()))

    def test_panels_show_what_the_test_did(self):
        """Not just data: the figures of what the test set up (limits, request mix, tasks)."""
        red, ov, sv = "web-requests.json", "swarm-overview.json", "swarm-service.json"
        # One request in seven is /fail.php (500); two are 404 (/missing, /item/7).
        for service in (WEB, PROXY):
            h.assert_close(self, self.only(self.panel_values(red, "5xx ratio", "A", service), "5xx"),
                           1 / 7, 0, f"5xx ratio of {service}", abs_tol=0.06)
            h.assert_close(self, self.only(self.panel_values(red, "4xx ratio", "A", service), "4xx"),
                           2 / 7, 0, f"4xx ratio of {service}", abs_tol=0.08)
            routes = {dict(k).get("route") for k in
                      self.panel_values(red, "Request rate per route", "A", service)}
            self.assertTrue({"/item/{id}", "/slow.php", "/fail.php", "other"} <= routes, routes)
            # /slow.php (0.3 s) is one request in seven: p95 is slow, the median is not.
            p95 = self.only(self.panel_values(red, "Latency p50 / p95 / p99", "B", service), "p95")
            p50 = self.only(self.panel_values(red, "Latency p50 / p95 / p99", "A", service), "p50")
            self.assertGreater(p95, 0.25, f"p95 of {service}")
            self.assertLess(p50, 0.25, f"p50 of {service}")
        # The worker spins against its 0.2 CPU limit and its 64 MiB memory limit is shown.
        throttled = self.only(self.panel_values(ov, "CPU throttling", "A", BUSY), "throttling")
        self.assertGreater(throttled, 0.2, "share of throttled periods of the CPU-bound worker")
        against = self.only(self.panel_values(sv, "CPU against limit", "A", BUSY), "cpu/limit")
        self.assertTrue(0.5 < against < 1.3, f"the worker's CPU over its limit: {against}")
        self.assertEqual(self.only(self.panel_values(sv, "Working set vs limit", "B", BUSY),
                                   "limit"), 64 * h.MiB)
        started = self.panel_values(ov, "Task containers started in range", "A", BUSY)
        self.assertEqual(list(started.values()), [1.0], "the worker's one task container")
        tasks = self.panel_values(sv, "Tasks", "A", BUSY)
        self.assertEqual(len(tasks), 1, tasks)
        self.assertTrue(dict(next(iter(tasks)))[
            "container_label_com_docker_swarm_task_name"].startswith(f"{BUSY}.1."), tasks)
        if self.scrape.select("swarm_service_desired_tasks"):
            for ref in ("A", "B"):
                v = self.panel_values(ov, "Tasks: running vs desired", ref, BUSY)
                self.assertEqual(list(v.values()), [1.0], f"running vs desired [{ref}]: {v}")
        # Right-sizing: the worker spins against its 0.2-core limit: starved (throttled). Its
        # suggested CPU limit is 1.5 x its current limit (0.3) where the agent exports the limit,
        # else its peak x 1.5 up to the next 0.01 core (the exact rule:
        # test_dashboards_rightsizing.py). The peak alone would not do: it is of 5-minute rates,
        # which read a task younger than 5 minutes low (rate() divides by the whole window), and
        # the test's worker is a minute old; the rules recompute every second here, hence the
        # slack between the two queries.
        rs = "right-sizing.json"
        self.assertEqual(self.only(self.panel_values(rs, "Verdict and suggestion", "A", BUSY),
                                   "verdict"), 3, "the throttled worker is starved")
        self.assertGreater(self.only(self.panel_values(rs, "Verdict and suggestion", "F", BUSY),
                                     "throttled"), 0.2)
        peak = self.only(self.panel_values(rs, "CPU per task (cores)", "C", BUSY), "CPU max")
        limit = self.only(self.panel_values(rs, "Verdict and suggestion", "C", BUSY),
                          "suggested CPU limit")
        self.assertGreater(peak, 0)
        if self.scrape.select("swarm_service_limit_cpu_cores"):
            self.assertTrue(0.3 <= limit <= max(0.3, peak * 1.5) + 0.015,
                            f"suggested CPU limit {limit} for a peak of {peak} under a 0.2 limit")
        else:
            self.assertTrue(peak * 1.5 - 0.005 <= limit <= max(peak * 1.5, 0.01) + 0.015,
                            f"suggested CPU limit {limit} for a peak of {peak} cores")
        if self.scrape.select("swarm_service_reservation_cpu_cores"):
            for panel, ref, want in (("CPU per task (cores)", "D", 0.1),
                                     ("CPU per task (cores)", "E", 0.2),
                                     ("Memory per task", "D", 32 * h.MiB),
                                     ("Memory per task", "E", 64 * h.MiB)):
                self.assertEqual(self.only(self.panel_values(rs, panel, ref, BUSY), panel), want,
                                 f"{panel} [{ref}]")
            # This node's tasks reserve the worker's 0.1 core (and whatever other services on
            # this engine reserve).
            reserved = self.panel_values(rs, "Nodes", "B", BUSY)
            self.assertEqual(list(reserved), [(("node", self.node),)], reserved)
            self.assertGreaterEqual(self.only(reserved, "reserved on the node"), 0.1)
        if self.scrape.select("swarm_node_capacity_cpu_cores"):
            cores = int(self.d("info", "--format", "{{.NCPU}}"))
            self.assertEqual(self.panel_values(rs, "Nodes", "A", BUSY), {(("node", self.node),): cores})
        shipped = self.panel_values("agent-health.json", "Lines read and shipped", "B", BUSY)
        self.assertGreater(self.only(shipped, "lines shipped"), 0)
        # The Nodes dashboard's join: the host's series under this node's Swarm name (its
        # swarm_node_meta), as many cores as the agent's node_cpu_seconds_total has CPUs, and the
        # host's root filesystem among the mounts.
        cores = self.panel_values("nodes.json", "Nodes", "B", BUSY)
        self.assertEqual({dict(k).get("node_name") for k in cores}, {self.node}, cores)
        self.assertEqual(self.only(cores, "cores"),
                         len(self.scrape.select("node_cpu_seconds_total", mode="idle")))
        self.assertGreater(self.only(cores, "cores"), 0)
        mounts = {dict(k).get("mountpoint") for k in
                  self.panel_values("nodes.json", "Space available per mount", "A", BUSY)}
        self.assertIn("/", mounts)

    def test_every_variable_offers_the_real_values(self):
        dashboards = dh.load()
        want = {
            "node": {self.node},
            "stack": {STACK},
            "service": {BUSY, WEB, PROXY},
        }
        requests_want = {"node": {self.node}, "stack": {STACK}, "service": {WEB, PROXY}}
        failures = []
        checked = 0
        for q in dh.queries(dashboards):
            if q.lang != "label_values":
                continue
            expected = (requests_want if q.file == "web-requests.json" else want)[q.ref]
            for selection in ("All", "one"):
                values = self.selections(q.file)[selection]
                values = {k: v for k, v in values.items() if k != "service"}  # the filters above it
                expr = dh.substitute(q.expr, dashboards[q.file], values, TIME)
                selector, label = dh.label_values_parts(expr)
                try:
                    got = set(self.prometheus.label_values(label, selector, RANGE_SECONDS))
                except AssertionError as e:
                    failures.append(f"{q.key} ({selection}): {e}")
                    continue
                checked += 1
                if not expected <= got:
                    failures.append(f"{q.key} ({selection}): {expr} offers {sorted(got)}, "
                                    f"missing {sorted(expected - got)}")
        self.assertGreaterEqual(checked, 10)
        self.assertFalse(failures, "\n" + "\n".join(failures))


if __name__ == "__main__":
    unittest.main(verbosity=2)
