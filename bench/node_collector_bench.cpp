// What the host's families (node_*) cost a scrape: NodeCollector::WriteText on this machine's own
// procfs and sysfs, kernel share included (the files are generated at each read), and statfs of
// its mounts through the worker thread. CPU is the process's (the worker's statfs counted), per
// scrape; the budget is 1 ms.
//
//   BM_LiveHost: proc_root /proc, host_root /.
//   BM_HostOf100Containers: the same, with the host's net/dev as it reads with 100 containers
//     running (100 veth lines more, each one looked up in the exclude memo) from a copy.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/config.h"
#include "exporters/node_collector.h"
#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

namespace fs = std::filesystem;

NodeCollectorOptions Options(std::string proc_root) {
  const Config defaults;
  NodeCollectorOptions options;
  options.proc_root = std::move(proc_root);
  options.host_root = "/";
  options.mount_points_exclude = defaults.filesystem_mount_points_exclude;
  options.fs_types_exclude = defaults.filesystem_fs_types_exclude;
  options.diskstats_device_exclude = defaults.diskstats_device_exclude;
  options.netdev_device_exclude = defaults.netdev_device_exclude;
  options.host_name = [] { return std::string("bench"); };
  options.swarm_node_id = [] { return std::string("j718zewtfhba2obizarr370zq"); };
  options.node_name = [] { return std::string("bench"); };
  return options;
}

void Run(benchmark::State& state, const NodeCollector& collector) {
  std::string text;
  for (auto _ : state) {
    text.clear();
    collector.WriteText(text);
    benchmark::DoNotOptimize(text.data());
  }
  std::size_t series = 0;
  for (std::size_t at = 0; at < text.size(); at = text.find('\n', at) + 1) {
    if (text[at] != '#')
      ++series;
  }
  state.counters["series"] = static_cast<double>(series);
  state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}

void BM_LiveHost(benchmark::State& state) {
  auto collector = NodeCollector::Create(Options("/proc"));
  if (!collector.ok()) {
    state.SkipWithError(collector.error().message.c_str());
    return;
  }
  Run(state, **collector);
}
BENCHMARK(BM_LiveHost)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

void BM_HostOf100Containers(benchmark::State& state) {
  testing::TempDir dir("swarmwatch-node-bench");
  const fs::path proc = dir.path();
  // The live files, but for pid 1's net/dev: the live one with 100 veths more.
  for (const char* name : {"stat", "loadavg", "meminfo", "vmstat", "diskstats", "pressure"})
    fs::create_symlink(fs::path("/proc") / name, proc / name);
  fs::create_directories(proc / "1/net");
  fs::create_symlink("/proc/1/mountinfo", proc / "1/mountinfo");
  std::ifstream live("/proc/1/net/dev");
  std::stringstream text;
  text << live.rdbuf();
  std::ofstream dev(proc / "1/net/dev");
  dev << text.str();
  for (int i = 0; i < 100; ++i) {
    char line[256];
    std::snprintf(line, sizeof line, "veth%07x: %d 1%d 0 0 0 0 0 0 %d 2%d 0 0 0 0 0 0\n",
                  0xa1b2c00 + i, 123456 + i, i, 654321 + i, i);
    dev << line;
  }
  dev.close();
  auto collector = NodeCollector::Create(Options(proc.string()));
  if (!collector.ok()) {
    state.SkipWithError(collector.error().message.c_str());
    return;
  }
  Run(state, **collector);
}
BENCHMARK(BM_HostOf100Containers)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace swarmwatch

BENCHMARK_MAIN();
