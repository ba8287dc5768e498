// One container's (or the root cgroup's) resource figures as read at scrape time, already in
// cAdvisor's units. A field left empty was not available (file absent, kernel too old) and its
// series is not exported.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace swarmwatch {

struct CpuStats {
  std::optional<double> usage_seconds;
  std::optional<double> user_seconds;
  std::optional<double> system_seconds;
  std::optional<std::uint64_t> cfs_periods;
  std::optional<std::uint64_t> cfs_throttled_periods;
  std::optional<double> cfs_throttled_seconds;
};

struct MemoryStats {
  std::optional<std::uint64_t> usage_bytes;
  std::optional<std::uint64_t> working_set_bytes;  // usage - inactive_file, floored at 0
  std::optional<std::uint64_t> rss;
  std::optional<std::uint64_t> cache;
  std::optional<std::uint64_t> swap;
  std::optional<std::uint64_t> mapped_file;
  std::optional<std::uint64_t> max_usage_bytes;
  std::optional<std::uint64_t> failcnt;
  // container_memory_failures_total{failure_type, scope}
  std::optional<std::uint64_t> pgfault_container;
  std::optional<std::uint64_t> pgmajfault_container;
  std::optional<std::uint64_t> pgfault_hierarchy;
  std::optional<std::uint64_t> pgmajfault_hierarchy;
  std::optional<std::uint64_t> oom_events;
  // memory.stat's inactive_file (v2) or total_inactive_file (v1): kept for the root's working set
  // on v2, whose usage comes from /proc/meminfo after the read (see UseHostMemoryForRoot).
  std::optional<std::uint64_t> inactive_file;
};

// The host's memory and swap in use, from /proc/meminfo (see ParseHostMemoryInUse).
struct HostMemoryInUse {
  std::uint64_t memory_bytes = 0;
  std::uint64_t swap_bytes = 0;
};

struct BlkioDeviceStats {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint64_t read_bytes = 0;
  std::uint64_t write_bytes = 0;
  std::uint64_t reads = 0;
  std::uint64_t writes = 0;
};

// Pressure stall information: cumulative totals of "some" (waiting) and "full" (stalled).
struct PressureStats {
  std::optional<double> waiting_seconds;
  std::optional<double> stalled_seconds;
};

struct SpecStats {
  std::optional<std::int64_t> cpu_quota;     // microseconds per period; absent when unlimited
  std::optional<std::uint64_t> cpu_period;   // microseconds
  std::optional<std::uint64_t> cpu_shares;   // v2: cpu.weight converted as cAdvisor does
  std::optional<double> memory_limit_bytes;  // unlimited as cAdvisor reports it
};

struct CgroupStats {
  CpuStats cpu;
  MemoryStats memory;
  std::vector<BlkioDeviceStats> blkio;
  PressureStats cpu_pressure;
  PressureStats memory_pressure;
  PressureStats io_pressure;
  SpecStats spec;
  std::optional<std::uint64_t> processes;  // cgroup.procs entries
  std::vector<std::int64_t> process_ids;   // those entries
  // Threads: not read by CgroupReader::Read (see ProcReader::TaskStates), set by the collector.
  std::optional<std::uint64_t> threads;
};

}  // namespace swarmwatch
