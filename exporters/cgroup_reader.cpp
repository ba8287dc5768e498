#include "exporters/cgroup_reader.h"

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <tuple>
#include <utility>

#include "exporters/cgroup_parsers.h"
#include "exporters/kernel_file_reader.h"

namespace swarmwatch {
namespace {

constexpr double kNanosPerSecond = 1e9;
constexpr double kMicrosPerSecond = 1e6;

// The files a reader reads of one cgroup, each in its slot of the cgroup's KernelFileReader set.
// v1 and v2 never mix in one reader: their slot numbers overlap.
enum V1Slot : std::size_t {
  kV1CpuacctUsage,
  kV1CpuStat,
  kV1CpuacctStat,
  kV1MemoryUsage,
  kV1MemoryMaxUsage,
  kV1MemoryFailcnt,
  kV1MemoryStat,
  kV1MemoryOomControl,
  kV1BlkioThrottleBytes,
  kV1BlkioBytes,
  kV1BlkioThrottleOps,
  kV1BlkioOps,
  kV1CpuPressure,
  kV1MemoryPressure,
  kV1IoPressure,
  kV1CpuQuota,
  kV1CpuPeriod,
  kV1CpuShares,
  kV1MemoryLimit,
  kV1UnifiedCpuStat,
  kV1UnifiedProcs,
  kV1UnifiedThreads,
  kV1SlotCount
};
enum V2Slot : std::size_t {
  kV2CpuStat,
  kV2MemoryCurrent,
  kV2MemoryPeak,
  kV2MemorySwap,
  kV2MemoryStat,
  kV2MemoryEvents,
  kV2IoStat,
  kV2CpuPressure,
  kV2MemoryPressure,
  kV2IoPressure,
  kV2CpuMax,
  kV2CpuWeight,
  kV2MemoryMax,
  kV2Procs,
  kV2Threads,
  kV2SlotCount
};
static_assert(kV1SlotCount <= KernelFileReader::kSlots && kV2SlotCount <= KernelFileReader::kSlots);

// Reads the files of one cgroup. The returned view is valid until the next call.
class FileSlurper {
 public:
  FileSlurper(KernelFileReader& files, std::string_view cgroup)
      : files_(files), set_(files.Files(cgroup)) {}

  std::optional<std::string_view> Read(std::size_t slot, const std::string& dir, const char* name) {
    return files_.Read(set_, slot, dir, name);
  }

  // A v1 cgroup.procs or tasks file, opened for this read only. The kernel builds a v1 pid list
  // at the first read of an open file and lends it to the later reads of that file for as long as
  // they come within a second of each other: kept open and scraped that often, it showed the
  // processes of the first scrape forever.
  std::optional<std::string_view> ReadV1PidList(const std::string& dir, const char* name) {
    return files_.ReadOnce(dir, name);
  }

  // How many files could be read: none means the cgroup is gone.
  int opened() const { return set_.readable(); }

  // Forgets the files that were absent: a cgroup that could not be read at all may be created
  // under the same path later.
  void Reset() { files_.Reset(set_); }

