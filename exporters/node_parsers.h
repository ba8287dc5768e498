// Pure parsers of the host-wide procfs files the node collector reads, for node_exporter's
// families: /proc/stat, loadavg, meminfo, vmstat, diskstats, pressure/*, /etc/os-release and
// /proc/1/mountinfo. Same contract as cgroup_parsers.h: take the file's text, never throw, answer
// "absent" (empty optional, false, or nothing appended) on garbage instead of guessing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace swarmwatch {

// The kernel's USER_HZ: /proc/stat counts CPU time in these ticks on every Linux architecture.
inline constexpr double kUserHz = 100.0;

// One "cpuN" line of /proc/stat, in seconds (node_cpu_seconds_total{cpu="N",mode}). The
// aggregate "cpu" line is not kept. guest and guest_nice are already inside user and nice.
struct CpuModeSeconds {
  std::string cpu;  // "0", "1", ...
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
};

struct ProcStat {
  std::vector<CpuModeSeconds> cpus;
  std::optional<std::uint64_t> context_switches;  // ctxt
  std::optional<std::uint64_t> interrupts;        // intr, its first (total) field
  std::optional<std::uint64_t> boot_time;         // btime, seconds since the epoch
  std::optional<std::uint64_t> forks;             // processes
  std::optional<std::uint64_t> procs_running;
  std::optional<std::uint64_t> procs_blocked;
};
// Empty when there is no "cpuN" line or one is malformed (a partial CPU set is never given).
std::optional<ProcStat> ParseProcStat(std::string_view text);

struct LoadAverage {
  double load1 = 0, load5 = 0, load15 = 0;
};
std::optional<LoadAverage> ParseLoadAverage(std::string_view text);

// Whether `s` may follow "node_<subsystem>_" in a metric name ([a-zA-Z0-9_]+, a leading digit
// included): every name the parsers below answer is one.
bool IsMetricNameTail(std::string_view s);

// One /proc/meminfo field under node_exporter's name and unit: "Active(anon): 12 kB" becomes
// {"Active_anon_bytes", 12288}; a field without a unit keeps its name ("HugePages_Total").
struct MeminfoField {
  std::string name;
  double value = 0;
};
// Appends every well-formed line's field to `fields`, in file order; false when a line is
// malformed (`fields` then holds those before it).
bool ParseMeminfo(std::string_view text, std::vector<MeminfoField>& fields);

// Every "name value" line of /proc/vmstat, appended in file order (node_vmstat_<name>); false on
// a malformed line.
bool ParseVmstat(std::string_view text, std::vector<std::pair<std::string, std::uint64_t>>& out);

// One line of /proc/diskstats (kernel 4.18+ adds discard and flush fields, which are not kept).
struct DiskStats {
  std::string device;
  std::uint64_t reads_completed = 0, reads_merged = 0, sectors_read = 0, read_time_ms = 0;
  std::uint64_t writes_completed = 0, writes_merged = 0, sectors_written = 0, write_time_ms = 0;
  std::uint64_t io_in_progress = 0, io_time_ms = 0, weighted_io_time_ms = 0;
};
// Appends each line with at least the 14 classic fields; false on a malformed line.
bool ParseDiskstats(std::string_view text, std::vector<DiskStats>& disks);

// /etc/os-release (or /usr/lib/os-release): KEY=value lines, values unquoted and unescaped as
// os-release(5) says. Comments and malformed lines are skipped.
std::vector<std::pair<std::string, std::string>> ParseOsRelease(std::string_view text);

// One line of /proc/<pid>/mountinfo, fields unescaped (\040 is a space).
struct MountEntry {
  std::string device;       // the mount source (field after " - " and the type)
  std::string mount_point;  // as pid 1 of the host sees it
  std::string fstype;
  bool read_only = false;  // "ro" in the mount's options or in the superblock's
};
// Appends each well-formed line; false on a malformed line.
bool ParseMountinfo(std::string_view text, std::vector<MountEntry>& mounts);

}  // namespace swarmwatch
