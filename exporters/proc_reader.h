// Reads what cgroups do not hold from a procfs (the host's, mounted at `proc_root`): a container's
// network counters in its own namespace, thread states, block device names, the machine's size.
// Per-container files stay open between reads (see KernelFileReader); copies share them. Not
// thread-safe: one scrape at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/result.h"
#include "exporters/kernel_file_reader.h"

namespace swarmwatch {

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
  // One /proc/<tid>/stat per thread; threads that vanished are not counted.
  TaskStateCounts TaskStates(const std::vector<std::int64_t>& thread_ids) const;
  // From <proc_root>/partitions: "8:0" -> "/dev/sda".
  std::map<DeviceNumber, std::string> BlockDeviceNames() const;
  Result<MachineInfo> Machine() const;
  // Closes the files of processes not read since the last call.
  void CloseUnusedFiles() const;

 private:
  std::string root_;
  std::shared_ptr<KernelFileReader> files_;
};

}  // namespace swarmwatch
