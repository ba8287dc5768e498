#include "exporters/proc_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <string_view>

#include "exporters/cgroup_parsers.h"

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

}  // namespace

ProcReader::ProcReader(std::string proc_root)
    : root_(std::move(proc_root)), files_(std::make_shared<KernelFileReader>()) {
  while (root_.size() > 1 && root_.back() == '/') {
    root_.pop_back();
  }
}

Result<std::vector<NetInterfaceStats>> ProcReader::NetDev(std::int64_t pid) const {
  const std::string path = root_ + "/" + std::to_string(pid) + "/net/dev";
  const auto text = files_->Read(path);
  if (!text) {
    return Error{"cannot read " + path};
  }
  auto interfaces = ParseNetDev(*text);
  if (!interfaces) {
    return Error{"malformed " + path};
  }
  std::erase_if(*interfaces, [](const NetInterfaceStats& s) { return IsIgnoredInterface(s.name); });
  return std::move(*interfaces);
}

TaskStateCounts ProcReader::TaskStates(const std::vector<std::int64_t>& thread_ids) const {
  TaskStateCounts counts;
  std::string path;
  for (const std::int64_t tid : thread_ids) {
    path.assign(root_).append("/").append(std::to_string(tid)).append("/stat");
    const auto text = files_->Read(path);
    if (!text) {
      continue;  // the thread exited since the cgroup was read
    }
    const auto state = ParseTaskState(*text);
    if (!state) {
      continue;
    }
    switch (*state) {
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
  return counts;
}

std::map<DeviceNumber, std::string> ProcReader::BlockDeviceNames() const {
  std::string text;
  if (!ReadWholeFile(root_ + "/partitions", text)) {
    return {};
  }
  return ParsePartitions(text);
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
