// The Swarm's desired and running tasks per service, each service's reservations and limits, and
// its nodes with their capacity, exported by the agents of manager nodes (a worker's engine knows
// nothing of the cluster): what "a service is short of tasks" alerts and right-sizing (reserved
// against used against capacity) need, which container metrics cannot tell.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/result.h"
#include "agent/swarm_state.h"

namespace swarmwatch {

class SwarmCollector : public prometheus::Collectable {
 public:
  // `read`: the Swarm's state, nullopt when this node is not a manager. `on_error` gets "swarm"
  // when reading fails (the scrape then has no swarm_* series).
  SwarmCollector(std::function<Result<std::optional<SwarmState>>()> read,
                 std::function<void(std::string_view)> on_error)
      : read_(std::move(read)), on_error_(std::move(on_error)) {}

  // swarm_service_desired_tasks{service,stack,mode}, swarm_service_running_tasks{service,stack},
  // swarm_node_info{node,node_id,role,availability,state}; and, only where Docker has the figure
  // (absent, never 0, where unset), swarm_service_{reservation,limit}_{cpu_cores,memory_bytes}
  // {service,stack} and swarm_node_capacity_{cpu_cores,memory_bytes}{node,node_id}.
  std::vector<prometheus::MetricFamily> Collect() const override;

  static std::vector<prometheus::MetricFamily> Families(const SwarmState& state);

 private:
  std::function<Result<std::optional<SwarmState>>()> read_;
  std::function<void(std::string_view)> on_error_;
};

}  // namespace swarmwatch
