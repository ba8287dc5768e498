// Reads a cgroup's files (v1 or v2, chosen at construction) into CgroupStats.
#pragma once

#include <string>
#include <string_view>

#include "agent/result.h"
#include "exporters/container_stats.h"

namespace swarmwatch {

enum class CgroupVersion { kV1, kV2 };

// Looks at the mount under `cgroup_root` (e.g. /sys/fs/cgroup): v2 when it holds cgroup.controllers
// at its top, v1 when it holds per-controller folders such as cpuacct/ or memory/.
Result<CgroupVersion> DetectCgroupVersion(const std::string& cgroup_root);

class CgroupReader {
 public:
  CgroupReader(std::string cgroup_root, CgroupVersion version);

  // Reads the cgroup at `cgroup_path` ("/" for the root, "/docker/<id>" for a container).
  // An error means the cgroup is gone (the container died mid-scrape): the caller skips it.
  // Individual missing files are not errors: their fields stay empty.
  Result<CgroupStats> Read(std::string_view cgroup_path) const;

  CgroupVersion version() const { return version_; }

 private:
  std::string root_;
  CgroupVersion version_;
};

}  // namespace swarmwatch
