#!/usr/bin/env python3
"""What the host metrics (issue 18) cost the agent per scrape, and what node_exporter costs, in
one run on a node with N real containers.

Starts N containers (scrape_cost.py's mix: most sleep, a fifth spin 20 ms a second, a fifth ping
once a second), then, watching the same engine and the same host:
  - the agent with host metrics on (`--host-root /`),
  - the agent with them off (`--host-metrics=false`),
  - Debian's node_exporter with its default collectors (what a node runs today beside cAdvisor),
  - node_exporter with only the collectors the agent has (cpu, stat, loadavg, meminfo, vmstat,
    filesystem, diskstats, netdev, pressure, uname, os; plus netclass and time, where
    node_exporter keeps node_network_up/info and node_time_seconds),
all with the upstream excludes of tests/integration/harness.py. Then R rounds: each target is
scraped once per round, in a rotating order, `--gap` seconds apart (so each about once a second
with the default), with `Accept-Encoding: gzip` as Prometheus sends it, and the CPU of each scrape
is the sum of the process's threads' schedstat run time around the request (ns resolution).
Also the whole run's CPU per scrape (background work included: the agent's event stream, its
statfs threads), and each process's RSS (VmRSS, VmHWM) at the end.

Prints a table and the ratios. Removes everything it started. Figures, not pass/fail.

    sudo python3 bench/node_metrics_cost.py [--agent build/agent/swarmwatch] [--count 100] [--rounds 20]
"""

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
import harness as h  # noqa: E402
from scrape_cost import percentile, sched_seconds, start_containers, status_kib  # noqa: E402

AGENT_COLLECTORS = ("cpu", "stat", "loadavg", "meminfo", "vmstat", "filesystem", "diskstats", "netdev",
                    "pressure", "uname", "os", "netclass", "time")


