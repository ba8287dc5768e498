// The Docker Engine API calls the agent makes; CurlDockerApi talks to a real engine, tests use
// fakes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/container_info.h"
#include "agent/result.h"
#include "agent/swarm_state.h"

namespace swarmwatch {

// GET /info, the parts the agent uses.
struct EngineInfo {
  std::string id;
  std::string name;  // the node's hostname as the engine knows it
  std::string server_version;
  std::string cgroup_driver;   // "cgroupfs" or "systemd"
  std::string cgroup_version;  // "1" or "2"
  std::string docker_root_dir;
  std::string swarm_node_id;  // empty when not in a Swarm
  std::string swarm_node_state;
  bool swarm_manager = false;  // Swarm.ControlAvailable: this engine answers the cluster calls
  std::int64_t ncpu = 0;
  std::int64_t mem_total = 0;
};

// One object of the /events stream.
struct DockerEvent {
  std::string type;     // "container", "network", ...
  std::string action;   // "start", "die", "destroy", "rename", "exec_start: sh", ...
  std::string id;       // Actor.ID
  LabelMap attributes;  // Actor.Attributes (name, image, oldName, the container's labels)
  std::int64_t time_nano = 0;
};

class DockerApi {
 public:
  virtual ~DockerApi() = default;

  virtual Result<EngineInfo> Info() = 0;
  // Ids of every container, running or not (GET /containers/json?all=1).
  virtual Result<std::vector<std::string>> ListContainerIds() = 0;
  // GET /containers/{id}/json. cgroup_path is left empty: the catalog derives it.
  virtual Result<ContainerInfo> InspectContainer(const std::string& id) = 0;
  // Streams container events since `since_unix` (seconds) until the stream fails or `stop` becomes
  // true. Returns the error that ended the stream; an ok Status only when stopped.
  virtual Status StreamEvents(std::int64_t since_unix,
                              const std::function<void(const DockerEvent&)>& on_event,
                              const std::atomic<bool>& stop) = 0;
  // GET /services, /tasks (desired state running) and /nodes: a manager's view of the Swarm. An
  // engine that is not a manager answers with an error.
  virtual Result<SwarmState> ReadSwarmState() {
    return Error{"this Docker API does not read the Swarm's state"};
  }
};

}  // namespace swarmwatch
