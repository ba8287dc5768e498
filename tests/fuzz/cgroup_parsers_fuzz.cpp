// Feeds one input to every cgroup and procfs parser: none may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "exporters/cgroup_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace swarmwatch;  // NOLINT(google-build-using-namespace)
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  (void)ParseSingleUint(text);
  (void)ParseSingleInt(text);
  std::optional<std::uint64_t> a, b, c;
  const KeyedField fields[] = {{"total_inactive_file", &a}, {"pgfault", &b}, {"max", &c}};
  ParseFlatKeyed(text, fields);
  FlatKeyedLayout oom_layout;
  (void)FlatKeyedValue(text, "oom_kill", oom_layout);
  // Through a layout, taken from the text itself and then used on it: the whole parse's values.
  FlatKeyedLayout layout;
  for (int pass = 0; pass < 2; ++pass) {
    std::optional<std::uint64_t> laid_a, laid_b, laid_c;
    const KeyedField laid[] = {
        {"total_inactive_file", &laid_a}, {"pgfault", &laid_b}, {"max", &laid_c}};
    ParseFlatKeyed(text, laid, layout);
    if (laid_a != a || laid_b != b || laid_c != c)
      __builtin_trap();
  }

  std::vector<BlkioDeviceStats> devices;
  (void)ParseBlkioV1(text, BlkioCounter::kBytes, devices);
  (void)ParseBlkioV1(text, BlkioCounter::kOps, devices);
  devices.clear();
  (void)ParseIoStatV2(text, devices);

  (void)ParsePressure(text);
  if (const auto max = ParseCpuMax(text)) {
    (void)CpuWeightToShares(max->period_us);
  }
  if (const auto interfaces = ParseNetDev(text)) {
    for (const NetInterfaceStats& s : *interfaces) {
      (void)IsIgnoredInterface(s.name);
    }
  }
  (void)ParseTaskState(text);
  (void)ParseTaskStat(text);
  (void)ParsePartitions(text);
  (void)ParseMemTotalBytes(text);
  if (const auto in_use = ParseHostMemoryInUse(text)) {
    // Never a wrapped difference: what is in use is at most the total.
    const auto total = ParseMemTotalBytes(text);
    if (!total || in_use->memory_bytes > *total)
      __builtin_trap();
  }
  (void)CountCpusInCpuinfo(text);
  (void)CountCpusInProcStat(text);
  (void)ParseLoadavgThreads(text);
  std::vector<std::int64_t> ids;
  (void)ParseIds(text, ids);
  return 0;
}
