#!/usr/bin/env python3
"""What a scrape costs the agent on a node with N real containers.

For each N (default 10, 50, 100): start N busybox containers (every fifth spins a little CPU, every
fifth sends a little network traffic to itself), start the agent, wait until /ready, then scrape
/metrics 40 times one second apart (as Prometheus does), alternately with and without
`Accept-Encoding: gzip`, measuring per scrape
  - the agent's CPU time (utime+stime from /proc/<pid>/stat, delta around the request; and the
    threads' schedstat run time, which has nanosecond rather than clock-tick resolution),
  - the wall time of the HTTP answer, and the response size (bytes on the wire);
then the agent's RSS (VmRSS, VmHWM) and the CPU it spends over 10 idle seconds without scrapes, and
the split of the scrapes' CPU into user and system time (means, as each reading is whole ticks),
and the floor: what reading the files the agent read in one scrape (found with strace) costs
alone, measured by bench/kernel_files_floor (built beside the agent).
Prints a table (median and p90) and removes everything it started. Figures, not pass/fail.

    sudo python3 bench/scrape_cost.py [--agent build/agent/swarmwatch] [--counts 10,50,100]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import harness as h  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def sched_seconds(pid: int) -> float:
    """CPU time on all the agent's threads from schedstat (ns resolution, unlike utime+stime)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # thread ended between listing and reading
    return total / 1e9


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def scrape_once(url: str, gzip: bool):
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    req = urllib.request.Request(url, headers=headers)
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
        encoding = r.headers.get("Content-Encoding", "")
    return time.monotonic() - start, len(body), encoding


def start_containers(docker: h.Docker, n: int):
    containers = []
    for i in range(n):
        if i % 5 == 1:  # a little CPU: `yes` for 20 ms every second
            # Not `busybox timeout 0.02`: its timer counts whole seconds, so `yes` ran ~1 s in 2 and
            # twenty of them kept both cores saturated.
            cmd = ["sh", "-c", "while :; do busybox yes >/dev/null & p=$!; busybox usleep 20000; "
                               "kill $p; wait $p; busybox sleep 1; done"]
        elif i % 5 == 2:  # a little network on eth0: a 1 KB ping to the bridge gateway every second
            cmd = ["sh", "-c", "gw=$(busybox ip route | busybox awk '/default/ {print $3}'); "
                               "exec busybox ping -q -i 1 -s 1000 \"$gw\""]
        else:
            cmd = ["busybox", "sleep", "86400"]
        containers.append(docker.run(f"bench{i}", cmd=cmd))
    return containers