def scrape(url: str) -> tuple[float, int, str]:
    """(wall seconds, bytes on the wire, body) of one gzip scrape."""
    req = urllib.request.Request(url + "/metrics", headers={"Accept-Encoding": "gzip"})
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
        gz = r.headers.get("Content-Encoding", "") == "gzip"
    wall = time.monotonic() - start
    return wall, len(body), (gzip.decompress(body) if gz else body).decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", help="agent binary (default: $AGENT_BIN, build/, build-it/)")
    ap.add_argument("--count", type=int, default=100, help="containers (default 100)")
    ap.add_argument("--rounds", type=int, default=20, help="scrapes of each target (default 20)")
    ap.add_argument("--gap", type=float, default=0.25,
                    help="seconds between two scrapes (default 0.25: four targets, each ~1 s apart)")
    args = ap.parse_args()
    if args.agent:
        os.environ["AGENT_BIN"] = args.agent
    h.ensure_engine()
    print(f"agent: {h.agent_binary()}; node_exporter: {h.node_exporter_missing() or 'Debian 1.5'}")

    docker = h.Docker()
    closers = []
    tmp = tempfile.TemporaryDirectory(prefix="swarmwatch-nodecost-")
    try:
        t0 = time.monotonic()
        containers = start_containers(docker, args.count)
        print(f"started {len(containers)} containers in {time.monotonic() - t0:.1f}s", flush=True)
        common = ("--docker-host", h.HOST_SOCKET)
        on = h.Agent(*common, "--host-root", "/", "--positions-file", f"{tmp.name}/on.json")
        closers.append(on.stop)
        off = h.Agent(*common, "--host-metrics=false", "--positions-file", f"{tmp.name}/off.json")
        closers.append(off.stop)
        ne_all = h.NodeExporter()
        closers.append(ne_all.close)
        ne_same = h.NodeExporter("--collector.disable-defaults",
                                 *(f"--collector.{c}" for c in AGENT_COLLECTORS))
        closers.append(ne_same.close)
        wanted = {c.cgroup_id for c in containers}
        for agent in (on, off):
            agent.wait_ready(60)
            h.wait_until(lambda: wanted <= agent.scrape().ids(), 60, what="all containers in /metrics")
        if not on.scrape().select("node_cpu_seconds_total"):
            raise SystemExit("the agent with --host-root / exports no node_cpu_seconds_total: "
                             "built without host metrics?")
        if [s for s in off.scrape().samples if s.name.startswith("node_")]:
            raise SystemExit("the agent with --host-metrics=false still exports node_* series")

        targets = [("agent, host metrics on", on.url, on.pid),
                   ("agent, host metrics off", off.url, off.pid),
                   ("node_exporter, default collectors", ne_all.url, ne_all.pid),
                   ("node_exporter, the agent's collectors", ne_same.url, ne_same.pid)]
        for _, url, _ in targets:  # every file read once, every first-statfs wait over
            scrape(url)
        time.sleep(1)
        cpu = {name: [] for name, _, _ in targets}
        wall = {name: [] for name, _, _ in targets}
        size = {name: 0 for name, _, _ in targets}
        series = {name: 0 for name, _, _ in targets}
        run_start = {name: sched_seconds(pid) for name, _, pid in targets}
        for r in range(args.rounds):
            for i in range(len(targets)):
                name, url, pid = targets[(i + r) % len(targets)]
                before = sched_seconds(pid)
                seconds, nbytes, text = scrape(url)
                time.sleep(0.02)  # the answer's last bytes may leave after the client has them
                cpu[name].append((sched_seconds(pid) - before) * 1000)
                wall[name].append(seconds * 1000)
                size[name] = nbytes
                series[name] = sum(1 for line in text.split("\n") if line and not line.startswith("#"))
                time.sleep(args.gap)
        run_cpu = {name: (sched_seconds(pid) - run_start[name]) * 1000 / args.rounds
                   for name, _, pid in targets}
        memory = {name: (status_kib(pid, "VmRSS") / 1024, status_kib(pid, "VmHWM") / 1024)
                  for name, _, pid in targets}
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception as e:  # go on removing the rest
                print(f"clean-up: {e!r}")
        docker.close()
        tmp.cleanup()

    print()
    print(f"N={args.count} containers (scrape_cost.py's mix), {args.rounds} gzip scrapes of each target, "
          f"rotating, {args.gap} s apart")
    print(f"{'target':<38} {'series':>6} {'KiB':>6} | CPU ms/scrape median   p90    min | run CPU ms/scrape "
          f"| answer ms | RSS MiB  HWM MiB")
    for name, _, _ in targets:
        c = cpu[name]
        print(f"{name:<38} {series[name]:>6} {size[name] / 1024:6.1f} | {statistics.median(c):20.2f} "
              f"{percentile(c, 0.9):6.2f} {min(c):6.2f} | {run_cpu[name]:17.2f} | "
              f"{statistics.median(wall[name]):9.1f} | {memory[name][0]:7.1f}  {memory[name][1]:7.1f}")
    on_name, off_name, ne_name, ne_same_name = (t[0] for t in targets)
    m_on, m_off = statistics.median(cpu[on_name]), statistics.median(cpu[off_name])
    paired = statistics.median(a - b for a, b in zip(cpu[on_name], cpu[off_name]))
    added = m_on - m_off
    print()
    # The minimums: the scrapes no other tenant of the machine got in the way of.
    floor = min(cpu[on_name]) - min(cpu[off_name])
    print(f"host metrics: {added:+.2f} ms per scrape (median on - median off; median of the rounds' "
          f"differences {paired:+.2f} ms; min on - min off {floor:+.2f} ms), on/off x{m_on / m_off:.2f}; "
          f"issue 18's target: at most +1 ms")
    for name in (ne_name, ne_same_name):
        m = statistics.median(cpu[name])
        share = f"x{m / added:.1f} the agent's host metrics, " if added > 0 else ""
        print(f"{name}: {m:.2f} ms per scrape = {share}x{m / m_on:.2f} the agent's whole scrape")
    print(f"agent RSS at N={args.count}: {memory[on_name][0]:.1f} MiB with host metrics "
          f"({memory[off_name][0]:.1f} without); issue 18's target: under 20 MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
