// What a Swarm manager knows about the cluster, the parts the agent exports: services with their
// desired task count, tasks with their state, nodes with their role and state. Only managers
// answer these calls; workers see nothing of the cluster.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace swarmwatch {

struct SwarmService {
  std::string id;
  std::string name;
  std::string stack;          // the label com.docker.stack.namespace; empty outside a stack
  std::string mode;           // replicated | global | replicated-job | global-job
  std::int64_t replicas = 0;  // Spec.Mode.Replicated.Replicas; 0 for other modes
};

struct SwarmTask {
  std::string service_id;
  std::string node_id;
  std::string desired_state;  // running, shutdown, ...
  std::string state;          // Status.State: new ... running, complete, failed, rejected, ...
};

struct SwarmNode {
  std::string id;
  std::string hostname;
  std::string role;          // manager | worker
  std::string availability;  // active | pause | drain
  std::string state;         // ready | down | unknown | disconnected
};

struct SwarmState {
  std::vector<SwarmService> services;
  std::vector<SwarmTask> tasks;
  std::vector<SwarmNode> nodes;
};

}  // namespace swarmwatch
