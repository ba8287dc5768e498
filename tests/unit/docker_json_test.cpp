#include "agent/docker_json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace swarmwatch {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SWARMWATCH_TESTDATA) + "/docker/" + name);
  EXPECT_TRUE(in) << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr const char* kPlainId = "d34f1817d3ce979a0e828f85c0364c57c7eafe1d32857abd3b02ee5ac03635fa";
constexpr const char* kTaskId = "ff7b0f85da1788e6e0e296a8bdaf54916d5878e3e7875cac961fac52eff21a8c";

TEST(ParseEngineInfo, RealEngine) {
  auto info = ParseEngineInfo(Fixture("info.json"));
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->id, "URGD:OYYM:43HY:7R46:23DP:YEU6:PG4X:CNDC:IWT7:HJYA:PENJ:4JMU");
  EXPECT_EQ(info->name, "vm");
  EXPECT_EQ(info->server_version, "20.10.24+dfsg1");
  EXPECT_EQ(info->cgroup_driver, "cgroupfs");
  EXPECT_EQ(info->cgroup_version, "1");
  EXPECT_EQ(info->docker_root_dir, "/var/lib/docker");
  EXPECT_EQ(info->ncpu, 2);
  EXPECT_EQ(info->mem_total, 25276514304);
  EXPECT_EQ(info->swarm_node_id, "76fvra048s5sugkdu6liicp1e");
  EXPECT_EQ(info->swarm_node_state, "active");
  EXPECT_TRUE(info->swarm_manager);
}

// Captured from this engine with a replicated service (2 replicas, stack label "shop") and a
// global one on a single-node Swarm.
TEST(ParseSwarmState, RealManagerAnswers) {
  auto services = ParseServices(Fixture("services.json"));
  ASSERT_TRUE(services) << services.error().message;
  ASSERT_EQ(services->size(), 2u);
  EXPECT_EQ((*services)[0].id, "rxsxfyceaxpesml4tkolsb6y3");
  EXPECT_EQ((*services)[0].name, "capture-rep");
  EXPECT_EQ((*services)[0].stack, "shop");
  EXPECT_EQ((*services)[0].mode, "replicated");
  EXPECT_EQ((*services)[0].replicas, 2);
  EXPECT_EQ((*services)[1].name, "capture-glob");
  EXPECT_EQ((*services)[1].stack, "");
  EXPECT_EQ((*services)[1].mode, "global");
  // Created without resource flags: Docker answers "Limits": {}, "Reservations": {}.
  for (const SwarmService& service : *services) {
    EXPECT_EQ(service.reservations.nano_cpus, 0) << service.name;
    EXPECT_EQ(service.reservations.memory_bytes, 0) << service.name;
    EXPECT_EQ(service.limits.nano_cpus, 0) << service.name;
    EXPECT_EQ(service.limits.memory_bytes, 0) << service.name;
  }

  auto tasks = ParseTasks(Fixture("tasks.json"));
  ASSERT_TRUE(tasks) << tasks.error().message;
  ASSERT_EQ(tasks->size(), 3u);
  int of_replicated = 0;
  for (const SwarmTask& task : *tasks) {
    EXPECT_EQ(task.desired_state, "running");
    EXPECT_EQ(task.state, "running");
    EXPECT_EQ(task.node_id, "76fvra048s5sugkdu6liicp1e");
    of_replicated += task.service_id == "rxsxfyceaxpesml4tkolsb6y3" ? 1 : 0;
  }
  EXPECT_EQ(of_replicated, 2);

  auto nodes = ParseNodes(Fixture("nodes.json"));
  ASSERT_TRUE(nodes) << nodes.error().message;
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].id, "76fvra048s5sugkdu6liicp1e");
  EXPECT_EQ((*nodes)[0].hostname, "vm");
  EXPECT_EQ((*nodes)[0].role, "manager");
  EXPECT_EQ((*nodes)[0].availability, "active");
  EXPECT_EQ((*nodes)[0].state, "ready");
  // The engine's NCPU and MemTotal, as in info.json.
  EXPECT_EQ((*nodes)[0].capacity.nano_cpus, 2'000'000'000);
  EXPECT_EQ((*nodes)[0].capacity.memory_bytes, 25276514304);
}

