#include "exporters/task_oom_events.h"

#include <string_view>

namespace swarmwatch {
namespace {

// Replays reach back one second before a reconnect; a few thousand OOM events in that second
// would be a node in far worse trouble than a double count.
constexpr std::size_t kSeenEvents = 4096;

std::string Attribute(const LabelMap& attributes, std::string_view key) {
  const auto it = attributes.find(key);
  return it == attributes.end() ? std::string{} : it->second;
}

}  // namespace

void TaskOomEvents::OnEvent(const DockerEvent& event) {
  if (event.type != "container" || event.action != "oom")
    return;
  std::string service = Attribute(event.attributes, kSwarmServiceName);
  if (service.empty())
    return;  // not a Swarm task: its own container_oom_events_total is what there is
  const std::lock_guard lock(mu_);
  EventKey key{event.id, event.time_nano};
  if (!seen_.insert(key).second)
    return;
  seen_order_.push_back(std::move(key));
  if (seen_order_.size() > kSeenEvents) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  ++counts_[{Attribute(event.attributes, kStackNamespace), std::move(service)}];
}

std::vector<prometheus::MetricFamily> TaskOomEvents::Collect() const {
  std::map<ServiceKey, std::uint64_t> counts;
  for (const auto& [id, c] : *containers_()) {
    if (const auto service = c.Label(kSwarmServiceName); !service.empty())
      counts.try_emplace({std::string(c.Label(kStackNamespace)), std::string(service)}, 0);
  }
  {
    const std::lock_guard lock(mu_);
    for (const auto& [key, count] : counts_)
      counts[key] = count;
  }
  prometheus::MetricFamily family;
  family.name = "swarm_task_oom_events_total";
  family.help =
      "OOM events the engine reported for this node's task containers of a Swarm service since "
      "the agent started (its `oom` events, which outlive a container whose main process was "
      "killed)";
  family.type = prometheus::MetricType::Counter;
  for (const auto& [key, count] : counts) {
    prometheus::ClientMetric metric;
    metric.label = {{"service", key.second}, {"stack", key.first}};
    metric.counter.value = static_cast<double>(count);
    family.metric.push_back(std::move(metric));
  }
  if (family.metric.empty())
    return {};
  return {std::move(family)};
}

}  // namespace swarmwatch
