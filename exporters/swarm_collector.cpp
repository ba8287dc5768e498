#include "exporters/swarm_collector.h"

#include <map>
#include <string>

namespace swarmwatch {
namespace {

prometheus::ClientMetric Gauge(prometheus::ClientMetric::Label* first, std::size_t count,
                               double value) {
  prometheus::ClientMetric metric;
  metric.label.assign(first, first + count);
  metric.gauge.value = value;
  return metric;
}

prometheus::MetricFamily Family(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> SwarmCollector::Families(const SwarmState& state) {
  // Tasks are listed with desired state running: those the orchestrator wants now.
  std::map<std::string, int> wanted;   // by service id
  std::map<std::string, int> running;  // by service id
  for (const SwarmTask& task : state.tasks) {
    if (task.desired_state == "running")
      ++wanted[task.service_id];
    if (task.state == "running")
      ++running[task.service_id];
  }
  auto desired = Family("swarm_service_desired_tasks",
                        "Tasks a Swarm service should run: its replicas, or for a global service "
                        "the tasks the orchestrator placed (seen by a manager)");
  auto actual = Family("swarm_service_running_tasks", "Tasks of a Swarm service in state running");
  for (const SwarmService& service : state.services) {
    const double want = service.mode == "replicated" ? static_cast<double>(service.replicas)
                                                     : static_cast<double>(wanted[service.id]);
    prometheus::ClientMetric::Label labels[] = {
        {"service", service.name}, {"stack", service.stack}, {"mode", service.mode}};
    desired.metric.push_back(Gauge(labels, 3, want));
    actual.metric.push_back(Gauge(labels, 2, running[service.id]));
  }
  auto nodes = Family("swarm_node_info",
                      "One per Swarm node, with its role, availability and state as labels");
  for (const SwarmNode& node : state.nodes) {
    prometheus::ClientMetric::Label labels[] = {{"node", node.hostname},
                                                {"node_id", node.id},
                                                {"role", node.role},
                                                {"availability", node.availability},
                                                {"state", node.state}};
    nodes.metric.push_back(Gauge(labels, 5, 1));
  }
  return {std::move(desired), std::move(actual), std::move(nodes)};
}

std::vector<prometheus::MetricFamily> SwarmCollector::Collect() const {
  auto state = read_();
  if (!state.ok()) {
    on_error_("swarm");
    return {};
  }
  if (!state->has_value())
    return {};
  return Families(**state);
}

}  // namespace swarmwatch