// Captured from this engine (see tests/testdata/README.md): one service with every flag, one
// with none, one whose flags were given as 0 (Docker's "unset"), one with a CPU limit alone.
TEST(ParseSwarmState, RealServicesWithReservationsAndLimits) {
  auto services = ParseServices(Fixture("services_resources.json"));
  ASSERT_TRUE(services) << services.error().message;
  std::map<std::string, SwarmService> by_name;
  for (const SwarmService& service : *services)
    by_name[service.name] = service;
  ASSERT_EQ(by_name.size(), 4u);

  const SwarmService& sized = by_name.at("capture-sized");
  EXPECT_EQ(sized.reservations.nano_cpus, 250'000'000);
  EXPECT_EQ(sized.reservations.memory_bytes, 256 * 1024 * 1024);
  EXPECT_EQ(sized.limits.nano_cpus, 500'000'000);
  EXPECT_EQ(sized.limits.memory_bytes, 512 * 1024 * 1024);
  EXPECT_EQ(sized.mode, "replicated");

  for (const char* name : {"capture-bare", "capture-zero"}) {
    const SwarmService& s = by_name.at(name);
    EXPECT_EQ(s.reservations.nano_cpus, 0) << name;
    EXPECT_EQ(s.reservations.memory_bytes, 0) << name;
    EXPECT_EQ(s.limits.nano_cpus, 0) << name;
    EXPECT_EQ(s.limits.memory_bytes, 0) << name;
  }

  const SwarmService& cpu_only = by_name.at("capture-cpu-limit");
  EXPECT_EQ(cpu_only.limits.nano_cpus, 50'000'000);
  EXPECT_EQ(cpu_only.limits.memory_bytes, 0);
  EXPECT_EQ(cpu_only.reservations.nano_cpus, 0);
  EXPECT_EQ(cpu_only.reservations.memory_bytes, 0);
}

// Shapes Docker does not send but a proxy or another engine might: no figure is invented.
TEST(ParseSwarmState, OddResourceFiguresReadAsUnset) {
  auto services = ParseServices(R"([
      {"ID":"a","Spec":{"Name":"null-resources","TaskTemplate":{"Resources":null}}},
      {"ID":"b","Spec":{"Name":"no-template"}},
      {"ID":"c","Spec":{"Name":"odd","TaskTemplate":{"Resources":{
          "Reservations":{"NanoCPUs":"250000000","MemoryBytes":-5},
          "Limits":{"NanoCPUs":2.5e8,"MemoryBytes":null,"Pids":100}}}}},
      {"ID":"d","Spec":{"Name":"huge","TaskTemplate":{"Resources":{
          "Limits":{"MemoryBytes":9223372036854775807}}}}}])");
  ASSERT_TRUE(services) << services.error().message;
  ASSERT_EQ(services->size(), 4u);
  for (int i = 0; i < 3; ++i) {
    const SwarmService& s = (*services)[i];
    EXPECT_EQ(s.reservations.nano_cpus, 0) << s.name;
    EXPECT_EQ(s.reservations.memory_bytes, 0) << s.name;
    EXPECT_EQ(s.limits.nano_cpus, 0) << s.name;
    EXPECT_EQ(s.limits.memory_bytes, 0) << s.name;
  }
  EXPECT_EQ((*services)[3].limits.memory_bytes, INT64_MAX);

  auto nodes = ParseNodes(R"([{"ID":"n1","Description":{"Hostname":"h"}},
                              {"ID":"n2","Description":{"Resources":{"NanoCPUs":4000000000}}}])");
  ASSERT_TRUE(nodes) << nodes.error().message;
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].capacity.nano_cpus, 0);
  EXPECT_EQ((*nodes)[0].capacity.memory_bytes, 0);
  EXPECT_EQ((*nodes)[1].capacity.nano_cpus, 4'000'000'000);
  EXPECT_EQ((*nodes)[1].capacity.memory_bytes, 0);
}

