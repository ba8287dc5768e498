// Feeds arbitrary bytes to every Docker API parser: none may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/docker_json.h"
#include "agent/proc_cgroup.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)swarmwatch::ParseEngineInfo(input);
  (void)swarmwatch::ParseContainerIds(input);
  (void)swarmwatch::ParseContainerInspect(input);
  (void)swarmwatch::ParseEvent(input);
  (void)swarmwatch::ParseRfc3339(input);
  (void)swarmwatch::DockerErrorMessage(input);
  (void)swarmwatch::ParseServices(input);
  (void)swarmwatch::ParseTasks(input);
  (void)swarmwatch::ParseNodes(input);
  if (auto lines = swarmwatch::ParseProcCgroup(input); lines) {
    (void)swarmwatch::PickContainerCgroupPath(*lines);
  }
  (void)swarmwatch::DeriveCgroupPath("systemd", input, "abc");
  (void)swarmwatch::DeriveCgroupPath("cgroupfs", input, "abc");
  return 0;
}
