#!/usr/bin/env python3
"""What shipping 1,000,000 Docker json-file lines to Loki costs the agent: time until the last line
is acknowledged, agent CPU seconds, peak RSS (VmHWM), with the read-ahead bound in force.

Input: lines of about 230 bytes as json-file (~70% nginx/Apache access lines with real user agents,
~20% logfmt, ~7% JSON application lines, ~3% stderr errors and stack-trace heads), escaped as Docker
escapes them (<, >, & as \\u003c, \\u003e, \\u0026), in one file and spread over 10 files. They are
written under a fake docker root (--docker-root) for real containers (`busybox true`, exited) so the
agent's catalog lists them and it reads <root>/containers/<id>/<id>-json.log.

Sinks: the tests' loki_receiver on loopback (decodes snappy+protobuf and validates each push; its
CPU is shown: it must not be the bottleneck), and a null sink (reads each request body and answers
204 without decoding) for the agent's read-decode-batch-encode side alone.

Fluent Bit side by side: when ../shared/tools/fluent-bit holds it (or --fluent-bit DIR), each run
of the receiver sink also runs Fluent Bit on the same files into the same kind of sink, the two
alternating, measured the same way (until the receiver has every line, /proc CPU and VmHWM), and
the ratios agent/Fluent Bit are printed. Without it the agent's rows alone, saying so.

    sudo python3 bench/ship_logs.py                              # both layouts, both sinks
    sudo python3 bench/ship_logs.py --files 1 --sinks receiver --runs 3
    sudo python3 bench/ship_logs.py -- --read-ahead-bytes 2MiB   # extra agent flags after --
    sudo python3 bench/ship_logs.py --no-fluent-bit              # the agent alone
See bench/README.md. Needs root (the fake root's files) and a Docker engine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import harness as h  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Input

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.4.0",
    "Prometheus/2.48.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
]
PATHS = ["/", "/index.html", "/api/v1/orders", "/api/v1/orders/{n}", "/api/v1/users/{n}/cart",
         "/static/js/app.{h}.js", "/static/css/main.{h}.css", "/images/products/{n}.webp",
         "/search?q=shoes&page={p}&sort=price", "/healthz", "/login?next=%2Faccount",
         "/api/v2/catalog/items?limit=50&offset={n}"]
REFERERS = ["-", "-", "-", "-", "https://shop.example.com/", "https://www.google.com/", "https://shop.example.com/cart?step=2&x=<1>"]
METHODS = ["GET"] * 8 + ["POST", "PUT", "DELETE", "HEAD"]
STATUSES = [200] * 14 + [201, 204, 301, 304, 400, 401, 403, 404, 404, 499, 500, 502, 503]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
LEVELS = ["info"] * 6 + ["debug", "debug", "warn", "error"]
MESSAGES = ["request completed", "cache miss", "order created", "payment authorized",
            "retrying upstream call", "user session refreshed", "slow query detected"]
STACKS = [
    "Traceback (most recent call last):",
    '  File "/app/service/handlers.py", line {n}, in handle_request',
    "    raise UpstreamError(f\"upstream {{name}} answered {{status}}\")",
    "ERROR [worker-{p}] c.e.shop.OrderService - Failed to process order {n}: java.lang.NullPointerException: "
    "Cannot invoke \"String.length()\" because \"<local4>\" is null",
    "\tat com.example.shop.OrderService.process(OrderService.java:{p}) ~[shop.jar:1.4.2]",
    "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:{p})",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x{h}]",
    "goroutine {p} [running]:",
    "E1126 10:{p}:00.{n} 1 reflector.go:147] failed to list *v1.Pod: Get \"https://10.0.0.1:443/api/v1/pods?limit=500&resourceVersion=0\": dial tcp 10.0.0.1:443: connect: connection refused",
]


def go_json_string(s: str) -> str:
    """A JSON string as Go's encoding/json writes it (HTML characters escaped)."""
    return (json.dumps(s, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def go_time(ns: int) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano), UTC."""
    s, frac = divmod(ns, 1_000_000_000)
    t = time.gmtime(s)
    out = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    if frac:
        out += "." + f"{frac:09d}".rstrip("0")
    return out + "Z"


def generate(n: int, seed: int = 1) -> list[bytes]:
    """n json-file lines (bytes, each ending in \\n), timestamps increasing from an hour ago, to the
    second (Loki refuses entries older than a week: a fixed date would make the receiver refuse
    every line a week after it was written, as it once did)."""
    rnd = random.Random(seed)
    ns = (int(time.time()) - 3600) * 1_000_000_000
    out = []
    for i in range(n):
        ns += rnd.randint(1000, 2_000_000)
        r = rnd.random()
        sec = ns // 1_000_000_000
        t = time.gmtime(sec)
        stream = "stdout"
        num, page, hexs = rnd.randint(1, 999999), rnd.randint(1, 40), f"{rnd.getrandbits(32):08x}"
        if r < 0.70:
            ip = f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
            path = rnd.choice(PATHS).format(n=num, h=hexs, p=page)
            when = f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
            line = (f'{ip} - - [{when}] "{rnd.choice(METHODS)} {path} HTTP/1.1" {rnd.choice(STATUSES)} '
                    f'{rnd.randint(0, 250000)} "{rnd.choice(REFERERS)}" "{rnd.choice(USER_AGENTS)}"')
            if rnd.random() < 0.2:  # some nginx formats add request_time
                line += f" {rnd.random():.3f}"
        elif r < 0.90:
            line = (f"time={go_time(ns)} level={rnd.choice(LEVELS)} msg=\"{rnd.choice(MESSAGES)}\" "
                    f"method={rnd.choice(METHODS)} path=/api/v1/orders/{num} status={rnd.choice(STATUSES)} "
                    f"duration_ms={rnd.random() * 200:.2f} trace_id={rnd.getrandbits(64):016x}")
        elif r < 0.97:
            line = json.dumps({"ts": go_time(ns), "level": rnd.choice(LEVELS), "logger": "shop.http",
                               "msg": rnd.choice(MESSAGES), "req_id": f"{rnd.getrandbits(64):016x}",
                               "path": f"/search?q=shoes&page={page}", "latency_ms": rnd.randint(1, 900)},
                              separators=(",", ":"))
        else:
            stream = "stderr"
            line = rnd.choice(STACKS).format(n=num, p=page, h=hexs)
        out.append(f'{{"log":{go_json_string(line + chr(10))},"stream":"{stream}","time":"{go_time(ns)}"}}\n'
                   .encode())
    return out


# ---------------------------------------------------------------------------------------------
# Sinks

NULL_SINK = r'''
import http.server, socketserver, sys, time, json
last = [0.0, 0, 0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        while n > 0:
            got = self.rfile.read(min(n, 1 << 20))
            if not got: break
            n -= len(got)
        if self.path.startswith("/loki/"):
            last[0] = time.monotonic(); last[1] += 1; last[2] += int(self.headers.get("Content-Length", 0))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        body = json.dumps({"last_push": last[0], "pushes": last[1], "bytes": last[2]}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(f"listening on http://127.0.0.1:{s.server_address[1]}", file=sys.stderr, flush=True)
s.serve_forever()
'''


class NullSink:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", NULL_SINK], stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        self.port = int(line.rsplit(":", 1)[1])
        self.push_url = f"http://127.0.0.1:{self.port}/loki/api/v1/push"

    def state(self) -> dict:
        return json.loads(h.http_get(f"http://127.0.0.1:{self.port}/state").body)

    def stop(self) -> float:
        cpu = h.process_cpu_seconds(self.proc.pid)
        self.proc.terminate()
        self.proc.wait(10)
        return cpu


# ---------------------------------------------------------------------------------------------
# Fluent Bit, the peer (../shared/tools/fluent-bit: its README says how a user runs it)

FLUENT_BIT_TOOLS = Path(os.environ.get("SWARMWATCH_FLUENT_BIT_TOOLS",
                                       REPO.parent / "shared" / "tools" / "fluent-bit"))
FLUENT_BIT_GZ = "fluent-bit-5.1.1-linux-amd64.gz"


class FluentBit:
    """The tools' Fluent Bit binary, unpacked into `work`, run with the tools' own configuration
    (tail + docker parser + Docker_Mode into out_loki, which pushes Loki's JSON): what a user
    who ships json-file logs with it runs, not a tuning of ours, but for one line: its output's
    keep-alive is off. The receiver (CivetWeb) closes an idle connection after 500 ms where Loki
    keeps it 120 s; Fluent Bit, flushing every second, then wrote into closed pooled connections
    ("Broken pipe", the chunk retried 6-10 s later: 2-3 times in a run of 1M lines here, a run
    ~20% longer). A new loopback connection per flush costs it nothing that shows."""

    def __init__(self, tools: Path, work: Path):
        self.tools = tools
        self.binary = work / "fluent-bit"
        text = (tools / "docker-json-file.conf").read_text()
        if "[OUTPUT]\n" not in text:
            raise RuntimeError(f"{tools / 'docker-json-file.conf'} has no [OUTPUT] section")
        self.config = work / "fluent-bit.conf"
        self.config.write_text(text.replace("[OUTPUT]\n", "[OUTPUT]\n    net.keepalive off\n", 1))
        with gzip.open(tools / FLUENT_BIT_GZ, "rb") as src, open(self.binary, "wb") as dst:
            shutil.copyfileobj(src, dst)
        self.binary.chmod(0o755)
        p = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{self.binary} --version failed ({p.returncode}): {p.stderr.strip()[:300]} "
                               "(it links libsqlite3-0, libssl3, libyaml-0-2: scripts/install-deps --test)")
        self.version = p.stdout.split("\n", 1)[0].strip()

    @staticmethod
    def missing(tools: Path) -> str | None:
        if (tools / FLUENT_BIT_GZ).exists() and (tools / "docker-json-file.conf").exists():
            return None
        return (f"no Fluent Bit at {tools} ({FLUENT_BIT_GZ}, docker-json-file.conf): put the project's "
                "shared/tools/fluent-bit beside the repository, set SWARMWATCH_FLUENT_BIT_TOOLS or pass "
                "--fluent-bit DIR")

    def start(self, root: Path, port: int, scratch: Path) -> subprocess.Popen:
        """Tails every json-file under the fake root from its head, with a fresh offsets DB."""
        env = dict(os.environ, LOG_PATH=str(root / "containers" / "*" / "*-json.log"),
                   DB_PATH=str(scratch / "fluent-bit.db"), PARSERS_FILE=str(self.tools / "parsers.conf"),
                   LOKI_PORT=str(port))
        self.log_path = scratch / "fluent-bit.log"
        with open(self.log_path, "wb") as log:
            return subprocess.Popen([str(self.binary), "-c", str(self.config)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)

    def log(self, last: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-last:])
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# One run


def run_once(args, root: Path, total: int, sink_kind: str, extra: list[str],
             fluent_bit: FluentBit | None = None) -> dict:
    """One shipper (the agent, or `fluent_bit`) from its start until the sink has every line."""
    positions = root / "positions.json"
    positions.unlink(missing_ok=True)
    if sink_kind == "receiver":
        sink = h.LokiReceiver(*([] if args.store else ["--no-store-lines"]))
        push_url = sink.push_url
    else:
        sink = NullSink()
        push_url = sink.push_url
    agent = None
    peer = None
    scratch = Path(tempfile.mkdtemp(prefix="fluent-bit-", dir=root.parent)) if fluent_bit else None
    try:
        t0 = time.monotonic()
        if fluent_bit is not None:
            peer = fluent_bit.start(root, sink.port, scratch)
            pid = peer.pid
            log = fluent_bit.log
        else:
            agent = h.Agent("--docker-host", h.HOST_SOCKET, "--docker-root", str(root), "--loki-url", push_url,
                            "--positions-file", str(positions), "--read-ahead-bytes", args.read_ahead,
                            "--start-position", "beginning", *extra)
            pid = agent.pid
            log = agent.log
        polls = 0
        deadline = t0 + args.timeout
        while True:
            if sink_kind == "receiver":
                # The receiver's count of accepted entries: no load on the shipper while polling.
                stats = sink.stats()
                done = stats["entries"] >= total
                if stats.get("rejected"):
                    raise RuntimeError(f"the receiver refused pushes (by status: {stats['rejected']}); "
                                       f"shipper:\n{log(20)}")
                time.sleep(0 if done else 0.02)
            else:
                done = agent.scrape().value("swarmwatch_loki_entries_sent_total") >= total
                polls += 1
                time.sleep(0 if done else 0.2)
            if done:
                t1 = time.monotonic()
                break
            if peer is not None and peer.poll() is not None:
                raise RuntimeError(f"fluent-bit exited ({peer.returncode}):\n{log(20)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all lines acknowledged within {args.timeout}s; shipper:\n{log(20)}")
        if sink_kind == "null":
            t1 = sink.state()["last_push"]  # the last push's arrival, not the next poll
        cpu = h.process_cpu_seconds(pid)
        mem = h.process_memory_kib(pid)
        result = {"seconds": t1 - t0, "cpu": cpu, "hwm_mib": mem["VmHWM"] / 1024, "rss_mib": mem["VmRSS"] / 1024,
                  "read_ahead_max": args.read_ahead, "polls": polls}
        if agent is not None:
            s = agent.scrape()
            result.update(sent=s.value("swarmwatch_loki_entries_sent_total"),
                          batches=s.value("swarmwatch_loki_batches_sent_total"),
                          dropped=s.total("swarmwatch_loki_entries_dropped_total"))
            agent.stop(30)
            agent = None
        else:
            # Fluent Bit counts nothing the bench can read without changing its configuration:
            # the receiver's count of entries and pushes stands for it (nothing was refused, above).
            stats = sink.stats()
            result.update(sent=stats["entries"], batches=stats["pushes"], dropped=0)
    finally:
        if agent is not None:
            agent.kill()
        if peer is not None and peer.poll() is None:
            peer.kill()  # measured above; its graceful stop would only add its grace period
            peer.wait(10)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if sink_kind == "receiver":
            sink.stop()
            sink_cpu = sink.cpu_seconds
        else:
            sink_cpu = sink.stop()
    result["sink_cpu"] = sink_cpu
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--files", default="1,10", help="layouts: the lines in 1 file, spread over 10 files")
    p.add_argument("--sinks", default="receiver,null")
    p.add_argument("--runs", type=int, default=3, help="runs per row; the median run is shown")
    p.add_argument("--read-ahead", default="16MiB")
    p.add_argument("--store", action="store_true", help="let the receiver store the lines (more receiver CPU)")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--agent", help="agent binary (default: AGENT_BIN or build*/agent/swarmwatch)")
    p.add_argument("--receiver", help="loki_receiver binary (default: LOKI_RECEIVER_BIN or build*/...)")
    p.add_argument("--fluent-bit", type=Path, default=FLUENT_BIT_TOOLS,
                   help="Fluent Bit's tools folder (default: SWARMWATCH_FLUENT_BIT_TOOLS or ../shared/tools/fluent-bit)")
    p.add_argument("--no-fluent-bit", action="store_true", help="the agent's rows only")
    p.add_argument("--workdir", default="/tmp", help="where the fake docker root goes")
    p.add_argument("extra", nargs="*", help="extra agent flags (after --)")
    args = p.parse_args()
    if args.agent:
        os.environ["AGENT_BIN"] = args.agent
    if args.receiver:
        os.environ["LOKI_RECEIVER_BIN"] = args.receiver
    h.ensure_engine()

    started = time.monotonic()
    lines = generate(args.lines)
    size = sum(map(len, lines))
    kinds = {"stderr": sum(1 for l in lines if l.endswith(b'"stream":"stderr"', 0, l.rfind(b',"time"')))}
    print(f"input: {len(lines)} json-file lines, {size / 1e6:.1f} MB, {size / len(lines):.0f} bytes a line "
          f"on average, {kinds['stderr']} on stderr; generated in {time.monotonic() - started:.1f} s", flush=True)
    print(f"agent: {h.agent_binary()}\nreceiver: {h.loki_receiver_binary()}\n"
          f"agent flags: --read-ahead-bytes {args.read_ahead} {' '.join(args.extra)}", flush=True)

    docker = h.Docker()
    work = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-shipbench-", dir=args.workdir))
    fluent_bit = None
    if args.no_fluent_bit:
        print("fluent-bit: not run (--no-fluent-bit)", flush=True)
    elif FluentBit.missing(args.fluent_bit):
        print(f"fluent-bit: {FluentBit.missing(args.fluent_bit)}; the agent's rows only", flush=True)
    else:
        fluent_bit = FluentBit(args.fluent_bit, work)
        print(f"fluent-bit: {fluent_bit.version} with {args.fluent_bit / 'docker-json-file.conf'}, "
              f"keep-alive off (receiver sink only: the null sink counts no entries)", flush=True)
    rows = []
    try:
        for nfiles in [int(x) for x in args.files.split(",")]:
            root = work / f"root-{nfiles}"
            containers = [docker.run(f"bench{i}", cmd=["busybox", "true"]) for i in range(nfiles)]
            for c in containers:
                log_dir = root / "containers" / c.id
                log_dir.mkdir(parents=True)
            per = -(-len(lines) // nfiles)
            for k, c in enumerate(containers):
                with open(root / "containers" / c.id / f"{c.id}-json.log", "wb") as f:
                    f.writelines(lines[k * per:(k + 1) * per])
            for sink_kind in args.sinks.split(","):
                shippers = {"agent": None}
                if fluent_bit is not None and sink_kind == "receiver":
                    shippers["fluent-bit"] = fluent_bit
                results = {name: [] for name in shippers}
                for run in range(args.runs):
                    # Alternating, so that the machine's drift during the row falls on both.
                    for name, peer in shippers.items():
                        r = run_once(args, root, len(lines), sink_kind, args.extra, peer)
                        results[name].append(r)
                        print(f"  {nfiles:>2} file(s) {sink_kind:<8} {name:<10} run {run + 1}: {r['seconds']:.2f} s, "
                              f"CPU {r['cpu']:.2f} s, HWM {r['hwm_mib']:.1f} MiB, sink CPU "
                              f"{r['sink_cpu']:.2f} s, {r['batches']:.0f} batches", flush=True)
                        if r["sent"] < len(lines) or r["dropped"]:
                            print(f"     sent {r['sent']:.0f}, dropped {r['dropped']:.0f}!", flush=True)
                for name in shippers:
                    med = sorted(results[name], key=lambda r: r["seconds"])[len(results[name]) // 2]
                    rows.append((nfiles, sink_kind, name, med, results[name]))
            for c in containers:
                docker.remove_container(c.name)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        docker.close()
        shutil.rmtree(work, ignore_errors=True)

    n = len(lines)

    def figures(r: dict, results: list[dict]) -> tuple[float, float, float]:
        return n / r["seconds"], r["cpu"] * 1e6 / n, max(x["hwm_mib"] for x in results)

    print()
    print("files sink      shipper    | seconds  lines/s  |  CPU s  CPU s/1M lines | peak RSS MiB | sink CPU s | batches")
    for nfiles, sink_kind, name, r, results in rows:
        rate, cpu_per_m, hwm = figures(r, results)
        print(f"{nfiles:>5} {sink_kind:<9} {name:<10} | {r['seconds']:7.2f} {rate:8.0f} | "
              f"{r['cpu']:6.2f} {cpu_per_m:13.2f}  | {hwm:12.1f} | {r['sink_cpu']:10.2f} | {r['batches']:.0f}")
    print(f"(median of {args.runs} runs by time; peak RSS is the highest VmHWM of the runs; read-ahead "
          f"{args.read_ahead}; targets: >= 500000 lines/s, <= 1.5 CPU s per 1M lines, < 40 MiB)")
    pairs = [(a, b) for a in rows for b in rows
             if a[2] == "agent" and b[2] == "fluent-bit" and a[:2] == b[:2]]
    if pairs:
        print()
        print("files sink      | agent / fluent-bit: lines/s  CPU s/1M lines  peak RSS")
        for a, b in pairs:
            fa, fb = figures(a[3], a[4]), figures(b[3], b[4])
            print(f"{a[0]:>5} {a[1]:<9} |                    x{fa[0] / fb[0]:<7.2f} x{fa[1] / fb[1]:<14.2f} "
                  f"x{fa[2] / fb[2]:.2f}")
        print("(lines/s above 1: the agent is faster; CPU and RSS below 1: the agent uses less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
