#include "exporters/cgroup_reader.h"

#include <filesystem>
#include <utility>

namespace swarmwatch {

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

CgroupReader::CgroupReader(std::string cgroup_root, CgroupVersion version)
    : root_(std::move(cgroup_root)), version_(version) {}

}  // namespace swarmwatch
