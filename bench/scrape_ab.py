#!/usr/bin/env python3
"""Scrape cost of two (or more) agent binaries side by side, in the same run: a ratio that other
load on the machine does not skew the way two separate runs of scrape_cost.py can.

Starts N sleeping busybox containers (with --mix, those of scrape_cost.py: most sleep, a fifth spin
20 ms a second, a fifth ping once a second), then one agent per binary on ephemeral ports, all
watching the same engine; then, for R rounds, scrapes each agent in turn 5 times as plain text and
5 times with `Accept-Encoding: gzip` (what Prometheus sends), --gap seconds apart (default 0: back
to back), and takes the threads' schedstat run time of each scrape. Prints each binary's median
and min for both, and each median as a ratio of the first binary's. Removes everything it started.
Figures, not pass/fail.

    sudo python3 bench/scrape_ab.py BASELINE_BINARY CANDIDATE_BINARY [--count 100] [--rounds 15]
    sudo python3 bench/scrape_ab.py BASELINE CANDIDATE --mix --gap 0.5   # each agent ~1 s apart
"""

import argparse
import glob
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import harness as h  # noqa: E402
from scrape_cost import start_containers  # noqa: E402


def run_time_ns(pid: int) -> int:
    return sum(int(Path(f).read_text().split()[0]) for f in glob.glob(f"/proc/{pid}/task/*/schedstat"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", help="agent binaries; the first is the baseline")
    ap.add_argument("--count", type=int, default=100, help="containers (default 100)")
    ap.add_argument("--rounds", type=int, default=15, help="rounds of 5 scrapes per agent (default 15)")
    ap.add_argument("--mix", action="store_true",
                    help="scrape_cost.py's containers (some spin, some ping) instead of all sleeping")
    ap.add_argument("--gap", type=float, default=0.0,
                    help="seconds between two scrapes (default 0: back to back)")
    args = ap.parse_args()

    h.ensure_engine()
    docker = h.Docker()
    agents: list[subprocess.Popen] = []
    tmp = tempfile.TemporaryDirectory(prefix="swarmwatch-ab-")
    try:
        if args.mix:
            start_containers(docker, args.count)
        else:
            for _ in range(args.count):
                docker.run("ab")
        ports = []
        for i, binary in enumerate(args.binaries):
            port = h.free_port()
            agents.append(subprocess.Popen(
                [binary, "--listen-address", f"127.0.0.1:{port}",
                 "--positions-file", f"{tmp.name}/positions-{i}.json"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            ports.append(port)
        for port in ports:
            h.wait_until(lambda: h.http_get(f"http://127.0.0.1:{port}/metrics").text.count(
                "\ncontainer_cpu_usage_seconds_total{") >= args.count, 60, what=f"agent on {port}")
        encodings = {"plain": {}, "gzip": {"Accept-Encoding": "gzip"}}
        samples = {name: [[] for _ in ports] for name in encodings}
        for _ in range(args.rounds):
            for i, port in enumerate(ports):
                for name, headers in encodings.items():
                    for _ in range(5):
                        before = run_time_ns(agents[i].pid)
                        urllib.request.urlopen(urllib.request.Request(
                            f"http://127.0.0.1:{port}/metrics", headers=headers)).read()
                        time.sleep(0.02)  # the answer's last bytes may leave after the client has them
                        samples[name][i].append((run_time_ns(agents[i].pid) - before) / 1e6)
                        time.sleep(args.gap)
        print(f"N={args.count} ({'scrape_cost.py mix' if args.mix else 'sleeping'}), {args.rounds} "
              f"rounds of 5 plain and 5 gzip scrapes, interleaved, {args.gap:g} s apart")
        print("   plain: median      min  ratio |    gzip: median      min  ratio | binary")
        base = {name: statistics.median(samples[name][0]) for name in encodings}
        for i, binary in enumerate(args.binaries):
            row = ""
            for name in encodings:
                s = samples[name][i]
                median = statistics.median(s)
                row += f"{median:11.2f} ms {min(s):8.2f}  x{median / base[name]:.2f} |"
            print(f"{row} {binary}")
    finally:
        for agent in agents:
            agent.terminate()
        for agent in agents:
            try:
                agent.wait(20)
            except subprocess.TimeoutExpired:
                agent.kill()
        docker.close()
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