def files_read_in_one_scrape(agent) -> list:
    """The paths of the files the agent reads (pread) in one scrape, from strace; [] without it."""
    out = Path(f"/tmp/scrape-cost-strace-{os.getpid()}")
    try:
        tracer = subprocess.Popen(["strace", "-q", "-f", "-e", "trace=pread64", "-e", "signal=none",
                                   "-o", str(out), "-p", str(agent.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        print("  note: strace not installed (apt-get install strace): no floor")
        return []
    time.sleep(1)  # strace attaches to every thread
    scrape_once(agent.url + "/metrics", False)
    time.sleep(0.2)
    tracer.terminate()
    tracer.wait()
    fds = set()
    for line in out.read_text().splitlines():
        call = line.split(None, 1)[-1]  # after the thread id, which strace pads
        if call.startswith("pread64("):
            fds.add(call[len("pread64("):].split(",", 1)[0])
    out.unlink()
    paths = []
    for fd in sorted(fds, key=int):
        try:
            paths.append(os.readlink(f"/proc/{agent.pid}/fd/{fd}"))
        except OSError:
            pass  # closed since: a process that exited
    return [p for p in paths if p.startswith("/")]


def kernel_files_floor(agent, passes: int):
    """{"files", "median_ms", ...} from bench/kernel_files_floor, built beside the agent, or None."""
    tool = Path(h.agent_binary()).resolve().parents[1] / "bench" / "kernel_files_floor"
    if not tool.exists():
        print(f"  note: {tool} not built (cmake --build <dir> --target kernel_files_floor): no floor")
        return None
    paths = files_read_in_one_scrape(agent)
    if not paths:
        print("  note: strace saw no file read in a scrape: no floor")
        return None
    out = subprocess.run([str(tool), str(passes), "1000"], input="\n".join(paths), capture_output=True,
                         text=True, check=True).stdout.split()
    return {key: float(value) for key, value in zip(out[0::2], out[1::2])}


def measure(n: int, scrapes: int, idle: float, agent_args):
    docker = h.Docker()
    agent = None
    try:
        t0 = time.monotonic()
        containers = start_containers(docker, n)
        print(f"  N={n}: started {len(containers)} containers in {time.monotonic() - t0:.1f}s", flush=True)
        agent = h.Agent("--docker-host", h.HOST_SOCKET, *agent_args)
        agent.wait_ready(60)
        wanted = {c.cgroup_id for c in containers}
        h.wait_until(lambda: wanted <= agent.scrape().ids(), 30, what="all containers in /metrics")
        time.sleep(1)

        rows = {True: [], False: []}
        for i in range(scrapes):
            gz = i % 2 == 0
            (user0, sys0), sched0 = h.process_user_system_seconds(agent.pid), sched_seconds(agent.pid)
            wall, size, encoding = scrape_once(agent.url + "/metrics", gz)
            time.sleep(0.05)  # let the last accounting tick land before reading the counters
            (user1, sys1), sched1 = h.process_user_system_seconds(agent.pid), sched_seconds(agent.pid)
            if gz and encoding != "gzip":
                print(f"  note: asked for gzip, got Content-Encoding {encoding!r}")
            rows[gz].append((user1 - user0 + sys1 - sys0, wall, size, sched1 - sched0,
                             user1 - user0, sys1 - sys0))
            time.sleep(max(0.0, 1.0 - wall - 0.05))
        rss, hwm = status_kib(agent.pid, "VmRSS"), status_kib(agent.pid, "VmHWM")
        sched0 = sched_seconds(agent.pid)
        time.sleep(idle)
        idle_cpu = sched_seconds(agent.pid) - sched0
        floor = kernel_files_floor(agent, scrapes // 2)
        last = agent.scrape()
        reported = len([i for i in last.ids() if i != "/"])  # the engine may run others' containers too
        return {"n": n, "rows": rows, "rss": rss, "hwm": hwm, "idle_cpu": idle_cpu,
                "series": len(last.samples), "reported": reported, "floor": floor}
    finally:
        if agent:
            agent.stop()
        docker.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", help="agent binary (default: $AGENT_BIN, build/, build-it/)")
    ap.add_argument("--counts", default="10,50,100", help="container counts, comma-separated")
    ap.add_argument("--scrapes", type=int, default=40,
                    help="scrapes per N, half with gzip (the target is a median of 20)")
    ap.add_argument("--idle", type=float, default=10.0, help="idle seconds to measure background CPU")
    ap.add_argument("agent_args", nargs="*", help="extra agent arguments (after --)")
    args = ap.parse_args()
    if args.agent:
        os.environ["AGENT_BIN"] = args.agent
    h.ensure_engine()
    print(f"agent: {h.agent_binary()}; clock ticks {TICKS}/s (CPU resolution {1000 / TICKS:.0f} ms per "
          f"reading: per-scrape CPU is a median over many scrapes for that reason)")
    results = [measure(int(n), args.scrapes, args.idle, args.agent_args) for n in args.counts.split(",")]

    print()
    print("  N  (agent sees) series gzip | CPU ms/scrape (stat) | CPU ms/scrape (sched) | answer ms     | size KiB | RSS MiB  HWM MiB | idle CPU")
    print("                              |   median    p90      |   median    p90       | median   p90  | median   |                  | ms per 10 s")
    for r in results:
        for gz in (True, False):
            rows = r["rows"][gz]
            if not rows:
                continue
            cpu = [x[0] * 1000 for x in rows]
            sched = [x[3] * 1000 for x in rows]
            wall = [x[1] * 1000 for x in rows]
            size = [x[2] / 1024 for x in rows]
            print(f"{r['n']:>3}  ({r['reported']:>5})     {r['series']:>6} {'yes' if gz else 'no':>4} | "
                  f"{statistics.median(cpu):8.1f} {percentile(cpu, 0.9):7.1f}      | "
                  f"{statistics.median(sched):8.2f} {percentile(sched, 0.9):7.2f}       | "
                  f"{statistics.median(wall):6.1f} {percentile(wall, 0.9):6.1f} | "
                  f"{statistics.median(size):8.1f} | {r['rss'] / 1024:7.1f}  {r['hwm'] / 1024:7.1f} | "
                  f"{r['idle_cpu'] * 1000 * 10 / args.idle:8.1f}")
    print("(stat: utime+stime, whole clock ticks; sched: sum of the threads' schedstat run time)")
    print()
    print("  N gzip | user ms/scrape  system ms/scrape   (utime and stime, means over the scrapes)")
    for r in results:
        for gz in (True, False):
            rows = r["rows"][gz]
            if rows:
                user = sum(x[4] for x in rows) * 1000 / len(rows)
                system = sum(x[5] for x in rows) * 1000 / len(rows)
                print(f"{r['n']:>3} {'yes' if gz else 'no':>4} | {user:14.2f}  {system:16.2f}")
    print("(system time is mostly the kernel writing the cgroup and proc files the agent reads;")
    print(" a single clock tick is 10 ms, so only the mean over many scrapes means anything)")
    print()
    print("  N | files | kernel floor ms/pass | agent CPU/scrape / floor  (the floor: reading the files")
    print("    |       |   median    p90      |   gzip     plain           of one scrape, nothing else)")
    for r in results:
        floor = r["floor"]
        if not floor:
            continue
        ratios = []
        for gz in (True, False):
            sched = [x[3] * 1000 for x in r["rows"][gz]]
            ratios.append(statistics.median(sched) / floor["median_ms"] if sched else float("nan"))
        print(f"{r['n']:>3} | {int(floor['files']):>5} | {floor['median_ms']:8.2f} {floor['p90_ms']:7.2f}      | "
              f"  x{ratios[0]:.2f}    x{ratios[1]:.2f}")
    print()
    print("targets at N=100: CPU/scrape median <= 10 ms, answer <= 30 ms, RSS < 20 MiB, "
          "idle CPU ~0 (events stream only)")


if __name__ == "__main__":
    main()
