// Pure parsers for the cgroup (v1 and v2) and procfs file formats the exporters read. They take the
// file's text, never allocate per line, never throw, and answer "absent" (an empty optional or
// false) on truncated or garbage input instead of guessing.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exporters/container_stats.h"
#include "exporters/proc_reader.h"

namespace swarmwatch {

// What cgroup files say with "max": no limit.
inline constexpr std::uint64_t kCgroupUnlimited = std::numeric_limits<std::uint64_t>::max();

// A file holding one unsigned number ("123\n"); "max" gives kCgroupUnlimited.
std::optional<std::uint64_t> ParseSingleUint(std::string_view text);
// A file holding one signed number ("-1\n", as cpu.cfs_quota_us).
std::optional<std::int64_t> ParseSingleInt(std::string_view text);

// One wanted key of a flat keyed file and where its value goes.
struct KeyedField {
  std::string_view key;
  std::optional<std::uint64_t>* out;
};
// Flat keyed files ("key value" per line: memory.stat, cpu.stat, memory.events, cpuacct.stat,
// memory.oom_control). Fills each wanted key found with a valid value; other lines are ignored, and
// a wanted key whose value is not a number stays empty.
void ParseFlatKeyed(std::string_view text, std::span<const KeyedField> fields);

// Where the wanted keys of one kind of flat keyed file stood at its last whole parse. The kernel
// writes a file of one kind with the same keys in the same order every time: a parse with a
// layout that finds as many lines, and each wanted key on the line it stood on followed by one
// space and a number, splits only those lines and steps over the others (memory.stat: 13 wanted
// lines of ~40). Any other text is parsed whole, and the layout taken again from it. A layout is
// taken only from a text that has every wanted key. One layout serves one kind of file and one
// list of wanted keys; a key repeated on another line than the one laid out is not looked for.
class FlatKeyedLayout {
 public:
  // Fills the fields from `text` if it is laid out as the layout says; false, and nothing
  // filled, if not.
  bool ParseAsLaidOut(std::string_view text, std::span<const KeyedField> fields) const;
  // ParseFlatKeyed, and the layout taken from `text`.
  void ParseAndTake(std::string_view text, std::span<const KeyedField> fields);

 private:
  struct Wanted {
    std::uint32_t line;
    std::uint32_t field;
  };
  static constexpr std::size_t kMostFields = 32;  // more: parsed whole
  std::vector<std::string> keys_;                 // the wanted keys it was last taken for
  std::vector<Wanted> wanted_;                    // their lines, in line order
  std::uint32_t lines_ = 0;
  bool complete_ = false;  // every key found: the layout can be used
};
// ParseFlatKeyed through `layout`: the same values, for a file of the layout's kind.
void ParseFlatKeyed(std::string_view text, std::span<const KeyedField> fields,
                    FlatKeyedLayout& layout);
// The value of one key of a flat keyed file.
std::optional<std::uint64_t> FlatKeyedValue(std::string_view text, std::string_view key,
                                            FlatKeyedLayout& layout);

// Which counters a v1 blkio file holds.
enum class BlkioCounter { kBytes, kOps };
// v1 blkio.{throttle.,}io_service_bytes / io_serviced ("8:0 Read 123" lines, "Total" lines).
// Adds each device's Read/Write values into `devices` (merged by major:minor). Returns false on a
// malformed line; `devices` then holds what parsed before it.
bool ParseBlkioV1(std::string_view text, BlkioCounter counter,
                  std::vector<BlkioDeviceStats>& devices);
// v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" lines). Same contract.
bool ParseIoStatV2(std::string_view text, std::vector<BlkioDeviceStats>& devices);

// PSI files ({cpu,memory,io}.pressure): the cumulative totals in microseconds.
struct PressureTotals {
  std::optional<std::uint64_t> some_us;
  std::optional<std::uint64_t> full_us;
};
std::optional<PressureTotals> ParsePressure(std::string_view text);

// v2 cpu.max ("max 100000" or "50000 100000").
struct CpuMax {
  std::optional<std::int64_t> quota_us;  // empty when "max"
  std::uint64_t period_us = 0;
};
std::optional<CpuMax> ParseCpuMax(std::string_view text);
// cAdvisor's conversion of v2 cpu.weight [1, 10000] to v1 shares [2, 262144].
std::optional<std::uint64_t> CpuWeightToShares(std::uint64_t weight);

// /proc/<pid>/net/dev: every interface, in file order.
std::optional<std::vector<NetInterfaceStats>> ParseNetDev(std::string_view text);
// The interfaces cAdvisor leaves out of container_network_*: lo, veth*, docker*.
bool IsIgnoredInterface(std::string_view name);

// /proc/<tid>/stat: the state character after the parenthesised comm (which may hold ')').
std::optional<char> ParseTaskState(std::string_view text);
// The same and num_threads (field 20), empty when the line ends before it or it is not a number.
std::optional<TaskStat> ParseTaskStat(std::string_view text);

// /proc/partitions: (major, minor) -> "/dev/<name>". Malformed lines are skipped.
std::map<DeviceNumber, std::string> ParsePartitions(std::string_view text);

// /proc/meminfo MemTotal, in bytes.
std::optional<std::uint64_t> ParseMemTotalBytes(std::string_view text);
// The memory in use on the host as runc's cgroup v2 code emulates the root cgroup's memory.current
// (absent there) from /proc/meminfo, which cAdvisor then exports for id="/": MemTotal - MemFree,
// and the swap in use, SwapTotal - SwapFree. Empty when a field is missing or malformed.
std::optional<HostMemoryInUse> ParseHostMemoryInUse(std::string_view text);
// Number of CPUs: "processor" lines of /proc/cpuinfo, "cpuN" lines of /proc/stat.
std::optional<std::uint64_t> CountCpusInCpuinfo(std::string_view text);
std::optional<std::uint64_t> CountCpusInProcStat(std::string_view text);

// /proc/loadavg ("0.20 0.18 0.12 1/80 11206"): the threads that exist on the host, after the '/'.
std::optional<std::uint64_t> ParseLoadavgThreads(std::string_view text);

// cgroup.procs / tasks / cgroup.threads: one decimal id a line, appended to `ids`. Returns false
// on a line that is not an id.
bool ParseIds(std::string_view text, std::vector<std::int64_t>& ids);

}  // namespace swarmwatch
