#include "agent/container_catalog.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "tests/fake_docker_api.h"

namespace swarmwatch {
namespace {

using std::chrono::milliseconds;
using testing::FakeDockerApi;
using testing::WaitFor;

ContainerInfo Container(std::string id, std::string name, bool running = true,
                        std::int64_t pid = 0) {
  ContainerInfo c;
  c.id = std::move(id);
  c.name = std::move(name);
  c.image = "busybox:local";
  c.running = running;
  c.pid = pid;
  return c;
}

ContainerCatalog::Options FastOptions() {
  ContainerCatalog::Options o;
  o.proc_root = "/nonexistent-proc";
  o.backoff_min = milliseconds(5);
  o.backoff_max = milliseconds(20);
  return o;
}

class ContainerCatalogTest : public ::testing::Test {
 protected:
  // Starts the catalog and waits until it follows events.
  void StartAndWait() {
    catalog_.Start();
    ASSERT_TRUE(WaitFor([&] { return catalog_.Ready() && api_->streaming(); }));
  }
  // Pushes an event and waits until the catalog has handled it.
  void Event(const std::string& action, const std::string& id) {
    api_->Push(action, id);
    ASSERT_TRUE(WaitFor([&] { return api_->drained(); }));
  }
  const ContainerInfo* Find(const std::string& id) {
    snap_ = catalog_.Snapshot();
    auto it = snap_->find(id);
    return it == snap_->end() ? nullptr : &it->second;
  }

  std::shared_ptr<FakeDockerApi> api_ = std::make_shared<FakeDockerApi>();
  ContainerCatalog catalog_{api_, FastOptions()};
  ContainerSnapshot snap_;
};

TEST_F(ContainerCatalogTest, SyncOnceListsInspectsAndDerivesCgroupPaths) {
  api_->Put(Container("a", "web", true, 123));  // /proc unreadable: derived
  api_->Put(Container("b", "job", false));
  ASSERT_TRUE(catalog_.SyncOnce());
  auto snap = catalog_.Snapshot();
  ASSERT_EQ(snap->size(), 2U);
  EXPECT_EQ(snap->at("a").name, "web");
  EXPECT_EQ(snap->at("a").cgroup_path, "/docker/a");
  EXPECT_EQ(snap->at("b").cgroup_path, "/docker/b");
  ASSERT_TRUE(catalog_.Engine());
  EXPECT_EQ(catalog_.Engine()->cgroup_driver, "cgroupfs");
  EXPECT_EQ(catalog_.counters().resyncs, 1U);
  EXPECT_FALSE(catalog_.Ready());  // only the thread, following events, is ready
}

TEST_F(ContainerCatalogTest, SwarmStateOnlyFromAManagerAndAtMostOncePerMaxAge) {
  ASSERT_TRUE(catalog_.SyncOnce());
  auto worker = catalog_.Swarm(milliseconds(50));
  ASSERT_TRUE(worker.ok());
  EXPECT_FALSE(worker->has_value());
  EXPECT_EQ(api_->swarm_reads(), 0);  // a worker is not even asked

  EngineInfo manager;
  manager.swarm_manager = true;
  api_->SetInfo(manager);
  SwarmState state;
  state.services = {{"s1", "web", "shop", "replicated", 3, {}, {}}};
  api_->SetSwarm(state);
  ASSERT_TRUE(catalog_.SyncOnce());
  auto first = catalog_.Swarm(std::chrono::hours(1));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->services.at(0).name, "web");
  auto cached = catalog_.Swarm(std::chrono::hours(1));
  ASSERT_TRUE(cached.ok() && cached->has_value());
  EXPECT_EQ(api_->swarm_reads(), 1);

