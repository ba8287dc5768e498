// OOM kills of this node's Swarm task containers, per service, counted from the engine's `oom`
// events. container_oom_events_total reads a container's cgroup, and a kill of a task's main
// process ends the container and removes that cgroup before any scrape can read it: the most
// common OOM of a task (one process per container) is then seen nowhere. The engine's event
// outlives the container. Right-sizing (the stack's rules, `swarmwatch rightsize`) takes, per
// service, the larger of the two counts.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/container_info.h"
#include "agent/docker_api.h"

namespace swarmwatch {

class TaskOomEvents : public prometheus::Collectable {
 public:
  // `containers`: the catalog's snapshot, so that every service with a task container on this
  // node has its series from 0 before its first kill (a counter that appears at 1 hides that
  // kill from increase() and from max - min over a window).
  explicit TaskOomEvents(std::function<ContainerSnapshot()> containers)
      : containers_(std::move(containers)) {}

  // Every engine event may be passed; counts the `oom` of a container that carries a Swarm
  // service label (from the event's attributes: the container may be gone already). The same
  // event delivered twice (the catalog replays the second before each reconnect) counts once.
  void OnEvent(const DockerEvent& event);

  // swarm_task_oom_events_total{service,stack}.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  using ServiceKey = std::pair<std::string, std::string>;  // stack, service
  using EventKey = std::pair<std::string, std::int64_t>;   // container id, time in ns

  std::function<ContainerSnapshot()> containers_;
  mutable std::mutex mu_;
  std::map<ServiceKey, std::uint64_t> counts_;
  std::set<EventKey> seen_;
  std::deque<EventKey> seen_order_;  // oldest first, to bound seen_
};

}  // namespace swarmwatch
