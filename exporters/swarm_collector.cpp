#include "exporters/swarm_collector.h"

#include <cstdint>
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

constexpr double kNanoPerCore = 1e9;

// One series per object that has the figure. Docker's 0 is "unset": exported as 0 it would read
// "reserves nothing" and divide usage by zero in a join; absent, the service simply drops out of
// `used / reserved` and shows in `unless` queries as the one without a reservation.
void AddIfSet(prometheus::MetricFamily& family, prometheus::ClientMetric::Label* first,
              std::size_t count, std::int64_t figure, double per_unit) {
  if (figure > 0)
    family.metric.push_back(Gauge(first, count, static_cast<double>(figure) / per_unit));
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
  auto reserve_cpu = Family("swarm_service_reservation_cpu_cores",
                            "CPU cores a Swarm service reserves per task (--reserve-cpu); absent "
                            "when it reserves none");
  auto reserve_memory =
      Family("swarm_service_reservation_memory_bytes",
             "Memory a Swarm service reserves per task (--reserve-memory); absent "
             "when it reserves none");
  auto limit_cpu = Family("swarm_service_limit_cpu_cores",
                          "CPU cores a task of a Swarm service may use (--limit-cpu); absent when "
                          "unlimited");
  auto limit_memory = Family("swarm_service_limit_memory_bytes",
                             "Memory a task of a Swarm service may use (--limit-memory); absent "
                             "when unlimited");
  for (const SwarmService& service : state.services) {
    const double want = service.mode == "replicated" ? static_cast<double>(service.replicas)
                                                     : static_cast<double>(wanted[service.id]);
    prometheus::ClientMetric::Label labels[] = {
        {"service", service.name}, {"stack", service.stack}, {"mode", service.mode}};
    desired.metric.push_back(Gauge(labels, 3, want));
    actual.metric.push_back(Gauge(labels, 2, running[service.id]));
    // {service,stack} as on the running tasks: these join the container series relabelled to
    // service and stack, which have no mode.
    AddIfSet(reserve_cpu, labels, 2, service.reservations.nano_cpus, kNanoPerCore);
    AddIfSet(reserve_memory, labels, 2, service.reservations.memory_bytes, 1);
    AddIfSet(limit_cpu, labels, 2, service.limits.nano_cpus, kNanoPerCore);
    AddIfSet(limit_memory, labels, 2, service.limits.memory_bytes, 1);
  }
  auto nodes = Family("swarm_node_info",
                      "One per Swarm node, with its role, availability and state as labels");
  auto capacity_cpu = Family("swarm_node_capacity_cpu_cores",
                             "CPU cores a Swarm node offers the scheduler (its engine's count)");
  auto capacity_memory = Family("swarm_node_capacity_memory_bytes",
                                "Memory a Swarm node offers the scheduler (its engine's total)");
  for (const SwarmNode& node : state.nodes) {
    prometheus::ClientMetric::Label labels[] = {{"node", node.hostname},
                                                {"node_id", node.id},
                                                {"role", node.role},
                                                {"availability", node.availability},
                                                {"state", node.state}};
    nodes.metric.push_back(Gauge(labels, 5, 1));
    AddIfSet(capacity_cpu, labels, 2, node.capacity.nano_cpus, kNanoPerCore);
    AddIfSet(capacity_memory, labels, 2, node.capacity.memory_bytes, 1);
  }
  std::vector<prometheus::MetricFamily> families;
  families.push_back(std::move(desired));
  families.push_back(std::move(actual));
  families.push_back(std::move(nodes));
  // A family nobody has stays out of the exposition, as the other collectors' empty ones do.
  for (auto* family : {&reserve_cpu, &reserve_memory, &limit_cpu, &limit_memory, &capacity_cpu,
                       &capacity_memory}) {
    if (!family->metric.empty())
      families.push_back(std::move(*family));
  }
  return families;
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