  api_->SetSwarm(Error{"HTTP 503: the cluster has no leader"});
  auto failed = catalog_.Swarm(milliseconds(0));
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(api_->swarm_reads(), 2);
}

TEST_F(ContainerCatalogTest, CgroupPathFromProcAndSystemdFallback) {
  const auto root = std::filesystem::temp_directory_path() /
                    ("swarmwatch_catalog_proc_" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "77");
  std::ofstream(root / "77" / "cgroup") << "4:memory:/custom/a\n0::/\n";
  auto options = FastOptions();
  options.proc_root = root.string();
  EngineInfo info;
  info.cgroup_driver = "systemd";
  api_->SetInfo(info);
  api_->Put(Container("a", "web", true, 77));
  api_->Put(Container("b", "old", false));
  ContainerCatalog catalog(api_, options);
  ASSERT_TRUE(catalog.SyncOnce());
  EXPECT_EQ(catalog.Snapshot()->at("a").cgroup_path, "/custom/a");
  EXPECT_EQ(catalog.Snapshot()->at("b").cgroup_path, "/system.slice/docker-b.scope");
  std::filesystem::remove_all(root);
}

TEST_F(ContainerCatalogTest, SnapshotsAreImmutable) {
  api_->Put(Container("a", "web"));
  ASSERT_TRUE(catalog_.SyncOnce());
  auto before = catalog_.Snapshot();
  api_->Remove("a");
  ASSERT_TRUE(catalog_.SyncOnce());
  EXPECT_EQ(before->size(), 1U);
  EXPECT_TRUE(catalog_.Snapshot()->empty());
}

TEST_F(ContainerCatalogTest, StartDieDestroyRename) {
  std::vector<std::pair<std::string, bool>> seen;
  std::mutex seen_mu;
  catalog_.Subscribe([&](const ContainerInfo& c, bool removed) {
    const std::lock_guard lock(seen_mu);
    seen.emplace_back(c.name, removed);
  });
  StartAndWait();
  EXPECT_TRUE(catalog_.Snapshot()->empty());

  api_->Put(Container("a", "web", false));
  Event("create", "a");
  ASSERT_NE(Find("a"), nullptr);
  EXPECT_FALSE(Find("a")->running);

  api_->Put(Container("a", "web", true, 42));
  Event("start", "a");
  EXPECT_TRUE(Find("a")->running);
  EXPECT_EQ(Find("a")->pid, 42);

  api_->Put(Container("a", "web2", true, 42));
  Event("rename", "a");
  EXPECT_EQ(Find("a")->name, "web2");

  api_->Put(Container("a", "web2", false, 0));
  Event("die", "a");
  EXPECT_FALSE(Find("a")->running);
  EXPECT_EQ(Find("a")->pid, 0);

  Event("exec_start: sh -c true", "a");  // ignored
  Event("die", "a");                     // duplicate: no change, no notification

  api_->Remove("a");
  Event("destroy", "a");
  EXPECT_EQ(Find("a"), nullptr);
  Event("destroy", "a");  // duplicate destroy is harmless

  const std::lock_guard lock(seen_mu);
  const std::vector<std::pair<std::string, bool>> want = {
      {"web", false}, {"web", false}, {"web2", false}, {"web2", false}, {"web2", true}};
  EXPECT_EQ(seen, want);
}

TEST_F(ContainerCatalogTest, UpdateEventWithNewLimitsPublishesThem) {
  StartAndWait();
  api_->Put(Container("a", "web", true, 42));
  Event("start", "a");
  ASSERT_NE(Find("a"), nullptr);
  EXPECT_EQ(Find("a")->resources.memory, 0);

  ContainerInfo updated = Container("a", "web", true, 42);
  updated.resources.memory = 256 << 20;  // docker update --memory 256m
  api_->Put(updated);
  Event("update", "a");
  EXPECT_EQ(Find("a")->resources.memory, 256 << 20);
}

TEST_F(ContainerCatalogTest, DieWhenInspectFailsMarksStopped) {
  api_->Put(Container("a", "web", true, 42));
  StartAndWait();
  ASSERT_TRUE(Find("a")->running);
  api_->FailInspect(true);
  Event("die", "a");
  ASSERT_NE(Find("a"), nullptr);
  EXPECT_FALSE(Find("a")->running);
  EXPECT_EQ(Find("a")->pid, 0);
  EXPECT_GE(catalog_.counters().docker_api_errors, 1U);
  api_->FailInspect(false);
}

TEST_F(ContainerCatalogTest, AContainerGoneBeforeItsInspectIsTakenFromItsEvents) {
  // `docker run --rm` that was quick: the engine answers 404 to the inspect of its start event.
  std::vector<std::pair<std::string, bool>> seen;
  std::mutex seen_mu;
  catalog_.Subscribe([&](const ContainerInfo& c, bool removed) {
    const std::lock_guard lock(seen_mu);
    seen.emplace_back(c.name, removed);
  });
  StartAndWait();
  DockerEvent start;
  start.type = "container";
  start.action = "start";
  start.id = "gone";
  start.time_nano = 1'700'000'000'000'000'000;
  start.attributes = {{"name", "quick"},
                      {"image", "busybox:local"},
                      {"com.docker.swarm.service.name", "jobs_once"},
                      {"exitCode", "0"}};
  api_->Push(start);
  ASSERT_TRUE(WaitFor([&] { return api_->drained(); }));
  const ContainerInfo* c = Find("gone");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "quick");
  EXPECT_EQ(c->image, "busybox:local");
  EXPECT_EQ(c->Label("com.docker.swarm.service.name"), "jobs_once");
  EXPECT_EQ(c->labels.count("exitCode"), 0U);  // an event's detail, not a label
  EXPECT_TRUE(c->log_driver.empty());          // unknown: the shipper looks for the file
  EXPECT_EQ(c->pid, 0);
  Event("destroy", "gone");
  EXPECT_EQ(Find("gone"), nullptr);
  const std::lock_guard lock(seen_mu);
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, bool>>{{"quick", false}, {"quick", true}}));
}