TEST(ParseSwarmState, OddEntriesAreSkippedAndNonArraysRejected) {
  auto services = ParseServices(
      R"([{"Spec":{"Name":"no-id"}}, {"ID":"a","Spec":{"Name":"job","Mode":{"ReplicatedJob":{}}}},
          {"ID":"b","Spec":{"Name":"bare"}}, 7])");
  ASSERT_TRUE(services);
  ASSERT_EQ(services->size(), 2u);
  EXPECT_EQ((*services)[0].mode, "replicated-job");
  EXPECT_EQ((*services)[0].replicas, 0);
  EXPECT_EQ((*services)[1].mode, "");
  EXPECT_FALSE(ParseServices(R"({"message":"This node is not a swarm manager."})"));
  EXPECT_FALSE(ParseTasks("{}"));
  EXPECT_FALSE(ParseNodes("[{"));
  auto tasks = ParseTasks(R"([{"ID":"t","Status":null}])");
  ASSERT_TRUE(tasks);
  EXPECT_EQ((*tasks)[0].state, "");
}

TEST(ParseEngineInfo, MissingAndWrongTypedFieldsDefault) {
  auto info = ParseEngineInfo(R"({"Name": 7, "NCPU": "two", "Swarm": null})");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, "");
  EXPECT_EQ(info->ncpu, 0);
  EXPECT_EQ(info->swarm_node_id, "");
}

TEST(ParseEngineInfo, RejectsNonObjectsAndBrokenJson) {
  EXPECT_FALSE(ParseEngineInfo("[]"));
  EXPECT_FALSE(ParseEngineInfo(""));
  auto truncated = ParseEngineInfo(Fixture("info.json").substr(0, 100));
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().message.find("not valid JSON"), std::string::npos);
}

TEST(ParseContainerIds, RealList) {
  auto ids = ParseContainerIds(Fixture("containers_list.json"));
  ASSERT_TRUE(ids) << ids.error().message;
  ASSERT_EQ(ids->size(), 2U);
  EXPECT_EQ((*ids)[0], kTaskId);
}

TEST(ParseContainerIds, SkipsEntriesWithoutIdAndRejectsObjects) {
  auto ids = ParseContainerIds(R"([{"Id":"a"},{"Names":["/x"]},{"Id":5},7,{"Id":"b"}])");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(ParseContainerIds(R"({"Id":"a"})"));
  EXPECT_FALSE(ParseContainerIds(R"([{"Id":"a"})"));
}

TEST(ParseContainerInspect, PlainRunningContainer) {
  auto c = ParseContainerInspect(Fixture("inspect_plain_running.json"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->id, kPlainId);
  EXPECT_EQ(c->name, "swfix-renamed");
  EXPECT_EQ(c->image, "busybox:local");
  EXPECT_EQ(c->labels, (LabelMap{{"app", "fixture"}, {"team", "core ops"}}));
  EXPECT_TRUE(c->running);
  EXPECT_EQ(c->pid, 9236);
  EXPECT_NEAR(c->created_at, 1795677594.132225598, 1e-5);
  EXPECT_GT(c->started_at, 1795677596.0);
  EXPECT_EQ(c->cgroup_parent, "");
  EXPECT_EQ(c->cgroup_path, "");
  EXPECT_EQ(c->log_path,
            std::string("/var/lib/docker/containers/") + kPlainId + "/" + kPlainId + "-json.log");
  EXPECT_EQ(c->log_driver, "json-file");
}

TEST(ParseContainerInspect, ResourceLimits) {
  auto plain = ParseContainerInspect(Fixture("inspect_plain_running.json"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->resources, ContainerResources{});  // no limits: all 0
  // The same container after `docker update --cpus 0.5 --memory 64m --cpu-shares 512`.
  auto json = nlohmann::json::parse(Fixture("inspect_plain_running.json"));
  json["HostConfig"]["NanoCpus"] = 500000000;
  json["HostConfig"]["CpuShares"] = 512;
  json["HostConfig"]["Memory"] = 67108864;
  auto limited = ParseContainerInspect(json.dump());
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->resources.nano_cpus, 500000000);
  EXPECT_EQ(limited->resources.cpu_shares, 512);
  EXPECT_EQ(limited->resources.memory, 67108864);
  EXPECT_EQ(limited->resources.cpu_quota, 0);
}

TEST(ParseContainerInspect, ExitedContainerHasNoPid) {
  auto c = ParseContainerInspect(Fixture("inspect_plain_exited.json"));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->running);
  EXPECT_EQ(c->pid, 0);
  EXPECT_GT(c->started_at, 0);
}

