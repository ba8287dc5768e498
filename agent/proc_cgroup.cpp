#include "agent/proc_cgroup.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <fstream>
#include <sstream>

namespace swarmwatch {

Result<std::vector<ProcCgroupLine>> ParseProcCgroup(std::string_view content) {
  std::vector<ProcCgroupLine> lines;
  size_t line_no = 0;
  while (!content.empty()) {
    const size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      continue;
    }
    const size_t c1 = line.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
      return Error{fmt::format("cgroup file line {}: expected \"id:controllers:path\"", line_no)};
    }
    ProcCgroupLine out;
    const std::string_view id = line.substr(0, c1);
    const auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), out.hierarchy_id);
    if (ec != std::errc{} || ptr != id.data() + id.size()) {
      return Error{fmt::format("cgroup file line {}: bad hierarchy id \"{}\"", line_no, id)};
    }
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    while (!controllers.empty()) {
      const size_t comma = controllers.find(',');
      const std::string_view c = controllers.substr(0, comma);
      if (!c.empty()) {
        out.controllers.emplace_back(c);
      }
      controllers =
          comma == std::string_view::npos ? std::string_view{} : controllers.substr(comma + 1);
    }
    out.path = std::string(line.substr(c2 + 1));  // paths may contain ':'
    lines.push_back(std::move(out));
  }
  return lines;
}

Result<std::string> PickContainerCgroupPath(const std::vector<ProcCgroupLine>& lines) {
  auto usable = [](const std::string& p) {
    return !p.empty() && p.front() == '/' && p.rfind("/..", 0) != 0;
  };
  static constexpr std::array<std::string_view, 3> kPreferred = {"memory", "cpu", "cpuacct"};
  for (std::string_view want : kPreferred) {
    for (const auto& l : lines) {
      for (const auto& c : l.controllers) {
        if (c == want) {
          if (usable(l.path)) {
            return l.path;
          }
          return Error{
              fmt::format("cgroup path \"{}\" of controller {} is outside this cgroup "
                          "namespace",
                          l.path, want)};
        }
      }
    }
  }
  for (const auto& l : lines) {
    if (l.hierarchy_id == 0 && l.controllers.empty()) {
      if (usable(l.path)) {
        return l.path;
      }
      return Error{fmt::format("cgroup v2 path \"{}\" is outside this cgroup namespace", l.path)};
    }
  }
  return Error{"no memory, cpu, cpuacct or v2 line in the cgroup file"};
}

Result<std::string> ReadContainerCgroupPath(const std::string& proc_root, std::int64_t pid) {
  const std::string file = fmt::format("{}/{}/cgroup", proc_root, pid);
  std::ifstream in(file);
  if (!in) {
    return Error{fmt::format("cannot read {}", file)};
  }
  std::ostringstream content;
  content << in.rdbuf();
  auto lines = ParseProcCgroup(content.str());
  if (!lines) {
    return Error{fmt::format("{}: {}", file, lines.error().message)};
  }
  auto path = PickContainerCgroupPath(*lines);
  if (!path) {
    return Error{fmt::format("{}: {}", file, path.error().message)};
  }
  return path;
}

namespace {

constexpr std::string_view kSliceSuffix = ".slice";

bool IsSlice(std::string_view name) {
  return name.size() > kSliceSuffix.size() &&
         name.substr(name.size() - kSliceSuffix.size()) == kSliceSuffix &&
         name.find('/') == std::string_view::npos;
}

// systemd nests "a-b-c.slice" as /a.slice/a-b.slice/a-b-c.slice; "-.slice" is the root slice.
std::string ExpandSlice(std::string_view slice) {
  if (slice == "-.slice") {
    return "";
  }
  const std::string_view stem = slice.substr(0, slice.size() - kSliceSuffix.size());
  std::string path;
  for (size_t pos = stem.find('-'); pos != std::string_view::npos; pos = stem.find('-', pos + 1)) {
    if (pos > 0) {
      path += fmt::format("/{}{}", stem.substr(0, pos), kSliceSuffix);
    }
  }
  path += fmt::format("/{}", slice);
  return path;
}

}  // namespace

std::string DeriveCgroupPath(std::string_view cgroup_driver, std::string_view cgroup_parent,
                             std::string_view container_id) {
  if (cgroup_driver == "systemd") {
    const std::string_view parent = cgroup_parent.empty() ? "system.slice" : cgroup_parent;
    std::string base;
    if (IsSlice(parent)) {
      base = ExpandSlice(parent);
    } else {
      base = parent.front() == '/' ? std::string(parent) : fmt::format("/{}", parent);
      while (base.size() > 1 && base.back() == '/') {
        base.pop_back();
      }
      if (base == "/") {
        base.clear();
      }
    }
    return fmt::format("{}/docker-{}.scope", base, container_id);
  }
  std::string base = cgroup_parent.empty() ? std::string("/docker") : std::string(cgroup_parent);
  if (base.front() != '/') {
    base = "/" + base;  // not insert(0, ...): GCC 12 at -O3 raises a false -Wrestrict on it
  }
  while (base.size() > 1 && base.back() == '/') {
    base.pop_back();
  }
  if (base == "/") {
    base.clear();
  }
  return fmt::format("{}/{}", base, container_id);
}

}  // namespace swarmwatch
