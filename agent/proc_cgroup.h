// Which cgroup a container lives in: read from /proc/<pid>/cgroup when possible, otherwise derived
// from the engine's cgroup driver the way Docker names its cgroups.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/result.h"

namespace swarmwatch {

// One line of /proc/<pid>/cgroup: "hierarchy-ID:controller-list:cgroup-path".
// cgroup v2's unified hierarchy is "0::/path" (empty controller list).
struct ProcCgroupLine {
  std::int64_t hierarchy_id = 0;
  std::vector<std::string> controllers;  // "cpu", "cpuacct", "name=systemd", ...; empty for v2
  std::string path;
};

// Parses the whole file. Blank lines are skipped; a line without two ':' is an error.
Result<std::vector<ProcCgroupLine>> ParseProcCgroup(std::string_view content);

// The container's cgroup path: the v1 "memory" controller's path, else "cpu", else "cpuacct", else
// the v2 "0::" path. A path starting with "/.." is relative to a cgroup namespace the reader is not
// in (the agent in its own cgroupns) and is unusable, as is an empty one: error.
Result<std::string> PickContainerCgroupPath(const std::vector<ProcCgroupLine>& lines);

// Reads <proc_root>/<pid>/cgroup and picks the path as above.
Result<std::string> ReadContainerCgroupPath(const std::string& proc_root, std::int64_t pid);

// Where Docker puts a container's cgroup when /proc cannot tell (container not running, /proc not
// mounted):
//   driver "cgroupfs" (or unknown): <cgroup_parent or "/docker">/<id>; a parent without a leading
//     '/' gets one ("foo" -> "/foo/<id>").
//   driver "systemd": <expanded parent slice>/docker-<id>.scope, parent default "system.slice".
//     A slice expands the way systemd nests it: "a-b.slice" -> "/a.slice/a-b.slice"; "-.slice" is
//     the root. A parent that is not a ".slice" name is used as a plain path.
std::string DeriveCgroupPath(std::string_view cgroup_driver, std::string_view cgroup_parent,
                             std::string_view container_id);

}  // namespace swarmwatch
