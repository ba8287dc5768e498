#include "exporters/cgroup_parsers.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <system_error>

namespace swarmwatch {
namespace {

// Most characters are above the space: one compare rules them out.
bool IsBlank(char c) {
  return static_cast<unsigned char>(c) <= ' ' && (c == ' ' || c == '\t' || c == '\r');
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsBlank(s.front()) || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (IsBlank(s.back()) || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits off the next line (without its '\n'). False when nothing is left.
bool NextLine(std::string_view& rest, std::string_view& line) {
  if (rest.empty()) {
    return false;
  }
  const std::size_t end = rest.find('\n');
  if (end == std::string_view::npos) {
    line = rest;
    rest = {};
  } else {
    line = rest.substr(0, end);
    rest.remove_prefix(end + 1);
  }
  return true;
}

// Splits off the next blank-separated token; empty when none is left.
std::string_view NextToken(std::string_view& rest) {
  const char* p = rest.data();
  const char* const end = p + rest.size();
  while (p != end && IsBlank(*p)) {
    ++p;
  }
  const char* const start = p;
  while (p != end && !IsBlank(*p)) {
    ++p;
  }
  const std::string_view token(start, static_cast<std::size_t>(p - start));
  rest = std::string_view(p, static_cast<std::size_t>(end - p));
  return token;
}

// The next blank-separated token of `rest` as an unsigned decimal, `rest` advanced past it; false
// when there is none, or it is not all digits, or it overflows. As ToNumber(NextToken(rest)), in
// one pass: net/dev has sixteen a line.
bool NextUint(std::string_view& rest, std::uint64_t& value) {
  const char* p = rest.data();
  const char* const end = p + rest.size();
  while (p != end && IsBlank(*p))
    ++p;
  const char* const start = p;
  std::uint64_t number = 0;
  for (; p != end && !IsBlank(*p); ++p) {
    const auto digit = static_cast<unsigned>(*p - '0');
    if (digit > 9 || __builtin_mul_overflow(number, 10u, &number) ||
        __builtin_add_overflow(number, digit, &number)) {
      return false;
    }
  }
  if (p == start)
    return false;
  rest.remove_prefix(static_cast<std::size_t>(p - rest.data()));
  value = number;
  return true;
}

// The whole of `s` as a number, or empty.
template <class T>
std::optional<T> ToNumber(std::string_view s) {
  T value{};
  if (s.empty()) {
    return std::nullopt;
  }
  const char* const end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

// "8:0" -> (8, 0).
std::optional<DeviceNumber> ParseDevice(std::string_view s) {
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  const auto major = ToNumber<std::uint32_t>(s.substr(0, colon));
  const auto minor = ToNumber<std::uint32_t>(s.substr(colon + 1));
  if (!major || !minor) {
    return std::nullopt;
  }
  return DeviceNumber{*major, *minor};
}

BlkioDeviceStats& DeviceEntry(std::vector<BlkioDeviceStats>& devices, DeviceNumber device) {
  for (BlkioDeviceStats& d : devices) {
    if (d.major == device.first && d.minor == device.second) {
      return d;
    }
  }
  BlkioDeviceStats& d = devices.emplace_back();
  d.major = device.first;
  d.minor = device.second;
  return d;
}

}  // namespace

std::optional<std::uint64_t> ParseSingleUint(std::string_view text) {
  const std::string_view value = Trim(text);
  if (value == "max") {
    return kCgroupUnlimited;
  }
  return ToNumber<std::uint64_t>(value);
}

std::optional<std::int64_t> ParseSingleInt(std::string_view text) {
  return ToNumber<std::int64_t>(Trim(text));
}

namespace {

// ParseFlatKeyed, telling `found` the line and field of each value it fills; returns the number of
// lines.
template <class Found>
std::uint32_t ParseWhole(std::string_view text, std::span<const KeyedField> fields, Found found) {
  // memory.stat has ~70 lines of which a scrape wants ~13: the key is matched first, and only a
  // wanted line is split further and checked to be "key value". Most lines are passed over on the
  // length of their key alone.
  constexpr std::size_t kLongest = 63;
  std::uint64_t wanted_lengths = 0;
  for (const KeyedField& field : fields)
    wanted_lengths |= std::uint64_t{1} << std::min(field.key.size(), kLongest);
  std::string_view line;
  std::uint32_t lines = 0;
  for (; NextLine(text, line); ++lines) {
    std::string_view rest = line;
    const std::string_view key = NextToken(rest);
    if ((wanted_lengths >> std::min(key.size(), kLongest) & 1) == 0)
      continue;
    for (std::uint32_t i = 0; i < fields.size(); ++i) {
      const KeyedField& field = fields[i];
      if (field.key != key || key.empty()) {
        continue;
      }
      const std::string_view value = NextToken(rest);
      if (!NextToken(rest).empty()) {
        break;  // not a "key value" line
      }
      if (auto number = ToNumber<std::uint64_t>(value)) {
        *field.out = number;
        found(lines, i);
      }
    }
  }
  return lines;
}

}  // namespace

void ParseFlatKeyed(std::string_view text, std::span<const KeyedField> fields) {
  ParseWhole(text, fields, [](std::uint32_t, std::uint32_t) {});
}

bool FlatKeyedLayout::ParseAsLaidOut(std::string_view text,
                                     std::span<const KeyedField> fields) const {
  if (!complete_ || fields.size() != keys_.size())
    return false;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].key != keys_[i])
      return false;
  }
  std::array<std::uint64_t, kMostFields> values{};
  const char* p = text.data();
  const char* const end = p + text.size();
  std::uint32_t line = 0;
  auto next = wanted_.begin();
  for (; p != end; ++line) {
    const auto* newline = static_cast<const char*>(std::memchr(p, '\n', end - p));
    const char* const line_end = newline != nullptr ? newline : end;
    for (; next != wanted_.end() && next->line == line; ++next) {
      const std::string_view text_line(p, static_cast<std::size_t>(line_end - p));
      const std::string_view key = fields[next->field].key;
      if (text_line.size() <= key.size() + 1 || !text_line.starts_with(key) ||
          text_line[key.size()] != ' ') {
        return false;
      }
      const auto value = ToNumber<std::uint64_t>(text_line.substr(key.size() + 1));
      if (!value)
        return false;
      values[next->field] = *value;
    }
    p = newline != nullptr ? newline + 1 : end;
  }
  if (line != lines_ || next != wanted_.end())
    return false;
  for (const Wanted& wanted : wanted_)
    *fields[wanted.field].out = values[wanted.field];
  return true;
}

void FlatKeyedLayout::ParseAndTake(std::string_view text, std::span<const KeyedField> fields) {
  // Taken again at every whole parse, without allocating once the keys are known: a host whose
  // files lack a wanted key (memory.stat without swap accounting) parses them whole every time.
  complete_ = false;
  if (fields.size() > kMostFields) {
    ParseFlatKeyed(text, fields);
    return;
  }
  std::array<std::uint32_t, kMostFields> line_of;
  line_of.fill(std::numeric_limits<std::uint32_t>::max());
  lines_ = ParseWhole(text, fields,
                      [&](std::uint32_t line, std::uint32_t field) { line_of[field] = line; });
  const bool same_keys =
      std::equal(keys_.begin(), keys_.end(), fields.begin(), fields.end(),
                 [](const std::string& key, const KeyedField& field) { return key == field.key; });
  if (!same_keys) {
    keys_.clear();
    for (const KeyedField& field : fields)
      keys_.emplace_back(field.key);
  }
  wanted_.clear();
  for (std::uint32_t i = 0; i < fields.size(); ++i) {
    // A key the text lacks could stand on any line of the next: only a layout of every key is
    // of use.
    if (line_of[i] == std::numeric_limits<std::uint32_t>::max())
      return;
    wanted_.push_back({line_of[i], i});
  }
  std::sort(wanted_.begin(), wanted_.end(), [](const Wanted& a, const Wanted& b) {
    return a.line != b.line ? a.line < b.line : a.field < b.field;
  });
  complete_ = true;
}

void ParseFlatKeyed(std::string_view text, std::span<const KeyedField> fields,
                    FlatKeyedLayout& layout) {
  if (!layout.ParseAsLaidOut(text, fields))
    layout.ParseAndTake(text, fields);
}

std::optional<std::uint64_t> FlatKeyedValue(std::string_view text, std::string_view key,
                                            FlatKeyedLayout& layout) {
  std::optional<std::uint64_t> value;
  const KeyedField field{key, &value};
  ParseFlatKeyed(text, std::span<const KeyedField>(&field, 1), layout);
  return value;
}

bool ParseBlkioV1(std::string_view text, BlkioCounter counter,
                  std::vector<BlkioDeviceStats>& devices) {
  std::string_view line;
  while (NextLine(text, line)) {
    const std::string_view first = NextToken(line);
    if (first.empty()) {
      continue;
    }
    if (first == "Total") {  // the sum over devices: "Total 123"
      if (!ToNumber<std::uint64_t>(NextToken(line)) || !NextToken(line).empty()) {
        return false;
      }
      continue;
    }
    const auto device = ParseDevice(first);
    const std::string_view op = NextToken(line);
    const auto value = ToNumber<std::uint64_t>(NextToken(line));
    if (!device || op.empty() || !value || !NextToken(line).empty()) {
      return false;
    }
    const bool bytes = counter == BlkioCounter::kBytes;
    if (op == "Read") {
      BlkioDeviceStats& d = DeviceEntry(devices, *device);
      (bytes ? d.read_bytes : d.reads) += *value;
    } else if (op == "Write") {
      BlkioDeviceStats& d = DeviceEntry(devices, *device);
      (bytes ? d.write_bytes : d.writes) += *value;
    }
    // Sync, Async, Discard and Total split the same I/O another way.
  }
  return true;
}

bool ParseIoStatV2(std::string_view text, std::vector<BlkioDeviceStats>& devices) {
  std::string_view line;
  while (NextLine(text, line)) {
    const std::string_view first = NextToken(line);
    if (first.empty()) {
      continue;
    }
    const auto device = ParseDevice(first);
    if (!device) {
      return false;
    }
    BlkioDeviceStats entry;
    for (std::string_view pair = NextToken(line); !pair.empty(); pair = NextToken(line)) {
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) {
        return false;
      }
      const auto value = ToNumber<std::uint64_t>(pair.substr(eq + 1));
      if (!value) {
        return false;
      }
      const std::string_view key = pair.substr(0, eq);
      if (key == "rbytes") {
        entry.read_bytes = *value;
      } else if (key == "wbytes") {
        entry.write_bytes = *value;
      } else if (key == "rios") {
        entry.reads = *value;
      } else if (key == "wios") {
        entry.writes = *value;
      }
    }
    BlkioDeviceStats& d = DeviceEntry(devices, *device);
    d.read_bytes += entry.read_bytes;
    d.write_bytes += entry.write_bytes;
    d.reads += entry.reads;
    d.writes += entry.writes;
  }
  return true;
}

