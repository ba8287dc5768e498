#include "exporters/node_parsers.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

namespace swarmwatch {
namespace {

// Most characters are above the space: one compare rules them out.
bool IsBlank(char c) {
  return static_cast<unsigned char>(c) <= ' ' && (c == ' ' || c == '\t' || c == '\r');
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back()))
    s.remove_suffix(1);
  return s;
}

// Splits off the next line (without its '\n'). False when nothing is left.
bool NextLine(std::string_view& rest, std::string_view& line) {
  if (rest.empty())
    return false;
  const auto* newline = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
  if (newline == nullptr) {
    line = rest;
    rest = {};
  } else {
    line = rest.substr(0, static_cast<std::size_t>(newline - rest.data()));
    rest.remove_prefix(line.size() + 1);
  }
  return true;
}

// Splits off the next blank-separated token; empty when none is left.
std::string_view NextToken(std::string_view& rest) {
  const char* p = rest.data();
  const char* const end = p + rest.size();
  while (p != end && IsBlank(*p))
    ++p;
  const char* const start = p;
  while (p != end && !IsBlank(*p))
    ++p;
  rest = std::string_view(p, static_cast<std::size_t>(end - p));
  return {start, static_cast<std::size_t>(p - start)};
}

// The whole of `s` as a number; false on anything else (a sign, a suffix, overflow, nothing).
template <class T>
bool ToNumber(std::string_view s, T& value) {
  if (s.empty())
    return false;
  const char* const end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  return ec == std::errc() && ptr == end;
}

// The next token of `rest` as an unsigned decimal, `rest` advanced past it.
bool NextUint(std::string_view& rest, std::uint64_t& value) {
  return ToNumber(NextToken(rest), value);
}

// What is left of a line is only unsigned decimals (possibly none).
bool OnlyUints(std::string_view rest) {
  std::uint64_t ignored = 0;
  for (std::string_view token = NextToken(rest); !token.empty(); token = NextToken(rest)) {
    if (!ToNumber(token, ignored))
      return false;
  }
  return true;
}

bool IsDigits(std::string_view s) {
  if (s.empty())
    return false;
  for (const char c : s) {
    if (c < '0' || c > '9')
      return false;
  }
  return true;
}

// A line holding one number after its key ("ctxt 123"): the number, or empty.
std::optional<std::uint64_t> SingleValue(std::string_view rest) {
  std::uint64_t value = 0;
  if (!NextUint(rest, value) || !NextToken(rest).empty())
    return std::nullopt;
  return value;
}

}  // namespace

