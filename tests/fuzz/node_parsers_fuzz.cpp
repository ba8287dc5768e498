// Feeds one input to every host-wide procfs parser: none may crash, hang or read out of bounds,
// and what each answers keeps the promises the node collector relies on.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporters/node_parsers.h"

namespace {

bool IsFiniteNonNegative(double v) {
  return std::isfinite(v) && v >= 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace swarmwatch;  // NOLINT(google-build-using-namespace)
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (const auto stat = ParseProcStat(text)) {
    if (stat->cpus.empty())
      __builtin_trap();
    for (const CpuModeSeconds& cpu : stat->cpus) {
      if (cpu.cpu.empty() || cpu.cpu.find_first_not_of("0123456789") != std::string::npos)
        __builtin_trap();
      for (const double v : {cpu.user, cpu.nice, cpu.system, cpu.idle, cpu.iowait, cpu.irq,
                             cpu.softirq, cpu.steal}) {
        if (!IsFiniteNonNegative(v))
          __builtin_trap();
      }
    }
  }

  if (const auto load = ParseLoadAverage(text)) {
    if (!IsFiniteNonNegative(load->load1) || !IsFiniteNonNegative(load->load5) ||
        !IsFiniteNonNegative(load->load15))
      __builtin_trap();
  }

  std::vector<MeminfoField> fields;
  (void)ParseMeminfo(text, fields);
  for (const MeminfoField& field : fields) {
    if (!swarmwatch::IsMetricNameTail(field.name) || !IsFiniteNonNegative(field.value))
      __builtin_trap();
  }

  std::vector<std::pair<std::string, std::uint64_t>> vmstat;
  (void)ParseVmstat(text, vmstat);
  for (const auto& [name, value] : vmstat) {
    if (!swarmwatch::IsMetricNameTail(name))
      __builtin_trap();
  }

  std::vector<DiskStats> disks;
  (void)ParseDiskstats(text, disks);
  for (const DiskStats& disk : disks) {
    if (disk.device.empty())
      __builtin_trap();
  }

  const auto os_release = ParseOsRelease(text);
  for (std::size_t i = 0; i < os_release.size(); ++i) {
    if (!swarmwatch::IsMetricNameTail(os_release[i].first))
      __builtin_trap();
    for (std::size_t j = 0; j < i; ++j) {
      if (os_release[j].first == os_release[i].first)
        __builtin_trap();  // a key given twice is one pair
    }
  }

  std::vector<MountEntry> mounts;
  (void)ParseMountinfo(text, mounts);
  for (const MountEntry& mount : mounts) {
    // Unescaping only ever shortens: four bytes become one.
    if (mount.mount_point.empty() || mount.fstype.empty() || mount.mount_point.size() > size ||
        mount.device.size() > size)
      __builtin_trap();
  }
  return 0;
}