 private:
  KernelFileReader& files_;
  KernelFileReader::FileSet& set_;
};

// The flat keyed files a read parses through a layout (see FlatKeyedLayout), one per kind. On a
// v1 host cpu_stat is the cpu controller's, on v2 the cgroup's; unified_cpu_stat is a hybrid
// host's.
struct FlatKeyedLayouts {
  FlatKeyedLayout cpu_stat, unified_cpu_stat, cpuacct_stat, memory_stat, memory_events, oom_control;
};

// "/" -> "", "/docker/x" -> "/docker/x", "docker/x" -> "/docker/x".
std::string NormalizeCgroupPath(std::string_view cgroup_path) {
  while (!cgroup_path.empty() && cgroup_path.back() == '/') {
    cgroup_path.remove_suffix(1);
  }
  if (cgroup_path.empty()) {
    return {};
  }
  std::string path;
  if (cgroup_path.front() != '/') {
    path.push_back('/');
  }
  path.append(cgroup_path);
  return path;
}

std::optional<double> Scaled(const std::optional<std::uint64_t>& value, double divisor) {
  if (!value) {
    return std::nullopt;
  }
  return static_cast<double>(*value) / divisor;
}

std::optional<std::uint64_t> WorkingSet(const std::optional<std::uint64_t>& usage,
                                        const std::optional<std::uint64_t>& inactive_file) {
  if (!usage) {
    return std::nullopt;
  }
  if (!inactive_file) {
    return usage;
  }
  return *usage > *inactive_file ? *usage - *inactive_file : 0;
}

std::optional<std::uint64_t> ReadUint(FileSlurper& files, std::size_t slot, const std::string& dir,
                                      const char* name) {
  const auto text = files.Read(slot, dir, name);
  return text ? ParseSingleUint(*text) : std::nullopt;
}

void ReadPressure(FileSlurper& files, std::size_t slot, const std::string& dir, const char* name,
                  PressureStats& out) {
  const auto text = files.Read(slot, dir, name);
  if (!text) {
    return;
  }
  if (const auto totals = ParsePressure(*text)) {
    out.waiting_seconds = Scaled(totals->some_us, kMicrosPerSecond);
    out.stalled_seconds = Scaled(totals->full_us, kMicrosPerSecond);
  }
}

// The three pressure files of the cgroup in `dir`, each resource from its memo while the host's
// total reads as when the memo was taken (see PressureMemo).
void ReadPressures(FileSlurper& files, std::size_t cpu_slot, std::size_t memory_slot,
                   std::size_t io_slot, const std::string& dir, const CgroupReadOptions& options,
                   CgroupStats& stats) {
  const HostPressure* host = options.host_pressure;
  PressureMemo* memo = options.pressure_memo;
  const auto read = [&](std::size_t slot, const char* name, const PressureStats* host_stats,
                        PressureMemo::Resource* kept, PressureStats& out) {
    const std::optional<double> host_waiting =
        host_stats != nullptr ? host_stats->waiting_seconds : std::nullopt;
    if (kept != nullptr && host_waiting && kept->host_waiting_seconds == host_waiting) {
      out = kept->cgroup;
      return;
    }
    ReadPressure(files, slot, dir, name, out);
    if (kept != nullptr)
      *kept = {host_waiting, out};
  };
  read(cpu_slot, "cpu.pressure", host ? &host->cpu : nullptr, memo ? &memo->cpu : nullptr,
       stats.cpu_pressure);
  read(memory_slot, "memory.pressure", host ? &host->memory : nullptr,
       memo ? &memo->memory : nullptr, stats.memory_pressure);
  read(io_slot, "io.pressure", host ? &host->io : nullptr, memo ? &memo->io : nullptr,
       stats.io_pressure);
}

// Both blkio files feed one device list; a malformed file empties it. The operations are read
// first: when the throttle file reads as at the last read, so do the bytes (see BlkioMemo).
// `idle`: the cgroup has not run since `memo` was taken (see IdleMemo).
void ReadBlkioV1(FileSlurper& files, const std::string& dir, BlkioMemo* memo, bool idle,
                 std::vector<BlkioDeviceStats>& out) {
  if (idle && memo != nullptr && memo->valid) {
    out = memo->devices;
    return;
  }
  std::vector<BlkioDeviceStats> devices;
  bool ok = true;
  bool any = false;
  std::string ops_text;
  auto ops = files.Read(kV1BlkioThrottleOps, dir, "blkio.throttle.io_serviced");
  const bool throttle = ops.has_value();
  if (throttle && memo != nullptr) {
    if (memo->valid && memo->ops_text == *ops) {
      out = memo->devices;
      return;
    }
    ops_text.assign(*ops);  // the next Read reuses the buffer *ops views
  }
  if (!ops) {
    ops = files.Read(kV1BlkioOps, dir, "blkio.io_serviced");
  }
  if (ops) {
    any = true;
    ok = ParseBlkioV1(*ops, BlkioCounter::kOps, devices);
  }
  auto bytes = files.Read(kV1BlkioThrottleBytes, dir, "blkio.throttle.io_service_bytes");
  if (!bytes) {
    bytes = files.Read(kV1BlkioBytes, dir, "blkio.io_service_bytes");
  }
  if (bytes) {
    any = true;
    ok = ok && ParseBlkioV1(*bytes, BlkioCounter::kBytes, devices);
  }
  if (memo != nullptr) {
    memo->valid = throttle && ok;
    memo->ops_text = std::move(ops_text);
    memo->devices = memo->valid ? devices : std::vector<BlkioDeviceStats>{};
  }
  if (any && ok) {
    out = std::move(devices);
  }
}

// v2 cpu.stat: the CPU time and, where the cpu controller is enabled, CFS bandwidth counters.
void ReadCpuStatV2(std::string_view text, FlatKeyedLayout& layout, CpuStats& cpu) {
  std::optional<std::uint64_t> usage, user, system, throttled;
  const KeyedField fields[] = {{"usage_usec", &usage},
                               {"user_usec", &user},
                               {"system_usec", &system},
                               {"nr_periods", &cpu.cfs_periods},
                               {"nr_throttled", &cpu.cfs_throttled_periods},
                               {"throttled_usec", &throttled}};
  ParseFlatKeyed(text, fields, layout);
  cpu.usage_seconds = Scaled(usage, kMicrosPerSecond);
  cpu.user_seconds = Scaled(user, kMicrosPerSecond);
  cpu.system_seconds = Scaled(system, kMicrosPerSecond);
  cpu.cfs_throttled_seconds = Scaled(throttled, kMicrosPerSecond);
}

// The CPU time of a hybrid host's unified cpu.stat; false (and `cpu` untouched) when it has none.
bool ReadCpuTimeV2(std::string_view text, FlatKeyedLayout& layout, CpuStats& cpu) {
  CpuStats read;
  ReadCpuStatV2(text, layout, read);
  if (!read.usage_seconds || *read.usage_seconds <= 0 || !read.user_seconds ||
      !read.system_seconds) {
    return false;
  }
  cpu.usage_seconds = read.usage_seconds;
  cpu.user_seconds = read.user_seconds;
  cpu.system_seconds = read.system_seconds;
  return true;
}

void SetProcesses(std::vector<std::int64_t> ids, CgroupStats& stats) {
  stats.processes = ids.size();
  stats.process_ids = std::move(ids);
}

// The memo when the cgroup has not run since it was taken (its CPU time reads the same), else null.
const IdleMemo* StillIdle(const IdleMemo* memo, const CgroupStats& stats) {
  if (memo == nullptr || !memo->cpu_seconds || memo->cpu_seconds != stats.cpu.usage_seconds)
    return nullptr;
  return memo;
}

// Takes the processes from `idle` when there is one.
bool ProcessesFromMemo(const IdleMemo* idle, CgroupStats& stats) {
  if (idle == nullptr)
    return false;
  SetProcesses(idle->process_ids, stats);
  return true;
}

// The peak from `idle` when there is one and the usage is not above it.
std::optional<std::uint64_t> PeakFromMemo(const IdleMemo* idle, const MemoryStats& memory) {
  if (idle == nullptr || !idle->max_usage_bytes || !memory.usage_bytes ||
      *memory.usage_bytes > *idle->max_usage_bytes) {
    return std::nullopt;
  }
  return idle->max_usage_bytes;
}

std::optional<std::vector<std::int64_t>> ParsedIds(const std::optional<std::string_view>& text) {
  std::vector<std::int64_t> ids;
  if (!text || !ParseIds(*text, ids)) {
    return std::nullopt;
  }
  return ids;
}

// A v1 host's pid list of a cgroup (cgroup.procs or, for threads, tasks). A hybrid host's unified
// cgroup lists the same tasks, live and from a file kept open; the v1 file is the fallback where
// there is no unified cgroup or the runtime left it empty (a container's cgroup never is).
std::optional<std::vector<std::int64_t>> V1PidList(FileSlurper& files, std::size_t unified_slot,
                                                   const std::string& unified_dir,
                                                   const char* unified_name,
                                                   const std::string& v1_dir, const char* v1_name) {
  if (auto ids = ParsedIds(files.Read(unified_slot, unified_dir, unified_name));
      ids && !ids->empty()) {
    return ids;
  }
  return ParsedIds(files.ReadV1PidList(v1_dir, v1_name));
}

Result<CgroupStats> ReadV1(KernelFileReader& reader, FlatKeyedLayouts& layouts,
                           const std::string& root, const V1Layout& layout, const std::string& path,
                           const CgroupReadOptions& options) {
  const std::string cpuacct_dir = root + layout.cpuacct + path;
  const std::string cpu_dir = root + layout.cpu + path;
  const std::string memory_dir = root + "/memory" + path;

  FileSlurper files(reader, path);
  CgroupStats stats;
  CpuStats& cpu = stats.cpu;
  MemoryStats& mem = stats.memory;

  const std::string unified_dir = root + "/unified" + path;
  // A hybrid host's unified hierarchy keeps the cgroup's CPU time in its cpu.stat (as on a v2
  // host: the same accounting, in microseconds, user and system adding up to the usage): one
  // file instead of cpuacct.usage and cpuacct.stat, which stay the source elsewhere, or where
  // the unified cgroup holds no time (a runtime that does not join it).
  bool cpu_time_read = false;
  if (const auto text = files.Read(kV1UnifiedCpuStat, unified_dir, "cpu.stat")) {
    cpu_time_read = ReadCpuTimeV2(*text, layouts.unified_cpu_stat, cpu);
  }
  if (!cpu_time_read) {
    if (const auto text = files.Read(kV1CpuacctUsage, cpuacct_dir, "cpuacct.usage")) {
      cpu.usage_seconds = Scaled(ParseSingleUint(*text), kNanosPerSecond);
    }
  }
  if (options.cfs_counters) {
    if (const auto text = files.Read(kV1CpuStat, cpu_dir, "cpu.stat")) {
      std::optional<std::uint64_t> throttled_ns;
      const KeyedField fields[] = {{"nr_periods", &cpu.cfs_periods},
                                   {"nr_throttled", &cpu.cfs_throttled_periods},
                                   {"throttled_time", &throttled_ns}};
      ParseFlatKeyed(*text, fields, layouts.cpu_stat);
      cpu.cfs_throttled_seconds = Scaled(throttled_ns, kNanosPerSecond);
    }
  }
  mem.usage_bytes = ReadUint(files, kV1MemoryUsage, memory_dir, "memory.usage_in_bytes");
  if (files.opened() == 0) {
    files.Reset();
    return Error{"cgroup " + (path.empty() ? std::string("/") : path) + " not found under " + root};
  }
  const std::string blkio_dir = root + "/blkio" + path;
  const IdleMemo* idle = StillIdle(options.idle_memo, stats);

  // Without the unified cpu.stat, user and system time in clock ticks.
  const auto cpuacct_stat =
      cpu_time_read ? std::nullopt : files.Read(kV1CpuacctStat, cpuacct_dir, "cpuacct.stat");
  if (cpuacct_stat) {
    std::optional<std::uint64_t> user, system;
    const KeyedField fields[] = {{"user", &user}, {"system", &system}};
    ParseFlatKeyed(*cpuacct_stat, fields, layouts.cpuacct_stat);
    static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    if (ticks_per_second > 0) {
      cpu.user_seconds = Scaled(user, ticks_per_second);
      cpu.system_seconds = Scaled(system, ticks_per_second);
    }
  }

  // Memory, as cAdvisor maps it with use_hierarchy (always on in current kernels): the total_*
  // keys cover the container's sub-cgroups too.
  mem.max_usage_bytes = PeakFromMemo(idle, mem);
  if (!mem.max_usage_bytes) {
    mem.max_usage_bytes =
        ReadUint(files, kV1MemoryMaxUsage, memory_dir, "memory.max_usage_in_bytes");
  }
  if (options.failcnt) {
    mem.failcnt = ReadUint(files, kV1MemoryFailcnt, memory_dir, "memory.failcnt");
  }
  if (const auto text = files.Read(kV1MemoryStat, memory_dir, "memory.stat")) {
    std::optional<std::uint64_t> total_inactive_file, total_rss, rss, total_cache, cache,
        total_mapped_file, mapped_file, total_swap, swap;
    const KeyedField fields[] = {
        {"total_inactive_file", &total_inactive_file},
        {"total_rss", &total_rss},
        {"rss", &rss},
        {"total_cache", &total_cache},
        {"cache", &cache},
        {"total_mapped_file", &total_mapped_file},
        {"mapped_file", &mapped_file},
        {"total_swap", &total_swap},
        {"swap", &swap},
        {"pgfault", &mem.pgfault_container},
        {"pgmajfault", &mem.pgmajfault_container},
        {"total_pgfault", &mem.pgfault_hierarchy},
        {"total_pgmajfault", &mem.pgmajfault_hierarchy},
    };
    ParseFlatKeyed(*text, fields, layouts.memory_stat);
    mem.working_set_bytes = WorkingSet(mem.usage_bytes, total_inactive_file);
    mem.inactive_file = total_inactive_file;
    mem.rss = total_rss ? total_rss : rss;
    mem.cache = total_cache ? total_cache : cache;
    mem.mapped_file = total_mapped_file ? total_mapped_file : mapped_file;
    mem.swap = total_swap ? total_swap : swap;
    if (!mem.pgfault_hierarchy) {
      mem.pgfault_hierarchy = mem.pgfault_container;
    }
    if (!mem.pgmajfault_hierarchy) {
      mem.pgmajfault_hierarchy = mem.pgmajfault_container;
    }
  } else {
    mem.working_set_bytes = mem.usage_bytes;
  }
  if (options.oom_events) {
    if (const auto text = files.Read(kV1MemoryOomControl, memory_dir, "memory.oom_control")) {
      mem.oom_events = FlatKeyedValue(*text, "oom_kill", layouts.oom_control);
    }
  }

  ReadBlkioV1(files, blkio_dir, options.blkio_memo, idle != nullptr, stats.blkio);

  // Pressure lives in the unified (v2) hierarchy of a hybrid host.
  ReadPressures(files, kV1CpuPressure, kV1MemoryPressure, kV1IoPressure, unified_dir, options,
                stats);

  if (options.spec) {
    if (const auto text = files.Read(kV1CpuQuota, cpu_dir, "cpu.cfs_quota_us")) {
      const auto quota = ParseSingleInt(*text);
      if (quota && *quota >= 0) {  // -1: no quota
        stats.spec.cpu_quota = quota;
      }
    }
    stats.spec.cpu_period = ReadUint(files, kV1CpuPeriod, cpu_dir, "cpu.cfs_period_us");
    stats.spec.cpu_shares = ReadUint(files, kV1CpuShares, cpu_dir, "cpu.shares");
    if (const auto limit = ReadUint(files, kV1MemoryLimit, memory_dir, "memory.limit_in_bytes")) {
      stats.spec.memory_limit_bytes = static_cast<double>(*limit);
    }
  }

  if (options.processes && !ProcessesFromMemo(idle, stats)) {
    if (auto ids = V1PidList(files, kV1UnifiedProcs, unified_dir, "cgroup.procs", cpu_dir,
                             "cgroup.procs")) {
      SetProcesses(std::move(*ids), stats);
    }
  }
  return stats;
}

Result<CgroupStats> ReadV2(KernelFileReader& reader, FlatKeyedLayouts& layouts,
                           const std::string& root, const std::string& path,
                           const CgroupReadOptions& options) {
  const std::string dir = root + path;
  FileSlurper files(reader, path);
  CgroupStats stats;

  if (const auto text = files.Read(kV2CpuStat, dir, "cpu.stat")) {
    ReadCpuStatV2(*text, layouts.cpu_stat, stats.cpu);
  }

  MemoryStats& mem = stats.memory;
  mem.usage_bytes = ReadUint(files, kV2MemoryCurrent, dir, "memory.current");
  if (files.opened() == 0) {  // every cgroup, the root too, has cpu.stat
    files.Reset();
    return Error{"cgroup " + (path.empty() ? std::string("/") : path) + " not found under " + root};
  }
  const IdleMemo* idle = StillIdle(options.idle_memo, stats);
  mem.max_usage_bytes = PeakFromMemo(idle, mem);
  if (!mem.max_usage_bytes)
    mem.max_usage_bytes = ReadUint(files, kV2MemoryPeak, dir, "memory.peak");
  mem.swap = ReadUint(files, kV2MemorySwap, dir, "memory.swap.current");
  if (const auto text = files.Read(kV2MemoryStat, dir, "memory.stat")) {
    std::optional<std::uint64_t> inactive_file;
    const KeyedField fields[] = {
        {"inactive_file", &inactive_file},
        {"anon", &mem.rss},
        {"file", &mem.cache},
        {"file_mapped", &mem.mapped_file},
        {"pgfault", &mem.pgfault_container},
        {"pgmajfault", &mem.pgmajfault_container},
    };
    ParseFlatKeyed(*text, fields, layouts.memory_stat);
    mem.working_set_bytes = WorkingSet(mem.usage_bytes, inactive_file);
    mem.inactive_file = inactive_file;
    // v2 has no per-cgroup-only counters: cAdvisor reports the same value for both scopes.
    mem.pgfault_hierarchy = mem.pgfault_container;
    mem.pgmajfault_hierarchy = mem.pgmajfault_container;
  } else {
    mem.working_set_bytes = mem.usage_bytes;
  }
  if (const auto text = files.Read(kV2MemoryEvents, dir, "memory.events")) {
    const KeyedField fields[] = {{"max", &mem.failcnt}, {"oom_kill", &mem.oom_events}};
    ParseFlatKeyed(*text, fields, layouts.memory_events);
  }

  if (const auto text = files.Read(kV2IoStat, dir, "io.stat")) {
    std::vector<BlkioDeviceStats> devices;
    if (ParseIoStatV2(*text, devices)) {
      stats.blkio = std::move(devices);
    }
  }

  ReadPressures(files, kV2CpuPressure, kV2MemoryPressure, kV2IoPressure, dir, options, stats);

  if (options.spec) {
    if (const auto text = files.Read(kV2CpuMax, dir, "cpu.max")) {
      if (const auto max = ParseCpuMax(*text)) {
        stats.spec.cpu_quota = max->quota_us;
        stats.spec.cpu_period = max->period_us;
      }
    }
    if (const auto weight = ReadUint(files, kV2CpuWeight, dir, "cpu.weight")) {
      stats.spec.cpu_shares = CpuWeightToShares(*weight);
    }
    if (const auto limit = ReadUint(files, kV2MemoryMax, dir, "memory.max")) {
      // "max" reads as 2^64-1, which cAdvisor exports as that number.
      stats.spec.memory_limit_bytes = static_cast<double>(*limit);
    }
  }

  if (options.processes && !ProcessesFromMemo(idle, stats)) {
    if (auto ids = ParsedIds(files.Read(kV2Procs, dir, "cgroup.procs"))) {
      SetProcesses(std::move(*ids), stats);
    }
  }
  return stats;
}

}  // namespace

Result<CgroupVersion> DetectCgroupVersion(const std::string& cgroup_root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(fs::path(cgroup_root) / "cgroup.controllers", ec)) {
    return CgroupVersion::kV2;
  }
  for (const char* controller : {"cpuacct", "cpu,cpuacct", "memory"}) {
    if (fs::is_directory(fs::path(cgroup_root) / controller, ec)) {
      return CgroupVersion::kV1;
    }
  }
  return Error{"no cgroup v1 controllers nor cgroup v2 hierarchy under " + cgroup_root};
}

