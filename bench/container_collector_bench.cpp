// The agent's own share of a scrape: ContainerCollector::WriteText over N containers whose cgroup
// and proc files are regular files (copies of the v1 fixture, as on a hybrid host: unified
// cpu.stat, cgroup.procs and PSI), so that the kernel's share is a page-cache read rather than
// the cgroup and proc files' generation, which bench/kernel_files_floor measures. What is left
// is the agent's parsing, bookkeeping and exposition text, the user time of a live scrape.
// Labels as on a Swarm node (service, task, stack, node). Each iteration is one scrape; bytes/s
// is the exposition's size. The files live on /dev/shm where it exists.
//
//   BM_WriteText/N: N = 10, 100.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "exporters/container_collector.h"
#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

namespace fs = std::filesystem;

const std::string kTestdata = SWARMWATCH_TESTDATA;

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A node of `count` containers under `root`/cgroup and `root`/proc.
ContainerMap MakeNode(const std::string& root, int count) {
  const fs::path cgroup = fs::path(root) / "cgroup";
  const fs::path proc = fs::path(root) / "proc";
  fs::copy(kTestdata + "/cgroup_v1/separate", cgroup, fs::copy_options::recursive);
  fs::copy(kTestdata + "/proc", proc, fs::copy_options::recursive);
  ContainerMap containers;
  for (int i = 0; i < count; ++i) {
    char id[65];
    std::snprintf(id, sizeof id, "%064x", 0x5eed0000 + i);
    const std::int64_t pid = 30000 + i;
    for (const char* controller : {"blkio", "cpu", "cpuacct", "memory", "pids"}) {
      fs::copy(cgroup / controller / "docker/abc123", cgroup / controller / "docker" / id,
               fs::copy_options::recursive);
    }
    const fs::path unified = cgroup / "unified/docker" / id;
    fs::copy(cgroup / "unified/docker/abc123", unified, fs::copy_options::recursive);
    WriteFile(unified / "cpu.stat", "usage_usec " + std::to_string(2634941216 + i) +
                                        "\nuser_usec 2278884331\nsystem_usec 356056884\n"
                                        "nice_usec 0\n");
    WriteFile(unified / "cgroup.procs", std::to_string(pid) + "\n");
    fs::copy(proc / "10139", proc / std::to_string(pid), fs::copy_options::recursive);

    ContainerInfo c;
    c.id = id;
    c.name = "shop_web." + std::to_string(i + 1) + ".x7kq2m9d0a1b2c3d4e5f6g7h8";
    c.image = "127.0.0.1:5000/swarmwatch-stack/web:latest@sha256:4f0a1e";
    c.running = true;
    c.pid = pid;
    c.started_at = 1764139000.25 + i;
    c.cgroup_path = std::string("/docker/") + id;
    c.labels = {{"com.docker.swarm.service.name", "shop_web"},
                {"com.docker.swarm.task.name", c.name},
                {"com.docker.stack.namespace", "shop"},
                {"com.docker.swarm.node.id", "vt3yq8l3cbwtkqp0m1wz4zq1n"}};
    containers.emplace(c.id, std::move(c));
  }
  return containers;
}

void BM_WriteText(benchmark::State& state) {
  // On tmpfs where there is one: no journal or writeback of the fresh tree behind the reads.
  if (fs::is_directory("/dev/shm"))
    ::setenv("TMPDIR", "/dev/shm", 1);
  testing::TempDir dir("swarmwatch-bench");
  auto snapshot =
      std::make_shared<const ContainerMap>(MakeNode(dir.path(), static_cast<int>(state.range(0))));
  ContainerCollectorOptions options;
  double now = 1764140000.5;
  options.now = [&now] { return now; };
  const ContainerCollector collector([snapshot] { return snapshot; },
                                     CgroupReader(dir.path() + "/cgroup", CgroupVersion::kV1),
                                     ProcReader(dir.path() + "/proc"), options);
  std::string text;
  collector.WriteText(text);  // opens the files, as the agent's first scrape
  std::size_t bytes = 0;
  for (auto _ : state) {
    now += 1;
    text.clear();
    collector.WriteText(text);
    bytes += text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["series"] = static_cast<double>(std::count(text.begin(), text.end(), '\n'));
}
BENCHMARK(BM_WriteText)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace swarmwatch

BENCHMARK_MAIN();