std::optional<PressureTotals> ParsePressure(std::string_view text) {
  PressureTotals totals;
  std::string_view line;
  while (NextLine(text, line)) {
    const std::string_view kind = NextToken(line);
    if (kind.empty()) {
      continue;
    }
    std::optional<std::uint64_t>* out = nullptr;
    if (kind == "some") {
      out = &totals.some_us;
    } else if (kind == "full") {
      out = &totals.full_us;
    } else {
      return std::nullopt;
    }
    std::optional<std::uint64_t> total;
    for (std::string_view pair = NextToken(line); !pair.empty(); pair = NextToken(line)) {
      if (pair.starts_with("total=")) {
        total = ToNumber<std::uint64_t>(pair.substr(6));
        if (!total) {
          return std::nullopt;
        }
      }
    }
    if (!total) {
      return std::nullopt;  // a truncated line
    }
    *out = total;
  }
  if (!totals.some_us && !totals.full_us) {
    return std::nullopt;
  }
  return totals;
}

std::optional<CpuMax> ParseCpuMax(std::string_view text) {
  const std::string_view quota = NextToken(text);
  const std::string_view period = NextToken(text);
  if (!Trim(text).empty()) {
    return std::nullopt;
  }
  CpuMax result;
  const auto period_us = ToNumber<std::uint64_t>(Trim(period));
  if (!period_us) {
    return std::nullopt;
  }
  result.period_us = *period_us;
  if (quota != "max") {
    result.quota_us = ToNumber<std::int64_t>(quota);
    if (!result.quota_us) {
      return std::nullopt;
    }
  }
  return result;
}