struct CgroupReader::Layouts {
  FlatKeyedLayouts root, cgroups;
};

void UseHostMemoryForRoot(const HostMemoryInUse& host, MemoryStats& root) {
  root.usage_bytes = host.memory_bytes;
  root.working_set_bytes = WorkingSet(root.usage_bytes, root.inactive_file);
  root.swap = host.swap_bytes;
}

CgroupReader::CgroupReader(std::string cgroup_root, CgroupVersion version)
    : root_(std::move(cgroup_root)),
      version_(version),
      files_(std::make_shared<KernelFileReader>()),
      layouts_(std::make_shared<Layouts>()) {
  while (root_.size() > 1 && root_.back() == '/') {
    root_.pop_back();
  }
  // v1 controllers are mounted apart (cpu/, cpuacct/) or together (cpu,cpuacct/) depending on the
  // host; where both names exist the separate ones are symlinks to the combined one.
  std::error_code ec;
  if (!std::filesystem::exists(root_ + "/cpu", ec)) {
    v1_layout_.cpu = "/cpu,cpuacct";
  }
  if (!std::filesystem::exists(root_ + "/cpuacct", ec)) {
    v1_layout_.cpuacct = "/cpu,cpuacct";
  }
}

Result<CgroupStats> CgroupReader::Read(std::string_view cgroup_path,
                                       const CgroupReadOptions& options) const {
  const std::string path = NormalizeCgroupPath(cgroup_path);
  // The root's files may have other keys than a container's.
  FlatKeyedLayouts& layouts = path.empty() ? layouts_->root : layouts_->cgroups;
  return version_ == CgroupVersion::kV1 ? ReadV1(*files_, layouts, root_, v1_layout_, path, options)
                                        : ReadV2(*files_, layouts, root_, path, options);
}

std::optional<std::vector<std::int64_t>> CgroupReader::ThreadIds(
    std::string_view cgroup_path) const {
  const std::string path = NormalizeCgroupPath(cgroup_path);
  FileSlurper files(*files_, path);
  if (version_ == CgroupVersion::kV2) {
    return ParsedIds(files.Read(kV2Threads, root_ + path, "cgroup.threads"));
  }
  return V1PidList(files, kV1UnifiedThreads, root_ + "/unified" + path, "cgroup.threads",
                   root_ + v1_layout_.cpu + path, "tasks");
}

void CgroupReader::CloseUnusedFiles() const {
  files_->CloseUnused();
}

}  // namespace swarmwatch
