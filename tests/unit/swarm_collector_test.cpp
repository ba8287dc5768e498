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

// How many series of `family` have `label` = `value`.
int Count(const std::vector<prometheus::MetricFamily>& families, const std::string& family,
          const std::string& label, const std::string& value) {
  int n = 0;
  for (const auto& f : families) {
    if (f.name != family)
      continue;
    for (const auto& m : f.metric)
      for (const auto& l : m.label)
        n += l.name == label && l.value == value ? 1 : 0;
  }
  return n;
}

bool HasFamily(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  for (const auto& f : families)
    if (f.name == name)
      return true;
  return false;
}

constexpr const char* kResourceFamilies[] = {
    "swarm_service_reservation_cpu_cores", "swarm_service_reservation_memory_bytes",
    "swarm_service_limit_cpu_cores",       "swarm_service_limit_memory_bytes",
    "swarm_node_capacity_cpu_cores",       "swarm_node_capacity_memory_bytes"};

SwarmState Cluster() {
  SwarmState s;
  s.services = {{"s1", "shop_web", "shop", "replicated", 5, {}, {}},
                {"s2", "mon_agent", "mon", "global", 0, {}, {}}};
  s.tasks = {
      {"s1", "n1", "running", "running"},   {"s1", "n2", "running", "running"},
      {"s1", "n3", "running", "preparing"},  // starting: wanted, not yet running
      {"s2", "n1", "running", "running"},   {"s2", "n2", "running", "running"},
      {"s2", "n3", "running", "rejected"},  // the orchestrator wants it, the node refuses
  };
  s.nodes = {{"n1", "manager-1", "manager", "active", "ready", {}},
             {"n3", "worker-2", "worker", "drain", "down", {}}};
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

// Docker's figures (NanoCPUs, bytes) as cores and bytes, labelled as the running tasks are;
// a figure Docker does not have (0: unset) gives no series, not a 0.
TEST(SwarmCollector, ReservationsLimitsAndCapacityAreCoresAndBytesAndAbsentWhereUnset) {
  SwarmState s = Cluster();
  // --reserve-cpu 0.25 --reserve-memory 256M --limit-cpu 0.5 --limit-memory 512M
  s.services[0].reservations = {250'000'000, 256 * 1024 * 1024};
  s.services[0].limits = {500'000'000, 512 * 1024 * 1024};
  // mon_agent (s.services[1]) sets nothing: every figure 0, as Docker's omitted fields parse.
  SwarmService partial{"s3", "shop_db", "shop", "replicated", 1, {}, {}};
  partial.limits.nano_cpus = 50'000'000;  // --limit-cpu 0.05 alone
  s.services.push_back(partial);
  s.nodes[0].capacity = {2'000'000'000, 25'276'514'304};
  // worker-2 (s.nodes[1]) has no Description.Resources (a node that never reported): 0.

  const auto families = SwarmCollector::Families(s);
  const std::vector<std::pair<std::string, std::string>> web = {{"service", "shop_web"},
                                                                {"stack", "shop"}};
  EXPECT_DOUBLE_EQ(Value(families, "swarm_service_reservation_cpu_cores", web), 0.25);
  EXPECT_DOUBLE_EQ(Value(families, "swarm_service_reservation_memory_bytes", web), 268435456);
  EXPECT_DOUBLE_EQ(Value(families, "swarm_service_limit_cpu_cores", web), 0.5);
  EXPECT_DOUBLE_EQ(Value(families, "swarm_service_limit_memory_bytes", web), 536870912);
  const std::vector<std::pair<std::string, std::string>> db = {{"service", "shop_db"},
                                                               {"stack", "shop"}};
  EXPECT_DOUBLE_EQ(Value(families, "swarm_service_limit_cpu_cores", db), 0.05);
  for (const char* family :
       {"swarm_service_reservation_cpu_cores", "swarm_service_reservation_memory_bytes",
        "swarm_service_limit_memory_bytes"})
    EXPECT_EQ(Count(families, family, "service", "shop_db"), 0) << family;
  for (const char* family : kResourceFamilies)
    EXPECT_EQ(Count(families, family, "service", "mon_agent"), 0) << family;

  const std::vector<std::pair<std::string, std::string>> manager = {{"node", "manager-1"},
                                                                    {"node_id", "n1"}};
  EXPECT_DOUBLE_EQ(Value(families, "swarm_node_capacity_cpu_cores", manager), 2);
  EXPECT_DOUBLE_EQ(Value(families, "swarm_node_capacity_memory_bytes", manager), 25276514304);
  EXPECT_EQ(Count(families, "swarm_node_capacity_cpu_cores", "node_id", "n3"), 0);
  EXPECT_EQ(Count(families, "swarm_node_capacity_memory_bytes", "node_id", "n3"), 0);

  for (const auto& f : families)
    EXPECT_EQ(f.type, prometheus::MetricType::Gauge) << f.name;
}

// A cluster where nothing is reserved, limited or reported has none of the six families: an
// empty family would only add HELP and TYPE lines.
TEST(SwarmCollector, NoFigureAnywhereNoResourceFamily) {
  const auto families = SwarmCollector::Families(Cluster());
  for (const char* family : kResourceFamilies)
    EXPECT_FALSE(HasFamily(families, family)) << family;
  EXPECT_TRUE(HasFamily(families, "swarm_service_desired_tasks"));
  EXPECT_TRUE(HasFamily(families, "swarm_node_info"));
}

TEST(SwarmCollector, AServiceWithNoTasksRunsZero) {
  SwarmState s;
  s.services = {{"s9", "idle", "", "replicated", 0, {}, {}}};
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