std::optional<std::uint64_t> CpuWeightToShares(std::uint64_t weight) {
  if (weight < 1 || weight > 10000) {
    return std::nullopt;
  }
  return 2 + ((weight - 1) * 262142) / 9999;
}

std::optional<std::vector<NetInterfaceStats>> ParseNetDev(std::string_view text) {
  std::vector<NetInterfaceStats> interfaces;
  std::string_view line;
  while (NextLine(text, line)) {
    if (line.find('|') != std::string_view::npos || Trim(line).empty()) {
      continue;  // the two header lines
    }
    const std::size_t colon = line.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view name = Trim(line.substr(0, colon));
    if (name.empty()) {
      return std::nullopt;
    }
    std::string_view rest = line.substr(colon + 1);
    std::uint64_t values[16];
    for (std::uint64_t& value : values) {
      if (!NextUint(rest, value)) {
        return std::nullopt;
      }
    }
    if (!Trim(rest).empty()) {
      return std::nullopt;
    }
    NetInterfaceStats& s = interfaces.emplace_back();
    s.name = std::string(name);
    s.rx_bytes = values[0];
    s.rx_packets = values[1];
    s.rx_errors = values[2];
    s.rx_dropped = values[3];
    s.tx_bytes = values[8];
    s.tx_packets = values[9];
    s.tx_errors = values[10];
    s.tx_dropped = values[11];
  }
  return interfaces;
}