bool IsMetricNameTail(std::string_view s) {
  if (s.empty())
    return false;
  for (const char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

std::optional<ProcStat> ParseProcStat(std::string_view text) {
  ProcStat stat;
  std::string_view line;
  while (NextLine(text, line)) {
    std::string_view rest = line;
    const std::string_view key = NextToken(rest);
    // "cpu" is the sum over CPUs: node_exporter exports each CPU only. A key that merely begins
    // with "cpu" is some other line a later kernel may add.
    if (key.size() > 3 && key.starts_with("cpu") && IsDigits(key.substr(3))) {
      const std::string_view id = key.substr(3);
      // user nice system idle iowait irq softirq steal guest guest_nice: every kernel since
      // 2.6.33 writes the ten. Asking for all ten (procfs takes fewer) tells a line cut short
      // from a whole one; later fields, if a kernel adds some, must be numbers too.
      std::uint64_t ticks[10];
      for (std::uint64_t& t : ticks) {
        if (!NextUint(rest, t))
          return std::nullopt;
      }
      // A partial CPU set would make series vanish and come back: a line that is not wholly
      // numbers makes the whole file absent, as procfs fails it.
      if (!OnlyUints(rest))
        return std::nullopt;
      CpuModeSeconds& cpu = stat.cpus.emplace_back();
      cpu.cpu = id;
      // As procfs: ticks / USER_HZ in double, so the values equal node_exporter's bit for bit.
      cpu.user = static_cast<double>(ticks[0]) / kUserHz;
      cpu.nice = static_cast<double>(ticks[1]) / kUserHz;
      cpu.system = static_cast<double>(ticks[2]) / kUserHz;
      cpu.idle = static_cast<double>(ticks[3]) / kUserHz;
      cpu.iowait = static_cast<double>(ticks[4]) / kUserHz;
      cpu.irq = static_cast<double>(ticks[5]) / kUserHz;
      cpu.softirq = static_cast<double>(ticks[6]) / kUserHz;
      cpu.steal = static_cast<double>(ticks[7]) / kUserHz;
    } else if (key == "intr") {
      // The total, then one count per interrupt line (thousands of them on big machines): only
      // the total is read, the rest of the line is never split.
      std::uint64_t total = 0;
      if (NextUint(rest, total))
        stat.interrupts = total;
    } else if (key == "ctxt") {
      stat.context_switches = SingleValue(rest);
    } else if (key == "btime") {
      stat.boot_time = SingleValue(rest);
    } else if (key == "processes") {
      stat.forks = SingleValue(rest);
    } else if (key == "procs_running") {
      stat.procs_running = SingleValue(rest);
    } else if (key == "procs_blocked") {
      stat.procs_blocked = SingleValue(rest);
    }
    // softirq and unknown keys: not exported.
  }
  if (stat.cpus.empty())
    return std::nullopt;
  return stat;
}

std::optional<LoadAverage> ParseLoadAverage(std::string_view text) {
  double loads[3];
  for (double& load : loads) {
    if (!ToNumber(NextToken(text), load) || !std::isfinite(load) || load < 0)
      return std::nullopt;
  }
  // "1/82 5093" follow: their presence shows the three loads were not cut short.
  const std::string_view entities = NextToken(text);
  if (entities.find('/') == std::string_view::npos || NextToken(text).empty() ||
      !NextToken(text).empty())
    return std::nullopt;
  return LoadAverage{loads[0], loads[1], loads[2]};
}

bool ParseMeminfo(std::string_view text, std::vector<MeminfoField>& fields) {
  std::string_view line;
  while (NextLine(text, line)) {
    std::string_view rest = line;
    std::string_view key = NextToken(rest);
    if (key.empty())
      continue;  // node_exporter skips blank lines too (seen on CentOS 6 kernels)
    std::uint64_t value = 0;
    if (key.size() < 2 || key.back() != ':' || !NextUint(rest, value))
      return false;
    key.remove_suffix(1);
    const std::string_view unit = NextToken(rest);
    const bool in_kib = !unit.empty();
    if ((in_kib && unit != "kB") || !NextToken(rest).empty())
      return false;
    // node_exporter's rewrite: the first '(' to the last ')' becomes '_' and what they held,
    // "Active(anon)" -> "Active_anon".
    std::string name;
    const std::size_t open = key.find('(');
    const std::size_t close = key.rfind(')');
    if (open != std::string_view::npos && close != std::string_view::npos && open < close) {
      name.reserve(key.size() + 6);
      name.append(key.substr(0, open)).push_back('_');
      name.append(key.substr(open + 1, close - open - 1)).append(key.substr(close + 1));
    } else {
      name.reserve(key.size() + 6);
      name.append(key);
    }
    if (!IsMetricNameTail(name))
      return false;
    double number = static_cast<double>(value);
    if (in_kib) {
      number *= 1024;
      name.append("_bytes");
    }
    fields.push_back({std::move(name), number});
  }
  return true;
}

bool ParseVmstat(std::string_view text, std::vector<std::pair<std::string, std::uint64_t>>& out) {
  std::string_view line;
  while (NextLine(text, line)) {
    std::string_view rest = line;
    const std::string_view key = NextToken(rest);
    if (key.empty())
      continue;
    std::uint64_t value = 0;
    if (!IsMetricNameTail(key) || !NextUint(rest, value) || !NextToken(rest).empty())
      return false;
    out.emplace_back(std::string(key), value);
  }
  return true;
}

bool ParseDiskstats(std::string_view text, std::vector<DiskStats>& disks) {
  std::string_view line;
  while (NextLine(text, line)) {
    std::string_view rest = line;
    const std::string_view major = NextToken(rest);
    if (major.empty())
      continue;
    std::uint32_t major_number = 0, minor_number = 0;
    if (!ToNumber(major, major_number) || !ToNumber(NextToken(rest), minor_number))
      return false;
    const std::string_view device = NextToken(rest);
    // The eleven classic counters; 4.18 appends four discard counters, 5.5 two flush counters.
    std::uint64_t v[11];
    for (std::uint64_t& value : v) {
      if (!NextUint(rest, value))
        return false;
    }
    if (device.empty() || !OnlyUints(rest))
      return false;
    DiskStats& d = disks.emplace_back();
    d.device = device;
    d.reads_completed = v[0];
    d.reads_merged = v[1];
    d.sectors_read = v[2];
    d.read_time_ms = v[3];
    d.writes_completed = v[4];
    d.writes_merged = v[5];
    d.sectors_written = v[6];
    d.write_time_ms = v[7];
    d.io_in_progress = v[8];
    d.io_time_ms = v[9];
    d.weighted_io_time_ms = v[10];
  }
  return true;
}

namespace {

// os-release(5) values follow shell quoting: "..." (where \" \\ \$ \` stand for the character
// and any other backslash stays), '...' (literal), unquoted text (a backslash quotes the next
// character), concatenated; unquoted blanks before a '#' start a comment. False on an
// unterminated quote or a trailing lone backslash.
bool UnquoteShellValue(std::string_view raw, std::string& out) {
  enum class Mode { kPlain, kDouble, kSingle } mode = Mode::kPlain;
  out.clear();
  std::size_t significant = 0;  // out's length without trailing unquoted blanks
  bool after_blank = false;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    switch (mode) {
      case Mode::kPlain:
        if (c == '#' && after_blank) {
          i = raw.size();  // the rest is a comment
          continue;
        }
        after_blank = IsBlank(c);
        if (c == '"') {
          mode = Mode::kDouble;
        } else if (c == '\'') {
          mode = Mode::kSingle;
        } else if (c == '\\') {
          if (++i == raw.size())
            return false;
          out.push_back(raw[i]);
        } else {
          out.push_back(c);
          if (after_blank)
            continue;
        }
        significant = out.size();
        break;
      case Mode::kDouble:
        if (c == '"') {
          mode = Mode::kPlain;
        } else if (c == '\\' && i + 1 < raw.size() &&
                   std::string_view("\"\\$`").find(raw[i + 1]) != std::string_view::npos) {
          out.push_back(raw[++i]);
        } else {
          out.push_back(c);
        }
        significant = out.size();
        break;
      case Mode::kSingle:
        if (c == '\'')
          mode = Mode::kPlain;
        else
          out.push_back(c);
        significant = out.size();
        break;
    }
  }
  if (mode != Mode::kPlain)
    return false;
  out.resize(significant);
  return true;
}

bool IsShellName(std::string_view s) {
  if (s.empty() || (s.front() >= '0' && s.front() <= '9'))
    return false;
  return IsMetricNameTail(s);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseOsRelease(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string value;
  std::string_view line;
  while (NextLine(text, line)) {
    line = TrimBlanks(line);
    if (line.empty() || line.front() == '#')
      continue;
    if (line.starts_with("export") && line.size() > 6 && IsBlank(line[6]))
      line = TrimBlanks(line.substr(7));
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      continue;
    const std::string_view key = TrimBlanks(line.substr(0, eq));
    if (!IsShellName(key) || !UnquoteShellValue(TrimBlanks(line.substr(eq + 1)), value))
      continue;
    // A key given twice: the last value counts, as when a shell sources the file.
    bool replaced = false;
    for (auto& pair : pairs) {
      if (pair.first == key) {
        pair.second = value;
        replaced = true;
        break;
      }
    }
    if (!replaced)
      pairs.emplace_back(std::string(key), value);
  }
  return pairs;
}

namespace {

// The kernel writes ' ', '\t', '\n' and '\\' of mountinfo's paths, sources and types as
// three-digit octal escapes (\040, \011, \012, \134). Other backslashes are kept as they are.
void AssignUnescaped(std::string_view s, std::string& out) {
  if (s.find('\\') == std::string_view::npos) {
    out.assign(s);
    return;
  }
  out.clear();
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
}

// `option` is one of the comma-separated entries of `list`.
bool HasOption(std::string_view list, std::string_view option) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (list.substr(0, comma) == option)
      return true;
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool ParseMountinfo(std::string_view text, std::vector<MountEntry>& mounts) {
  std::string_view line;
  while (NextLine(text, line)) {
    if (TrimBlanks(line).empty())
      continue;
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue": escaped
    // fields hold no space, and the optional fields before " - " are "tag[:value]", so the first
    // " - " is the separator.
    const std::size_t separator = line.find(" - ");
    if (separator == std::string_view::npos)
      return false;
    std::string_view left = line.substr(0, separator);
    const std::string_view right = line.substr(separator + 3);
    const std::string_view mount_id = NextToken(left);
    const std::string_view parent_id = NextToken(left);
    const std::string_view device_number = NextToken(left);
    const std::string_view root = NextToken(left);
    const std::string_view mount_point = NextToken(left);
    const std::string_view options = NextToken(left);
    const std::size_t colon = device_number.find(':');
    if (!IsDigits(mount_id) || !IsDigits(parent_id) || colon == std::string_view::npos ||
        !IsDigits(device_number.substr(0, colon)) || !IsDigits(device_number.substr(colon + 1)) ||
        root.empty() || options.empty())
      return false;
    // "type source super_options", split at single spaces: the source may be empty (a mount
    // made with "" as its device).
    const std::size_t first_space = right.find(' ');
    const std::size_t second_space =
        first_space == std::string_view::npos ? first_space : right.find(' ', first_space + 1);
    if (first_space == 0 || second_space == std::string_view::npos ||
        right.find(' ', second_space + 1) != std::string_view::npos)
      return false;
    const std::string_view super_options = TrimBlanks(right.substr(second_space + 1));
    if (super_options.empty())
      return false;
    MountEntry& entry = mounts.emplace_back();
    AssignUnescaped(right.substr(first_space + 1, second_space - first_space - 1), entry.device);
    AssignUnescaped(mount_point, entry.mount_point);
    AssignUnescaped(right.substr(0, first_space), entry.fstype);
    // As node_exporter since 1.9: read-only if the mount or its superblock is, or the
    // superblock was forced read-only after an error.
    entry.read_only = HasOption(options, "ro") || HasOption(super_options, "ro") ||
                      HasOption(super_options, "emergency_ro");
  }
  return true;
}

}  // namespace swarmwatch
