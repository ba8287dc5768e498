#!/usr/bin/env python3
"""Whether the agent keeps up with a container that logs flat out through Docker's rotation: a
container prints numbered lines as fast as busybox awk and dockerd's log copier go, into json-file
logs of `max-size=1m` with `max-file` kept; Docker deletes the oldest file at each rotation, so a
reader that falls more than max-file files behind loses the files it never saw.

Per max-file, it prints the writer's rate (from the container's start and finish times), what
reached the tests' Loki receiver (distinct numbered lines, duplicates), what was lost (lines never
received, and the agent's own count `swarmwatch_log_rotated_away_total`), and the agent's CPU.
The integration test (`test_log_shipping.py`) uses a paced writer the agent must keep up with;
this is the flat-out case, a figure rather than a pass/fail check: whether a reader keeps up with
a writer on another core depends on the machine and its load.

    sudo python3 bench/rotation_keepup.py                        # max-file 2, 3, 5; 300,000 lines
    sudo python3 bench/rotation_keepup.py --max-files 2 --runs 3 --agent build-release/agent/swarmwatch
See bench/README.md. Needs root and a Docker engine (scripts/ensure-docker).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import harness as h  # noqa: E402


def run_once(lines: int, max_file: int, pad: int, timeout: float) -> dict:
    docker = h.Docker()
    receiver = h.LokiReceiver()
    work = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-rotbench-"))
    agent = h.Agent(*h.shipping_args(receiver, work / "positions.json", "--start-position", "end"))
    try:
        agent.wait_ready(60)
        cpu0 = h.process_cpu_seconds(agent.pid)
        text = "x" * pad
        script = f'BEGIN {{ for (i = 0; i < {lines}; i++) print "seq " i " {text}" }}'
        c = docker.run("flat", "--log-opt", "max-size=1m", "--log-opt", f"max-file={max_file}",
                       cmd=["busybox", "awk", script])
        h.wait_until(lambda: docker("inspect", "-f", "{{.State.Status}}", c.id) == "exited", timeout,
                     interval=0.2, what=f"{c.name} to exit")
        state = c.inspect()["State"]
        wrote_s = h.parse_docker_time(state["FinishedAt"]) - h.parse_docker_time(state["StartedAt"])

        def settled():
            s = agent.scrape()
            if s.value("swarmwatch_log_read_ahead_bytes") != 0:
                return None
            return s if s.value("swarmwatch_loki_entries_sent_total") == receiver.stats()["entries"] else None
        h.wait_until(settled, timeout, interval=0.5, what="the agent to settle")
        time.sleep(2)  # the last rotation's file, picked up within a poll
        s = h.wait_until(settled, timeout, interval=0.5, what="the agent to settle again")
        cpu = h.process_cpu_seconds(agent.pid) - cpu0
        got = [int(e["line"].split()[1]) for e in receiver.entries()
               if e["labels"].get("container") == c.name and e["line"].startswith("seq ")]
        distinct = set(got)
        return {"wrote_s": wrote_s, "lines_per_s": lines / wrote_s if wrote_s > 0 else float("inf"),
                "mb_per_s": lines * (pad + 80) / wrote_s / 1e6 if wrote_s > 0 else float("inf"),
                "received": len(distinct), "duplicates": len(got) - len(distinct),
                "lost": lines - len(distinct),
                "rotated_away": s.value("swarmwatch_log_rotated_away_total"), "agent_cpu_s": cpu}
    finally:
        agent.kill()
        receiver.stop()
        docker.close()
        shutil.rmtree(work, True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=300_000)
    p.add_argument("--max-files", default="2,3,5")
    p.add_argument("--pad", type=int, default=60, help="bytes of padding per line (~80 more of json-file)")
    p.add_argument("--runs", type=int, default=1, help="runs per row; the median by lines lost is shown")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--agent", help="agent binary (default: AGENT_BIN or build*/agent/swarmwatch)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("rotation_keepup: needs root (docker, the engine's log files)", file=sys.stderr)
        return 2
    if args.agent:
        os.environ["AGENT_BIN"] = args.agent
    h.ensure_engine()
    print(f"{args.lines} lines of ~{args.pad + 80} bytes of json-file, flat out, max-size=1m; agent "
          f"{h.agent_binary()}")
    print("max-file | writer s  lines/s   MB/s | received  duplicates  lost  rotated_away | agent CPU s")
    for max_file in (int(x) for x in args.max_files.split(",")):
        runs = [run_once(args.lines, max_file, args.pad, args.timeout) for _ in range(args.runs)]
        r = sorted(runs, key=lambda x: x["lost"])[len(runs) // 2]
        print(f"{max_file:8d} | {r['wrote_s']:8.2f} {r['lines_per_s']:8.0f} {r['mb_per_s']:6.1f} | "
              f"{r['received']:8d} {r['duplicates']:11d} {r['lost']:5d} {r['rotated_away']:13.0f} | "
              f"{r['agent_cpu_s']:11.2f}", flush=True)
        if args.runs > 1:
            print(f"         lost per run: {[x['lost'] for x in runs]}; median {statistics.median(x['lost'] for x in runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