TEST_F(ContainerCatalogTest, EventListenersGetEveryContainerEventAsSent) {
  // An OOM kill of a task's main process: `oom`, then `die` of a container already gone when the
  // catalog asks for it. The event listener sees both as the engine sent them, attributes and all.
  std::vector<std::string> seen;
  std::mutex seen_mu;
  catalog_.SubscribeEvents([&](const DockerEvent& e) {
    const std::lock_guard lock(seen_mu);
    seen.push_back(e.action + " " + e.id + " " + e.attributes.at("com.docker.swarm.service.name"));
  });
  StartAndWait();
  for (const char* action : {"oom", "die", "exec_start: sh"}) {
    DockerEvent e;
    e.type = "container";
    e.action = action;
    e.id = "killed";
    e.attributes = {{"name", "shop_db.1.x"}, {"com.docker.swarm.service.name", "shop_db"}};
    api_->Push(e);
    ASSERT_TRUE(WaitFor([&] { return api_->drained(); }));
  }
  const std::lock_guard lock(seen_mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"oom killed shop_db", "die killed shop_db",
                                            "exec_start: sh killed shop_db"}));
}

TEST(ContainerFromEvent, NameImageAndLabelsWithoutTheEventsDetails) {
  DockerEvent e;
  e.type = "container";
  e.action = "die";
  e.id = "abc";
  e.attributes = {{"name", "n"},       {"image", "i"},
                  {"exitCode", "137"}, {"signal", "9"},
                  {"oldName", "/o"},   {"app", "shop"},
                  {"execID", "e1"},    {"com.docker.stack.namespace", "st"}};
  const ContainerInfo c = ContainerFromEvent(e);
  EXPECT_EQ(c.id, "abc");
  EXPECT_EQ(c.name, "n");
  EXPECT_EQ(c.image, "i");
  EXPECT_EQ(c.labels, (LabelMap{{"app", "shop"}, {"com.docker.stack.namespace", "st"}}));
  EXPECT_FALSE(c.running);
}

