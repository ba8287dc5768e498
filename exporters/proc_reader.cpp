#include "exporters/proc_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <string_view>

#include "exporters/cgroup_parsers.h"
#include "exporters/host_link_stats.h"

namespace swarmwatch {
namespace {

ssize_t ReadSome(int fd, char* data, std::size_t size) {
  ssize_t got = 0;
  do {
    got = ::read(fd, data, size);
  } while (got < 0 && errno == EINTR);
  return got;
}

// The whole file into `out` (reusing its capacity). False when it cannot be opened or read.
bool ReadWholeFile(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  constexpr std::size_t kChunk = 4096;
  out.clear();
  bool ok = true;
  for (;;) {
    const std::size_t old_size = out.size();
    out.resize(old_size + kChunk);
    const ssize_t got = ReadSome(fd, out.data() + old_size, kChunk);
    if (got < 0) {
      ok = false;
      break;
    }
    out.resize(old_size + static_cast<std::size_t>(got));
    if (got == 0) {
      break;
    }
  }
  ::close(fd);
  return ok;
}

constexpr std::size_t kStatSlot = 0;
constexpr std::size_t kNetDevSlot = 1;

std::string ProcessDir(const std::string& root, std::int64_t pid) {
  std::string dir = root;
  dir.push_back('/');
  dir.append(std::to_string(pid));
  return dir;
}

void CountState(char state, TaskStateCounts& counts) {
  switch (state) {
    case 'R':
      ++counts.running;
      break;
    case 'S':
    case 'I':
      ++counts.sleeping;
      break;
    case 'T':
    case 't':
      ++counts.stopped;
      break;
    case 'D':
      ++counts.uninterruptible;
      break;
    default:  // Z, X: not counted, as cAdvisor
      break;
  }
}

}  // namespace

ProcReader::ProcReader(std::string proc_root)
    : root_(std::move(proc_root)),
      files_(std::make_shared<KernelFileReader>()),
      host_links_(std::make_shared<HostLinks>()),
      vmstat_layout_(std::make_shared<FlatKeyedLayout>()) {
  while (root_.size() > 1 && root_.back() == '/') {
    root_.pop_back();
  }
}

Result<std::vector<NetInterfaceStats>> ProcReader::NetDev(std::int64_t pid) const {
  const std::string dir = ProcessDir(root_, pid);
  KernelFileReader::FileSet& set = files_->Files(dir);
  const auto text = files_->Read(set, kNetDevSlot, dir, "net/dev");
  if (!text) {
    return Error{"cannot read " + dir + "/net/dev"};
  }
  auto interfaces = ParseNetDev(*text);
  if (!interfaces) {
    return Error{"malformed " + dir + "/net/dev"};
  }
  std::erase_if(*interfaces, [](const NetInterfaceStats& s) { return IsIgnoredInterface(s.name); });
  return std::move(*interfaces);
}

Result<std::vector<NetInterfaceStats>> ProcReader::HostNetDev() const {
  if (!host_links_->opened) {
    host_links_->opened = true;
    host_links_->stats = HostLinkStats::OpenInHostNamespace(root_);
  }
  if (host_links_->stats) {
    if (auto interfaces = host_links_->stats->Read())
      return std::move(*interfaces);
  }
  return NetDev(1);
}

std::optional<TaskStat> ProcReader::ReadTaskStat(std::int64_t tid) const {
  const std::string dir = ProcessDir(root_, tid);
  KernelFileReader::FileSet& set = files_->Files(dir);
  const auto text = files_->Read(set, kStatSlot, dir, "stat");
  return text ? ParseTaskStat(*text) : std::nullopt;
}

ProcReader::Tasks ProcReader::TaskStates(const std::vector<std::int64_t>& process_ids,
                                         const ThreadLister& list_threads) const {
  Tasks tasks;
  std::uint64_t threads = 0;
  bool multithreaded = false;
  for (const std::int64_t pid : process_ids) {
    const auto stat = ReadTaskStat(pid);
    if (!stat) {
      continue;  // the process exited since the cgroup was read
    }
    CountState(stat->state, tasks.states);
    // An unknown count is treated as several threads: the thread list then tells.
    multithreaded = multithreaded || stat->num_threads != 1u;
    threads += stat->num_threads.value_or(1);
  }
  if (!multithreaded) {
    tasks.threads = threads;
    return tasks;
  }
  const auto thread_ids = list_threads();
  if (!thread_ids) {
    return tasks;
  }
  tasks.threads = thread_ids->size();
  std::vector<std::int64_t> leaders = process_ids;
  std::sort(leaders.begin(), leaders.end());
  for (const std::int64_t tid : *thread_ids) {
    if (std::binary_search(leaders.begin(), leaders.end(), tid)) {
      continue;  // counted above
    }
    if (const auto stat = ReadTaskStat(tid)) {
      CountState(stat->state, tasks.states);
    }
  }
  return tasks;
}

void ProcReader::KeepTaskFiles(const std::vector<std::int64_t>& process_ids) const {
  for (const std::int64_t pid : process_ids)
    files_->Files(ProcessDir(root_, pid));
}

std::map<DeviceNumber, std::string> ProcReader::BlockDeviceNames() const {
  const auto text = files_->Read(root_ + "/partitions");
  return text ? ParsePartitions(*text) : std::map<DeviceNumber, std::string>{};
}

std::optional<std::uint64_t> ProcReader::HostThreads() const {
  const auto text = files_->Read(root_ + "/loadavg");
  return text ? ParseLoadavgThreads(*text) : std::nullopt;
}

std::optional<std::uint64_t> ProcReader::HostOomKills() const {
  const auto text = files_->Read(root_ + "/vmstat");
  // ~180 lines, one of them wanted: stepped over through the layout.
  return text ? FlatKeyedValue(*text, "oom_kill", *vmstat_layout_) : std::nullopt;
}

std::optional<HostMemoryInUse> ProcReader::HostMemory() const {
  const auto text = files_->Read(root_ + "/meminfo");
  return text ? ParseHostMemoryInUse(*text) : std::nullopt;
}

Result<MachineInfo> ProcReader::Machine() const {
  MachineInfo info;
  std::string text;
  std::optional<std::uint64_t> cpus;
  if (ReadWholeFile(root_ + "/cpuinfo", text)) {
    cpus = CountCpusInCpuinfo(text);
  }
  if (!cpus && ReadWholeFile(root_ + "/stat", text)) {
    cpus = CountCpusInProcStat(text);
  }
  if (!cpus) {
    return Error{"cannot count CPUs from " + root_ + "/cpuinfo nor " + root_ + "/stat"};
  }
  info.cpu_cores = *cpus;
  std::optional<std::uint64_t> memory;
  if (ReadWholeFile(root_ + "/meminfo", text)) {
    memory = ParseMemTotalBytes(text);
  }
  if (!memory) {
    return Error{"cannot read MemTotal from " + root_ + "/meminfo"};
  }
  info.memory_bytes = *memory;
  return info;
}

void ProcReader::CloseUnusedFiles() const {
  files_->CloseUnused();
}

}  // namespace swarmwatch
