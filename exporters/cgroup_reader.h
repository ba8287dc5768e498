// Reads a cgroup's files (v1 or v2, chosen at construction) into CgroupStats. Files stay open
// between reads (see KernelFileReader); copies share them. Not thread-safe: one scrape at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/result.h"
#include "exporters/container_stats.h"
#include "exporters/kernel_file_reader.h"

namespace swarmwatch {

enum class CgroupVersion { kV1, kV2 };

// Looks at the mount under `cgroup_root` (e.g. /sys/fs/cgroup): v2 when it holds cgroup.controllers
// at its top, v1 when it holds per-controller folders such as cpuacct/ or memory/.
Result<CgroupVersion> DetectCgroupVersion(const std::string& cgroup_root);

// What a v1 read of a cgroup's block I/O keeps for the next one, in the caller's hands. Bytes move
// only with operations (blk-throttle counts an operation for every bio whose bytes it counts), so
// while blkio.throttle.io_serviced reads the same, io_service_bytes is not read again.
struct BlkioMemo {
  bool valid = false;
  std::string ops_text;
  std::vector<BlkioDeviceStats> devices;
};

// What a cgroup showed at a read, of the files that do not change while it does not run, with the
// CPU time read before them, in the caller's hands. While the CPU time reads the same:
// - cgroup.procs is not read again. A process is created, ends, or joins a cgroup only by running
//   in it (a fork, an exit, the exec of `docker exec`), each of which moves the CPU time. Only a
//   process moved out of the cgroup by another one goes unseen.
// - the memory peak is not read again unless the usage is above it. Memory is charged to a cgroup
//   that does not run only from outside (inotify events queued for it; on v2, network buffers it
//   receives), which the usage shows. Only such a charge above the peak, freed again before the
//   next read, goes unseen.
// - v1's block I/O (see BlkioMemo) is not read again. v1 counts a bio for the cgroup of the task
//   that submits it: writeback, submitted by flusher threads, counts for the root. (v2 counts
//   writeback for the cgroup that dirtied the pages: its io.stat is read always.)
// The CPU time is read before the rest, so that a change between the reads shows as a CPU time
// moved at the next one. The caller bounds how long it trusts the memo, for what this misses.
struct IdleMemo {
  std::optional<double> cpu_seconds;
  std::vector<std::int64_t> process_ids;
  std::optional<std::uint64_t> max_usage_bytes;
};

// The host's pressure totals: the root cgroup's, read before the other cgroups in a scrape.
struct HostPressure {
  PressureStats cpu, memory, io;
};

// A cgroup's pressure totals as last read, each resource's with the host's "some" total (see
// HostPressure) that went with it, in the caller's hands. The kernel counts a task's stall in
// every ancestor of its cgroup, up to the root: while the host's total of a resource reads as it
// did before the cgroup's last read, the cgroup's has not moved since, and its file is not read
// again. (On a quiet host, none of the three moves; on a busy one, memory seldom does.) The kernel
// sums a group's stall time over the CPUs weighted by each CPU's busy time in that group: a stall
// of a few milliseconds on an otherwise idle CPU of a many-core host whose other CPUs are busy can
// move a cgroup's total but leave the host's within its microsecond. The caller bounds how long
// it trusts the memo, for that.
struct PressureMemo {
  struct Resource {
    std::optional<double> host_waiting_seconds;
    PressureStats cgroup;
  };
  Resource cpu, memory, io;
};

// What CgroupReader::Read reads beyond the usage counters, which it always reads.
struct CgroupReadOptions {
  // The limits (quota, period, shares, memory limit): they change only with `docker update`, and
  // the collector refreshes them less often.
  bool spec = true;
  // Counters that cannot move without a limit, which the caller knows from the spec: on v1, the
  // CFS periods and throttling without a CPU quota (cpu.stat), the failure count without a
  // memory limit (memory.failcnt). v2 has them in files read anyway.
  bool cfs_counters = true;
  bool failcnt = true;
  // The cgroup's processes (cgroup.procs): not for the root, whose list is the whole host's and
  // costs ~1 ms to build.
  bool processes = true;
  // What the cgroup showed at a read (see IdleMemo); none: its files are read.
  const IdleMemo* idle_memo = nullptr;
  // v1's OOM kill count (memory.oom_control): the caller knows from the host's count (/proc/vmstat
  // oom_kill, counted with it) when no OOM kill happened since it last read it.
  bool oom_events = true;
  // v1: this cgroup's block I/O memo, kept by the caller; none: both files are read.
  BlkioMemo* blkio_memo = nullptr;
  // The host's pressure, read earlier in this scrape, and this cgroup's pressure memo, kept by the
  // caller (see PressureMemo); without either, the pressure files are read.
  const HostPressure* host_pressure = nullptr;
  PressureMemo* pressure_memo = nullptr;
};

// The root cgroup of v2 has no memory.current (nor memory.swap.current): its usage becomes the
// host's memory in use as runc computes it for cAdvisor (see ParseHostMemoryInUse), and its working
// set that less the root's inactive_file, as cAdvisor derives it for every cgroup. Its swap is the
// host's swap in use (cAdvisor subtracts the usage from it there, as from v2's combined
// memory+swap figure of other cgroups, and wraps below zero: not followed).
void UseHostMemoryForRoot(const HostMemoryInUse& host, MemoryStats& root);

// Where a v1 host mounts the cpu and cpuacct controllers.
struct V1Layout {
  std::string cpu = "/cpu";
  std::string cpuacct = "/cpuacct";
};

class CgroupReader {
 public:
  CgroupReader(std::string cgroup_root, CgroupVersion version);

  // Reads the cgroup at `cgroup_path` ("/" for the root, "/docker/<id>" for a container).
  // An error means the cgroup is gone (the container died mid-scrape): the caller skips it.
  // Individual missing files are not errors: their fields stay empty.
  Result<CgroupStats> Read(std::string_view cgroup_path,
                           const CgroupReadOptions& options = {}) const;

  // The ids of the cgroup's threads (cgroup.threads in v2 and in a hybrid v1 host's unified
  // cgroup, else v1's tasks): Read counts processes only, the thread list is read when a process
  // has more than one thread. Empty when the file is absent or malformed.
  std::optional<std::vector<std::int64_t>> ThreadIds(std::string_view cgroup_path) const;

  // Closes the files of cgroups not read since the last call (containers that went away).
  void CloseUnusedFiles() const;

  CgroupVersion version() const { return version_; }

 private:
  std::string root_;
  CgroupVersion version_;
  V1Layout v1_layout_;
  std::shared_ptr<KernelFileReader> files_;
  struct Layouts;  // of the flat keyed files, the root's and the other cgroups'
  std::shared_ptr<Layouts> layouts_;
};

}  // namespace swarmwatch
