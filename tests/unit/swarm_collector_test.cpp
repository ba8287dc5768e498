#include "exporters/swarm_collector.h"

#include <gtest/gtest.h>

#include <string>

namespace swarmwatch {
namespace {

// The value of the series of `family` whose labels are exactly `labels`, or -1.
double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& family,
             const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const auto& f : families) {
    if (f.name != family)
      continue;
    for (const auto& m : f.metric) {
      if (m.label.size() != labels.size())
        continue;
      bool same = true;
      for (std::size_t i = 0; i < labels.size(); ++i)
        same = same && m.label[i].name == labels[i].first && m.label[i].value == labels[i].second;
      if (same)
        return m.gauge.value;
    }
  }
  return -1;
}

SwarmState Cluster() {
  SwarmState s;
  s.services = {{"s1", "shop_web", "shop", "replicated", 5},
                {"s2", "mon_agent", "mon", "global", 0}};
  s.tasks = {
      {"s1", "n1", "running", "running"},   {"s1", "n2", "running", "running"},
      {"s1", "n3", "running", "preparing"},  // starting: wanted, not yet running
      {"s2", "n1", "running", "running"},   {"s2", "n2", "running", "running"},
      {"s2", "n3", "running", "rejected"},  // the orchestrator wants it, the node refuses
  };
  s.nodes = {{"n1", "manager-1", "manager", "active", "ready"},
             {"n3", "worker-2", "worker", "drain", "down"}};
  return s;
}

TEST(SwarmCollector, DesiredIsReplicasOrPlacedTasksAndRunningCountsRunningOnly) {
  const auto families = SwarmCollector::Families(Cluster());
  EXPECT_EQ(Value(families, "swarm_service_desired_tasks",
                  {{"service", "shop_web"}, {"stack", "shop"}, {"mode", "replicated"}}),
            5);
  EXPECT_EQ(
      Value(families, "swarm_service_running_tasks", {{"service", "shop_web"}, {"stack", "shop"}}),
      2);
  EXPECT_EQ(Value(families, "swarm_service_desired_tasks",
                  {{"service", "mon_agent"}, {"stack", "mon"}, {"mode", "global"}}),
            3);
  EXPECT_EQ(
      Value(families, "swarm_service_running_tasks", {{"service", "mon_agent"}, {"stack", "mon"}}),
      2);
  EXPECT_EQ(Value(families, "swarm_node_info",
                  {{"node", "worker-2"},
                   {"node_id", "n3"},
                   {"role", "worker"},
                   {"availability", "drain"},
                   {"state", "down"}}),
            1);
}

TEST(SwarmCollector, AServiceWithNoTasksRunsZero) {
  SwarmState s;
  s.services = {{"s9", "idle", "", "replicated", 0}};
  const auto families = SwarmCollector::Families(s);
  EXPECT_EQ(Value(families, "swarm_service_running_tasks", {{"service", "idle"}, {"stack", ""}}),
            0);
}

TEST(SwarmCollector, AWorkerExportsNothingAndAFailedReadIsCounted) {
  std::string errors;
  SwarmCollector worker([] { return Result<std::optional<SwarmState>>(std::nullopt); },
                        [&](std::string_view source) { errors += source; });
  EXPECT_TRUE(worker.Collect().empty());
  EXPECT_EQ(errors, "");
  SwarmCollector failing([] { return Result<std::optional<SwarmState>>(Error{"HTTP 503"}); },
                         [&](std::string_view source) { errors += source; });
  EXPECT_TRUE(failing.Collect().empty());
  EXPECT_EQ(errors, "swarm");
  SwarmCollector manager([] { return Result<std::optional<SwarmState>>(Cluster()); },
                         [&](std::string_view source) { errors += source; });
  EXPECT_EQ(manager.Collect().size(), 3u);
}

}  // namespace
}  // namespace swarmwatch
