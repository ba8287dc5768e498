// Reads what cgroups do not hold from a procfs (the host's, mounted at `proc_root`): a container's
// network counters in its own namespace, thread states, block device names, the machine's size.
// Per-container files stay open between reads (see KernelFileReader); copies share them. Not
// thread-safe: one scrape at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/result.h"
#include "exporters/container_stats.h"
#include "exporters/kernel_file_reader.h"

namespace swarmwatch {

class FlatKeyedLayout;

class HostLinkStats;

struct NetInterfaceStats {
  std::string name;
  std::uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  std::uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};

// container_tasks_state{state}. /proc cannot tell iowait from uninterruptible sleep: iowait stays
// 0.
struct TaskStateCounts {
  std::uint64_t running = 0, sleeping = 0, stopped = 0, uninterruptible = 0, iowait = 0;
};

// What the agent reads of /proc/<tid>/stat.
struct TaskStat {
  char state = 0;
  std::optional<std::uint64_t> num_threads;
};

struct MachineInfo {
  std::uint64_t cpu_cores = 0;
  std::uint64_t memory_bytes = 0;
};

using DeviceNumber = std::pair<std::uint32_t, std::uint32_t>;  // major, minor

class ProcReader {
 public:
  explicit ProcReader(std::string proc_root);

  // <proc_root>/<pid>/net/dev without the interfaces cAdvisor ignores (lo, veth*, docker*).
  Result<std::vector<NetInterfaceStats>> NetDev(std::int64_t pid) const;
  // The same for the host (pid 1), from rtnetlink where the agent shares the host's network
  // namespace (see HostLinkStats), else from its net/dev.
  Result<std::vector<NetInterfaceStats>> HostNetDev() const;
  // The states of the threads of `process_ids` (a cgroup's processes), and how many threads they
  // have. One /proc/<pid>/stat per process tells its state and thread count; only when a process
  // has more threads is `list_threads` (the cgroup's thread ids) called and the other threads'
  // /proc/<tid>/stat read: most containers' processes have one thread, and this saves reading the
  // thread list. Processes and threads that vanished are not counted; `threads` is empty when
  // `list_threads` could not list them.
  struct Tasks {
    TaskStateCounts states;
    std::optional<std::uint64_t> threads;
  };
  using ThreadLister = std::function<std::optional<std::vector<std::int64_t>>()>;
  Tasks TaskStates(const std::vector<std::int64_t>& process_ids,
                   const ThreadLister& list_threads) const;
  // Keeps the processes' /proc/<pid>/stat open through the next CloseUnusedFiles, for a caller
  // that does not read them this time (the other threads' files of a multi-threaded process are
  // closed, and opened again at their next read).
  void KeepTaskFiles(const std::vector<std::int64_t>& process_ids) const;
  // From <proc_root>/partitions: "8:0" -> "/dev/sda".
  std::map<DeviceNumber, std::string> BlockDeviceNames() const;
  Result<MachineInfo> Machine() const;
  // The threads that exist on the host (from <proc_root>/loadavg).
  std::optional<std::uint64_t> HostThreads() const;
  // The host's memory and swap in use from <proc_root>/meminfo (see ParseHostMemoryInUse).
  std::optional<HostMemoryInUse> HostMemory() const;
  // The OOM kills on the host since boot (<proc_root>/vmstat oom_kill), empty on kernels without.
  std::optional<std::uint64_t> HostOomKills() const;
  // Closes the files of processes not read since the last call.
  void CloseUnusedFiles() const;

 private:
  std::optional<TaskStat> ReadTaskStat(std::int64_t tid) const;

  struct HostLinks {
    bool opened = false;
    std::unique_ptr<HostLinkStats> stats;  // null: not in the host's network namespace
  };

  std::string root_;
  std::shared_ptr<KernelFileReader> files_;
  std::shared_ptr<HostLinks> host_links_;
  std::shared_ptr<FlatKeyedLayout> vmstat_layout_;
};

}  // namespace swarmwatch