TEST_F(ContainerCatalogTest, ResyncAfterDropDropsVanishedContainers) {
  api_->Put(Container("a", "web"));
  api_->Put(Container("b", "db"));
  StartAndWait();
  ASSERT_EQ(catalog_.Snapshot()->size(), 2U);
  std::vector<std::string> removed;
  std::mutex removed_mu;
  catalog_.Subscribe([&](const ContainerInfo& c, bool is_removed) {
    if (is_removed) {
      const std::lock_guard lock(removed_mu);
      removed.push_back(c.id);
    }
  });

  // While the stream is down, "b" goes away and "c" appears without any event reaching us.
  api_->SetEngineUp(false);
  ASSERT_TRUE(WaitFor([&] { return !catalog_.Ready(); }));
  api_->Remove("b");
  api_->Put(Container("c", "cache"));
  api_->SetEngineUp(true);
  ASSERT_TRUE(WaitFor([&] { return catalog_.Ready() && api_->streaming(); }));
  auto snap = catalog_.Snapshot();
  EXPECT_EQ(snap->size(), 2U);
  EXPECT_TRUE(snap->contains("a"));
  EXPECT_TRUE(snap->contains("c"));
  EXPECT_FALSE(snap->contains("b"));
  EXPECT_GE(catalog_.counters().resyncs, 2U);
  EXPECT_GE(catalog_.counters().event_stream_failures, 1U);
  EXPECT_GE(api_->streams_opened(), 2);
  const std::lock_guard lock(removed_mu);
  EXPECT_EQ(removed, std::vector<std::string>{"b"});
}

TEST_F(ContainerCatalogTest, DroppedStreamReconnects) {
  StartAndWait();
  api_->DropStream();
  ASSERT_TRUE(WaitFor([&] { return api_->streams_opened() >= 2 && catalog_.Ready(); }));
  EXPECT_GE(catalog_.counters().event_stream_failures, 1U);
}

TEST_F(ContainerCatalogTest, StreamStartsBeforeTheList) {
  const auto before = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  StartAndWait();
  EXPECT_LT(api_->last_since(), before + 1);
  EXPECT_GE(api_->last_since(), before - 2);
}

TEST_F(ContainerCatalogTest, NotReadyWhileEngineAbsentThenReady) {
  api_->SetEngineUp(false);
  api_->Put(Container("a", "web"));
  catalog_.Start();
  ASSERT_TRUE(WaitFor([&] { return catalog_.counters().docker_api_errors >= 3; }));
  EXPECT_FALSE(catalog_.Ready());
  EXPECT_FALSE(catalog_.Engine());
  EXPECT_TRUE(catalog_.Snapshot()->empty());
  api_->SetEngineUp(true);
  ASSERT_TRUE(WaitFor([&] { return catalog_.Ready(); }));
  EXPECT_EQ(catalog_.Snapshot()->size(), 1U);
  EXPECT_TRUE(catalog_.Engine());
}

TEST_F(ContainerCatalogTest, StopIsPromptWhileStreaming) {
  StartAndWait();
  const auto t0 = std::chrono::steady_clock::now();
  catalog_.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
  EXPECT_FALSE(catalog_.Ready());
  catalog_.Stop();  // idempotent
}

TEST_F(ContainerCatalogTest, StopIsPromptDuringLongBackoff) {
  auto options = FastOptions();
  options.backoff_min = std::chrono::seconds(30);
  options.backoff_max = std::chrono::seconds(60);
  api_->SetEngineUp(false);
  ContainerCatalog catalog(api_, options);
  catalog.Start();
  ASSERT_TRUE(WaitFor([&] { return catalog.counters().docker_api_errors >= 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  catalog.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
}

TEST_F(ContainerCatalogTest, DestructorStops) {
  auto catalog = std::make_unique<ContainerCatalog>(api_, FastOptions());
  catalog->Start();
  ASSERT_TRUE(WaitFor([&] { return api_->streaming(); }));
  catalog.reset();
  EXPECT_FALSE(api_->streaming());
}

}  // namespace
}  // namespace swarmwatch