bool IsIgnoredInterface(std::string_view name) {
  return name == "lo" || name.starts_with("veth") || name.starts_with("docker");
}

std::optional<char> ParseTaskState(std::string_view text) {
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
      close + 2 >= text.size() || text[close + 1] != ' ') {
    return std::nullopt;
  }
  const char state = text[close + 2];
  if (!((state >= 'A' && state <= 'Z') || (state >= 'a' && state <= 'z'))) {
    return std::nullopt;
  }
  if (close + 3 < text.size() && !IsBlank(text[close + 3]) && text[close + 3] != '\n') {
    return std::nullopt;
  }
  return state;
}

std::optional<TaskStat> ParseTaskStat(std::string_view text) {
  const auto state = ParseTaskState(text);
  if (!state) {
    return std::nullopt;
  }
  TaskStat stat{*state, std::nullopt};
  // After ')': state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
  // stime cutime cstime priority nice num_threads.
  std::string_view rest = text.substr(text.rfind(')') + 1);
  constexpr int kNumThreadsToken = 17;
  std::string_view token;
  for (int i = 0; i <= kNumThreadsToken; ++i) {
    token = NextToken(rest);
  }
  stat.num_threads = ToNumber<std::uint64_t>(Trim(token));
  return stat;
}

std::map<DeviceNumber, std::string> ParsePartitions(std::string_view text) {
  std::map<DeviceNumber, std::string> names;
  std::string_view line;
  while (NextLine(text, line)) {
    const auto major = ToNumber<std::uint32_t>(NextToken(line));
    const auto minor = ToNumber<std::uint32_t>(NextToken(line));
    const auto blocks = ToNumber<std::uint64_t>(NextToken(line));
    const std::string_view name = NextToken(line);
    if (!major || !minor || !blocks || name.empty() || !NextToken(line).empty()) {
      continue;  // the header, blank lines, garbage
    }
    names[{*major, *minor}] = "/dev/" + std::string(name);
  }
  return names;
}

