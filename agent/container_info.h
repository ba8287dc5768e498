// What the agent knows about one container of this node's engine: the unit the catalog hands out.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace swarmwatch {

using LabelMap = std::map<std::string, std::string, std::less<>>;

// The limits the engine set (HostConfig; 0: none). The collector re-reads the cgroup's limits
// when they change (`docker update`) rather than at its next periodic refresh.
struct ContainerResources {
  std::int64_t nano_cpus = 0;
  std::int64_t cpu_quota = 0;
  std::int64_t cpu_period = 0;
  std::int64_t cpu_shares = 0;
  std::int64_t memory = 0;
  bool operator==(const ContainerResources&) const = default;
};

struct ContainerInfo {
  std::string id;     // full 64-hex container id
  std::string name;   // without Docker's leading '/'
  std::string image;  // the image reference the container was created from (Config.Image)
  LabelMap
      labels;  // the container's Docker labels (Swarm puts the service/task/node/stack ones here)
  bool running = false;
  std::int64_t pid = 0;       // init pid in the host's pid namespace; 0 when not running
  double created_at = 0;      // unix seconds
  double started_at = 0;      // unix seconds of the last start; 0 when never started
  std::string cgroup_parent;  // HostConfig.CgroupParent, empty for the engine's default
  std::string cgroup_path;  // path inside a cgroup hierarchy, e.g. "/docker/<id>"; cAdvisor's `id`
  std::string log_path;     // json-file log (LogPath); empty for other log drivers
  std::string log_driver;   // HostConfig.LogConfig.Type
  ContainerResources resources;

  // Empty when the label is absent.
  std::string_view Label(std::string_view key) const {
    auto it = labels.find(key);
    return it == labels.end() ? std::string_view{} : std::string_view{it->second};
  }
};

// Swarm's own labels on a task's container.
inline constexpr std::string_view kSwarmServiceName = "com.docker.swarm.service.name";
inline constexpr std::string_view kSwarmTaskName = "com.docker.swarm.task.name";
inline constexpr std::string_view kSwarmTaskId = "com.docker.swarm.task.id";
inline constexpr std::string_view kSwarmNodeId = "com.docker.swarm.node.id";
inline constexpr std::string_view kStackNamespace = "com.docker.stack.namespace";

// Immutable view of every container known at one moment, keyed by id.
using ContainerMap = std::map<std::string, ContainerInfo, std::less<>>;
using ContainerSnapshot = std::shared_ptr<const ContainerMap>;

}  // namespace swarmwatch