TEST(ParseContainerInspect, NeverStartedContainerHasZeroStartTime) {
  auto c = ParseContainerInspect(Fixture("inspect_never_started.json"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "swfix-created");
  EXPECT_FALSE(c->running);
  EXPECT_EQ(c->started_at, 0);
  EXPECT_GT(c->created_at, 1.7e9);
  EXPECT_TRUE(c->labels.empty());
}

TEST(ParseContainerInspect, SwarmTask) {
  auto c = ParseContainerInspect(Fixture("inspect_swarm_task.json"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kTaskId);
  EXPECT_EQ(c->name, "fixture.1.igqe0rfwesabqhviceuon7avu");
  EXPECT_EQ(c->Label(kSwarmServiceName), "fixture");
  EXPECT_EQ(c->Label(kSwarmTaskName), "fixture.1.igqe0rfwesabqhviceuon7avu");
  EXPECT_EQ(c->Label(kSwarmTaskId), "igqe0rfwesabqhviceuon7avu");
  EXPECT_EQ(c->Label(kSwarmNodeId), "76fvra048s5sugkdu6liicp1e");
  EXPECT_EQ(c->Label(kStackNamespace), "");
  EXPECT_TRUE(c->running);
  EXPECT_EQ(c->pid, 11533);
}

TEST(ParseContainerInspect, NullLabelsAndMissingSections) {
  auto c = ParseContainerInspect(
      R"({"Id":"abc","Name":"/n","Config":{"Image":"x","Labels":null},"State":null})");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->labels.empty());
  EXPECT_FALSE(c->running);
  EXPECT_EQ(c->log_driver, "");
}

TEST(ParseContainerInspect, WrongTypesDefault) {
  auto c = ParseContainerInspect(
      R"({"Id":"abc","Name":5,"Config":{"Labels":{"a":"1","b":2}},
          "State":{"Running":"yes","Pid":"12"},"Created":17,"HostConfig":[]})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "");
  EXPECT_EQ(c->labels, (LabelMap{{"a", "1"}}));
  EXPECT_FALSE(c->running);
  EXPECT_EQ(c->pid, 0);
  EXPECT_EQ(c->created_at, 0);
}

TEST(ParseContainerInspect, UnusableWithoutId) {
  EXPECT_FALSE(ParseContainerInspect(R"({"Name":"/n"})"));
  EXPECT_FALSE(ParseContainerInspect(R"({"Id":42})"));
  EXPECT_FALSE(ParseContainerInspect(R"("Id")"));
  EXPECT_FALSE(ParseContainerInspect(Fixture("inspect_swarm_task.json").substr(0, 500)));
}