namespace {

// "<key>: <n> kB" of /proc/meminfo, in bytes.
std::optional<std::uint64_t> MeminfoBytes(std::string_view text, std::string_view key) {
  std::string_view line;
  while (NextLine(text, line)) {
    const std::string_view name = NextToken(line);
    if (name.size() != key.size() + 1 || !name.starts_with(key) || name.back() != ':') {
      continue;
    }
    const auto kib = ToNumber<std::uint64_t>(NextToken(line));
    if (!kib || NextToken(line) != "kB" || *kib > kCgroupUnlimited / 1024) {
      return std::nullopt;
    }
    return *kib * 1024;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> ParseMemTotalBytes(std::string_view text) {
  return MeminfoBytes(text, "MemTotal");
}

std::optional<HostMemoryInUse> ParseHostMemoryInUse(std::string_view text) {
  const auto total = MeminfoBytes(text, "MemTotal");
  const auto free = MeminfoBytes(text, "MemFree");
  const auto swap_total = MeminfoBytes(text, "SwapTotal");
  const auto swap_free = MeminfoBytes(text, "SwapFree");
  if (!total || !free || !swap_total || !swap_free) {
    return std::nullopt;
  }
  // The four are read at one instant: free above total is a malformed file, not a race.
  if (*free > *total || *swap_free > *swap_total) {
    return std::nullopt;
  }
  return HostMemoryInUse{*total - *free, *swap_total - *swap_free};
}

std::optional<std::uint64_t> CountCpusInCpuinfo(std::string_view text) {
  std::uint64_t count = 0;
  std::string_view line;
  while (NextLine(text, line)) {
    if (!line.starts_with("processor")) {
      continue;
    }
    const std::string_view rest = Trim(line.substr(9));
    if (rest.starts_with(':')) {
      ++count;
    }
  }
  if (count == 0) {
    return std::nullopt;
  }
  return count;
}

std::optional<std::uint64_t> CountCpusInProcStat(std::string_view text) {
  std::uint64_t count = 0;
  std::string_view line;
  while (NextLine(text, line)) {
    if (line.size() > 3 && line.starts_with("cpu") && line[3] >= '0' && line[3] <= '9') {
      ++count;
    }
  }
  if (count == 0) {
    return std::nullopt;
  }
  return count;
}

std::optional<std::uint64_t> ParseLoadavgThreads(std::string_view text) {
  for (int field = 0; field < 3; ++field) {
    if (NextToken(text).empty()) {
      return std::nullopt;
    }
  }
  const std::string_view entities = NextToken(text);
  const std::size_t slash = entities.find('/');
  if (slash == std::string_view::npos || !ToNumber<std::uint64_t>(entities.substr(0, slash))) {
    return std::nullopt;
  }
  return ToNumber<std::uint64_t>(entities.substr(slash + 1));
}

bool ParseIds(std::string_view text, std::vector<std::int64_t>& ids) {
  std::string_view line;
  while (NextLine(text, line)) {
    const std::string_view id = Trim(line);
    if (id.empty()) {
      continue;
    }
    const auto number = ToNumber<std::int64_t>(id);
    if (!number) {
      return false;
    }
    ids.push_back(*number);
  }
  return true;
}

}  // namespace swarmwatch
