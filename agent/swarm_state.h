// What a Swarm manager knows about the cluster, the parts the agent exports: services with their
// desired task count and resources, tasks with their state, nodes with their role, state and
// capacity. Only managers answer these calls; workers see nothing of the cluster.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace swarmwatch {

// Docker's ResourceObject / Limit figures. 0 is Docker's own "not set" (the API omits the field,
// `--reserve-cpu 0` clears it), never an amount: a task with limit 0 is unlimited.
struct SwarmResources {
  std::int64_t nano_cpus = 0;  // 1e9 per core
  std::int64_t memory_bytes = 0;
};

struct SwarmService {
  std::string id;
  std::string name;
  std::string stack;            // the label com.docker.stack.namespace; empty outside a stack
  std::string mode;             // replicated | global | replicated-job | global-job
  std::int64_t replicas = 0;    // Spec.Mode.Replicated.Replicas; 0 for other modes
  SwarmResources reservations;  // Spec.TaskTemplate.Resources.Reservations, per task
  SwarmResources limits;        // Spec.TaskTemplate.Resources.Limits, per task
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
  SwarmResources capacity;   // Description.Resources: what the node's engine offers the scheduler
};

struct SwarmState {
  std::vector<SwarmService> services;
  std::vector<SwarmTask> tasks;
  std::vector<SwarmNode> nodes;
};

}  // namespace swarmwatch
