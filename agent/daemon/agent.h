// The running daemon: wires the Docker client, the catalog, the collectors and the HTTP endpoints
// from a Config, and tears them down in the right order.
#pragma once

#include <memory>
#include <vector>

#include "agent/config.h"
#include "agent/result.h"

namespace swarmwatch {

class Agent {
 public:
  // Starts every part; an error means the agent cannot run (bad address, no cgroup mount, ...).
  // An absent Docker engine is not an error: the agent runs, not ready, and keeps trying.
  static Result<std::unique_ptr<Agent>> Start(const Config& config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  std::vector<int> ListeningPorts() const;

 private:
  struct Parts;
  explicit Agent(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace swarmwatch
