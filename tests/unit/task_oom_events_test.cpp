#include "exporters/task_oom_events.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

namespace swarmwatch {
namespace {

using Counts = std::map<std::string, double>;  // "stack/service" -> value

DockerEvent Oom(std::string id, std::int64_t time_nano, std::string service, std::string stack) {
  DockerEvent e;
  e.type = "container";
  e.action = "oom";
  e.id = std::move(id);
  e.time_nano = time_nano;
  e.attributes = {{"name", service + ".1.abc"}, {"image", "busybox:local"}};
  if (!service.empty())
    e.attributes.emplace(std::string(kSwarmServiceName), std::move(service));
  if (!stack.empty())
    e.attributes.emplace(std::string(kStackNamespace), std::move(stack));
  return e;
}

class TaskOomEventsTest : public ::testing::Test {
 protected:
  Counts Scrape() const {
    Counts out;
    for (const auto& family : ooms_.Collect()) {
      EXPECT_EQ(family.name, "swarm_task_oom_events_total");
      EXPECT_EQ(family.type, prometheus::MetricType::Counter);
      for (const auto& m : family.metric) {
        EXPECT_EQ(m.label.size(), 2U);
        if (m.label.size() != 2U)
          continue;
        EXPECT_EQ(m.label[0].name, "service");
        EXPECT_EQ(m.label[1].name, "stack");
        out[m.label[1].value + "/" + m.label[0].value] = m.counter.value;
      }
    }
    return out;
  }
  void AddContainer(std::string id, std::string service, std::string stack) {
    auto next = std::make_shared<ContainerMap>(*containers_);
    ContainerInfo c;
    c.id = id;
    c.labels = {{std::string(kSwarmServiceName), std::move(service)}};
    if (!stack.empty())
      c.labels.emplace(std::string(kStackNamespace), std::move(stack));
    next->emplace(std::move(id), std::move(c));
    containers_ = std::move(next);
  }

  ContainerSnapshot containers_ = std::make_shared<ContainerMap>();
  TaskOomEvents ooms_{[this] { return containers_; }};
};

TEST_F(TaskOomEventsTest, NothingToExportWithoutTasks) {
  EXPECT_TRUE(ooms_.Collect().empty());
}

TEST_F(TaskOomEventsTest, EveryServiceWithATaskHereStartsAtZero) {
  AddContainer("a", "shop_web", "shop");
  AddContainer("b", "shop_web", "shop");
  AddContainer("c", "adhoc", "");
  EXPECT_EQ(Scrape(), (Counts{{"shop/shop_web", 0}, {"/adhoc", 0}}));
}

TEST_F(TaskOomEventsTest, CountsEachOomOfATaskPerServiceEvenAfterItsContainerIsGone) {
  AddContainer("a", "shop_web", "shop");
  ooms_.OnEvent(Oom("a", 100, "shop_web", "shop"));
  ooms_.OnEvent(Oom("a", 200, "shop_web", "shop"));    // a second kill in the same task
  ooms_.OnEvent(Oom("gone", 150, "shop_db", "shop"));  // its container is not in the catalog
  EXPECT_EQ(Scrape(), (Counts{{"shop/shop_web", 2}, {"shop/shop_db", 1}}));
  containers_ = std::make_shared<ContainerMap>();  // every container removed: counts stay
  EXPECT_EQ(Scrape(), (Counts{{"shop/shop_web", 2}, {"shop/shop_db", 1}}));
}

TEST_F(TaskOomEventsTest, AReplayedEventCountsOnce) {
  ooms_.OnEvent(Oom("a", 100, "shop_web", "shop"));
  ooms_.OnEvent(Oom("a", 100, "shop_web", "shop"));  // the catalog's replay after a reconnect
  ooms_.OnEvent(Oom("b", 100, "shop_web", "shop"));  // another task killed at the same instant
  EXPECT_EQ(Scrape(), (Counts{{"shop/shop_web", 2}}));
}

TEST_F(TaskOomEventsTest, OtherEventsAndContainersOutsideSwarmAreNotCounted) {
  ooms_.OnEvent(Oom("plain", 100, "", ""));  // `docker run`: its cgroup's count is what there is
  DockerEvent die = Oom("a", 100, "shop_web", "shop");
  die.action = "die";
  ooms_.OnEvent(die);
  DockerEvent network = Oom("a", 101, "shop_web", "shop");
  network.type = "network";
  ooms_.OnEvent(network);
  EXPECT_TRUE(Scrape().empty());
}

TEST_F(TaskOomEventsTest, ManyDistinctEventsEachCountOnceAndTheNewestAreRemembered) {
  // Far more distinct events than the replay memory holds: each still counts once, and the
  // oldest can count again only once it has been forgotten, long after any replay.
  for (std::int64_t t = 0; t < 10'000; ++t)
    ooms_.OnEvent(Oom("a", t, "shop_web", "shop"));
  EXPECT_EQ(Scrape(), (Counts{{"shop/shop_web", 10'000}}));
  ooms_.OnEvent(Oom("a", 9'999, "shop_web", "shop"));  // the newest: remembered
  EXPECT_EQ(Scrape(), (Counts{{"shop/shop_web", 10'000}}));
}

}  // namespace
}  // namespace swarmwatch