TEST(ParseEvent, RealStream) {
  std::istringstream lines(Fixture("events.jsonl"));
  std::vector<DockerEvent> events;
  for (std::string line; std::getline(lines, line);) {
    auto e = ParseEvent(line);
    ASSERT_TRUE(e) << e.error().message << ": " << line;
    events.push_back(*e);
  }
  ASSERT_EQ(events.size(), 21U);
  EXPECT_EQ(events[0].type, "container");
  EXPECT_EQ(events[0].action, "create");
  EXPECT_EQ(events[0].id, kPlainId);
  EXPECT_EQ(events[0].attributes.at("name"), "swfix-plain");
  EXPECT_EQ(events[0].attributes.at("team"), "core ops");
  EXPECT_EQ(events[0].time_nano, 1795677594143883366);
  EXPECT_EQ(events[2].action, "rename");
  EXPECT_EQ(events[2].attributes.at("name"), "swfix-renamed");
  EXPECT_EQ(events[2].attributes.at("oldName"), "/swfix-plain");
  auto has = [&](std::string_view action, std::string_view name) {
    return std::any_of(events.begin(), events.end(), [&](const DockerEvent& e) {
      auto it = e.attributes.find("name");
      return e.action == action && it != e.attributes.end() && it->second == name;
    });
  };
  EXPECT_TRUE(has("die", "swfix-renamed"));
  EXPECT_TRUE(has("destroy", "swfix-created"));
  EXPECT_TRUE(has("start", "fixture.1.igqe0rfwesabqhviceuon7avu"));
  EXPECT_TRUE(has("destroy", "fixture.1.igqe0rfwesabqhviceuon7avu"));
  const auto& task_start = *std::find_if(events.begin(), events.end(), [](const DockerEvent& e) {
    return e.action == "start" && e.id == kTaskId;
  });
  EXPECT_EQ(task_start.attributes.at(std::string(kSwarmServiceName)), "fixture");
}

TEST(ParseEvent, OldFormatAndBrokenInput) {
  auto old = ParseEvent(R"({"status":"die","id":"abc","time":1700000000})");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->type, "container");
  EXPECT_EQ(old->action, "die");
  EXPECT_EQ(old->id, "abc");
  EXPECT_EQ(old->time_nano, 1700000000000000000);
  auto no_attrs = ParseEvent(R"({"Type":"container","Action":"start","Actor":{"ID":"x"}})");
  ASSERT_TRUE(no_attrs);
  EXPECT_TRUE(no_attrs->attributes.empty());
  EXPECT_FALSE(ParseEvent(R"({"Type":"container","Actor":{"ID":"x"}})"));
  EXPECT_FALSE(ParseEvent(R"({"Type":"container","Action":"sta)"));
  EXPECT_FALSE(ParseEvent("[1,2]"));
}

TEST(ParseRfc3339, Forms) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:01Z"), 1.0);
  EXPECT_EQ(*ParseRfc3339("0001-01-01T00:00:00Z"), 0.0);
  EXPECT_NEAR(*ParseRfc3339("2026-11-26T07:20:40.88171073Z"), 1795677640.88171073, 1e-6);
  EXPECT_EQ(*ParseRfc3339("2026-11-26T08:20:40+01:00"), 1795677640.0);
  EXPECT_EQ(*ParseRfc3339("2026-11-26T06:50:40-00:30"), 1795677640.0);
  EXPECT_EQ(*ParseRfc3339("2024-02-29T00:00:00Z"), 1709164800.0);
  EXPECT_FALSE(ParseRfc3339(""));
  EXPECT_FALSE(ParseRfc3339("2026-11-26"));
  EXPECT_FALSE(ParseRfc3339("2026-11-26T07:20:40"));
  EXPECT_FALSE(ParseRfc3339("2026-13-26T07:20:40Z"));
  EXPECT_FALSE(ParseRfc3339("2026-11-26T07:20:40.Z"));
  EXPECT_FALSE(ParseRfc3339("2026-11-26T07:20:40Zjunk"));
}

TEST(DockerErrorMessage, MessageOrBody) {
  EXPECT_EQ(DockerErrorMessage(R"({"message":"No such container: x"})"), "No such container: x");
  EXPECT_EQ(DockerErrorMessage("page not found\n"), "page not found");
  EXPECT_EQ(DockerErrorMessage(std::string(500, 'x')).size(), 200U);
}

}  // namespace
}  // namespace swarmwatch
