#include "exporters/container_collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "exporters/text_format.h"
#include "tests/pressure_text.h"
#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTestdata = SWARMWATCH_TESTDATA;
constexpr double kNow = 1764140000.5;

// Sample lines of an exposition as "series -> value".
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    const std::size_t space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

ContainerInfo Container(std::string id, std::string cgroup_path, std::int64_t pid) {
  ContainerInfo c;
  c.id = std::move(id);
  c.name = "shop_web.1.x7k";
  c.image = "registry:5000/web:1.2";
  c.running = true;
  c.pid = pid;
  c.started_at = 1764139000.25;
  c.cgroup_path = std::move(cgroup_path);
  c.labels = {{"com.docker.swarm.service.name", "shop_web"},
              {"com.docker.stack.namespace", "shop"},
              {"maintainer", "not exported"}};
  return c;
}

class ContainerCollectorTest : public ::testing::Test {
 protected:
  std::shared_ptr<ContainerCollector> Make(const std::string& cgroup_root, CgroupVersion version,
                                           ContainerMap containers) {
    auto snapshot = std::make_shared<const ContainerMap>(std::move(containers));
    ContainerCollectorOptions options;
    options.container_labels = {"com.docker.swarm.service.name", "com.docker.stack.namespace",
                                "com.docker.swarm.task.name"};
    options.now = [] { return kNow; };
    options.on_error = [this](std::string_view source) { errors_[std::string(source)]++; };
    options.on_vanished = [this] { vanished_++; };
    return std::make_shared<ContainerCollector>([snapshot] { return snapshot; },
                                                CgroupReader(cgroup_root, version),
                                                ProcReader(kTestdata + "/proc"), options);
  }

  std::string Text(const ContainerCollector& collector) {
    std::string text;
    collector.WriteText(text);
    return text;
  }

  std::map<std::string, int> errors_;
  int vanished_ = 0;
};

constexpr const char* kV1Labels =
    "container_label_com_docker_swarm_service_name=\"shop_web\","
    "container_label_com_docker_stack_namespace=\"shop\",id=\"/docker/abc123\","
    "image=\"registry:5000/web:1.2\",name=\"shop_web.1.x7k\"";

std::string Series(const std::string& name, const std::string& labels,
                   const std::string& extra = "") {
  return name + "{" + labels + (extra.empty() ? "" : "," + extra) + "}";
}

TEST_F(ContainerCollectorTest, CgroupV1ContainerUnderCadvisorNamesAndLabels) {
  ContainerMap containers;
  containers.emplace("abc123", Container("abc123", "/docker/abc123", 10139));
  auto collector = Make(kTestdata + "/cgroup_v1/separate", CgroupVersion::kV1, containers);
  const auto samples = Samples(Text(*collector));

  // Values as the fixture files hold them, converted to cAdvisor's units.
  EXPECT_DOUBLE_EQ(
      samples.at(Series("container_cpu_usage_seconds_total", kV1Labels, "cpu=\"total\"")),
      37158304 / 1e9);
  EXPECT_EQ(samples.at(Series("container_memory_usage_bytes", kV1Labels)), 8368128);
  EXPECT_EQ(samples.at(Series("container_memory_working_set_bytes", kV1Labels)), 8368128 - 7340032);
  EXPECT_EQ(samples.at(Series("container_memory_rss", kV1Labels)), 163840);
  EXPECT_EQ(samples.at(Series("container_spec_memory_limit_bytes", kV1Labels)), 67108864);
  EXPECT_EQ(samples.at(Series("container_spec_cpu_quota", kV1Labels)), 50000);
  EXPECT_EQ(samples.at(Series("container_spec_cpu_period", kV1Labels)), 100000);
  EXPECT_EQ(samples.at(Series("container_processes", kV1Labels)), 3);
  EXPECT_EQ(samples.at(Series("container_threads", kV1Labels)), 3);
  EXPECT_EQ(samples.at(Series("container_tasks_state", kV1Labels, "state=\"sleeping\"")), 3);
  EXPECT_EQ(samples.at(Series("container_tasks_state", kV1Labels, "state=\"running\"")), 0);
  EXPECT_EQ(
      samples.at(Series("container_network_receive_bytes_total", kV1Labels, "interface=\"eth0\"")),
      656);
  EXPECT_EQ(samples.at(
                Series("container_network_receive_packets_total", kV1Labels, "interface=\"eth0\"")),
            8);
  EXPECT_EQ(
      samples.count(Series("container_network_receive_bytes_total", kV1Labels, "interface=\"lo\"")),
      0u);
  EXPECT_EQ(samples.at(Series("container_fs_writes_bytes_total", kV1Labels, "device=\"/dev/vda\"")),
            8671232);
  EXPECT_EQ(samples.at(Series("container_start_time_seconds", kV1Labels)), 1764139000.25);
  EXPECT_EQ(samples.at(Series("container_last_seen", kV1Labels)), kNow);
  EXPECT_TRUE(samples.count(Series("container_pressure_cpu_waiting_seconds_total", kV1Labels)));
  EXPECT_TRUE(samples.count(Series("container_memory_failures_total", kV1Labels,
                                   "failure_type=\"pgfault\",scope=\"container\"")));

  // The host's totals and the machine.
  EXPECT_TRUE(samples.count("container_cpu_usage_seconds_total{id=\"/\",cpu=\"total\"}"));
  EXPECT_TRUE(samples.count("container_memory_usage_bytes{id=\"/\"}"));
  EXPECT_EQ(samples.at("container_threads{id=\"/\"}"), 82);  // proc/loadavg "1/82"
  EXPECT_EQ(samples.count("container_processes{id=\"/\"}"), 0u);
  EXPECT_EQ(samples.at("machine_cpu_cores"), 2);
  EXPECT_GT(samples.at("machine_memory_bytes"), 1e9);
  EXPECT_TRUE(errors_.empty());
}

TEST_F(ContainerCollectorTest, OnlyAllowlistedLabelsAreExported) {
  ContainerMap containers;
  containers.emplace("abc123", Container("abc123", "/docker/abc123", 10139));
  auto collector = Make(kTestdata + "/cgroup_v1/separate", CgroupVersion::kV1, containers);
  const std::string text = Text(*collector);
  EXPECT_THAT(text, HasSubstr("container_label_com_docker_swarm_service_name=\"shop_web\""));
  EXPECT_THAT(text, Not(HasSubstr("maintainer")));
  EXPECT_THAT(text, Not(HasSubstr("container_label_com_docker_swarm_task_name")));
}

TEST_F(ContainerCollectorTest, StoppedAndVanishedContainersAreSkippedAndCounted) {
  ContainerMap containers;
  ContainerInfo stopped = Container("def456", "/docker/abc123", 0);
  stopped.running = false;
  stopped.name = "stopped-one";
  containers.emplace("def456", stopped);
  ContainerInfo gone = Container("fed789", "/docker/fed789", 10139);
  gone.name = "gone-mid-scrape";
  containers.emplace("fed789", gone);
  auto collector = Make(kTestdata + "/cgroup_v1/separate", CgroupVersion::kV1, containers);
  const std::string text = Text(*collector);
  EXPECT_THAT(text, Not(HasSubstr("stopped-one")));
  EXPECT_THAT(text, Not(HasSubstr("gone-mid-scrape")));
  EXPECT_THAT(text, HasSubstr("container_cpu_usage_seconds_total{id=\"/\""));
  EXPECT_EQ(vanished_, 1);
}

TEST_F(ContainerCollectorTest, CgroupV2ContainerGivesTheSameNames) {
  ContainerMap containers;
  containers.emplace("abc123", Container("abc123", "/system.slice/docker-abc123.scope", 10139));
  auto collector = Make(kTestdata + "/cgroup_v2", CgroupVersion::kV2, containers);
  const auto samples = Samples(Text(*collector));
  const std::string labels =
      "container_label_com_docker_swarm_service_name=\"shop_web\","
      "container_label_com_docker_stack_namespace=\"shop\","
      "id=\"/system.slice/docker-abc123.scope\",image=\"registry:5000/web:1.2\","
      "name=\"shop_web.1.x7k\"";
  EXPECT_EQ(samples.at(Series("container_memory_usage_bytes", labels)), 52428800);
  EXPECT_EQ(samples.at(Series("container_memory_working_set_bytes", labels)), 52428800 - 16777216);
  EXPECT_DOUBLE_EQ(samples.at(Series("container_pressure_cpu_waiting_seconds_total", labels)),
                   1.234567);
  EXPECT_DOUBLE_EQ(samples.at(Series("container_pressure_cpu_stalled_seconds_total", labels)),
                   0.456789);
  EXPECT_TRUE(samples.count(Series("container_cpu_cfs_throttled_seconds_total", labels)));
  EXPECT_TRUE(samples.count(Series("container_spec_cpu_shares", labels)));
}

// The root of v2 has no memory.current: the host's memory in use from /proc/meminfo, as runc gives
// cAdvisor, so that id="/" has a usage and a working set on v2 as on v1.
TEST_F(ContainerCollectorTest, CgroupV2RootMemoryIsTheHostsInUseFromMeminfo) {
  testing::TempDir root;
  std::ofstream(root.path() + "/cgroup.controllers") << "cpu io memory pids\n";
  std::ofstream(root.path() + "/cpu.stat") << "usage_usec 1000\nuser_usec 600\nsystem_usec 400\n";
  std::ofstream(root.path() + "/memory.stat") << "anon 1\nfile 2\ninactive_file 104857600\n";
  auto collector = Make(root.path(), CgroupVersion::kV2, {});
  const auto samples = Samples(Text(*collector));
  const double in_use = (24684096.0 - 23802508.0) * 1024;  // testdata/proc/meminfo
  EXPECT_EQ(samples.at("container_memory_usage_bytes{id=\"/\"}"), in_use);
  EXPECT_EQ(samples.at("container_memory_working_set_bytes{id=\"/\"}"), in_use - 104857600);
  EXPECT_EQ(samples.at("container_memory_swap{id=\"/\"}"), 0);

  // More inactive file pages than in use (they are counted apart): floored at 0, as cAdvisor does.
  std::ofstream(root.path() + "/memory.stat") << "inactive_file 1073741824\n";
  EXPECT_EQ(Samples(Text(*collector)).at("container_memory_working_set_bytes{id=\"/\"}"), 0);
}

TEST_F(ContainerCollectorTest, TextAndCollectableAgree) {
  ContainerMap containers;
  containers.emplace("abc123", Container("abc123", "/docker/abc123", 10139));
  auto collector = Make(kTestdata + "/cgroup_v1/separate", CgroupVersion::kV1, containers);
  std::string via_families;
  WriteTextExposition(collector->Collect(), via_families);
  const std::string direct = Text(*collector);
  EXPECT_EQ(direct, via_families);
  EXPECT_GT(Samples(direct).size(), 60u);
}

// A copy of the v1 fixture tree whose files a test changes between scrapes, at a time it sets,
// with a container whose engine-side limits it sets.
class ChangingTree {
 public:
  // The v1 fixture's container by default, or any other of a fixture tree.
  explicit ChangingTree(const std::string& tree = "cgroup_v1/separate",
                        CgroupVersion version = CgroupVersion::kV1,
                        const std::string& cgroup = "/docker/abc123")
      : cgroup_(cgroup) {
    std::filesystem::copy(kTestdata + "/" + tree, dir_.path(),
                          std::filesystem::copy_options::recursive);
    std::filesystem::copy(kTestdata + "/proc", dir_.path() + "/proc",
                          std::filesystem::copy_options::recursive);
    container_ = Container("abc123", cgroup, 10139);
    ContainerCollectorOptions options;
    options.now = [this] { return now_; };
    collector_ = std::make_unique<ContainerCollector>(
        [this] {
          return std::make_shared<const ContainerMap>(ContainerMap{{"abc123", container_}});
        },
        CgroupReader(dir_.path(), version), ProcReader(dir_.path() + "/proc"), options);
  }
  void Write(const std::string& file, const std::string& text) {
    std::ofstream(dir_.path() + "/" + file) << text;
  }
  // One sample of the container, by metric name (and extra labels, "" for none).
  double Sample(const std::string& name, const std::string& extra = "") {
    std::string text;
    collector_->WriteText(text);
    return Samples(text).at(name + "{" + extra + Labels() + "}");
  }
  void Scrape(std::string& text) {
    text.clear();
    collector_->WriteText(text);
  }
  // The container's container_tasks_state{state} (the state label comes last).
  double TaskState(const std::string& state) {
    return SampleOf("container_tasks_state", "state=\"" + state + "\"");
  }
  // One sample of the container whose own label (`last`, such as device="vda") comes last.
  double SampleOf(const std::string& name, const std::string& last) {
    std::string text;
    collector_->WriteText(text);
    return Samples(text).at(name + "{" + Labels() + "," + last + "}");
  }
  double now_ = kNow;
  ContainerInfo container_;

 private:
  std::string Labels() const {
    return "id=\"" + cgroup_ + "\",image=\"registry:5000/web:1.2\",name=\"shop_web.1.x7k\"";
  }
  std::string cgroup_;
  testing::TempDir dir_;
  std::unique_ptr<ContainerCollector> collector_;
};

TEST(ContainerCollectorSpec, LimitsAreReReadOnceAMinuteOrWhenTheEngineChangesThem) {
  ChangingTree tree;
  EXPECT_EQ(tree.Sample("container_spec_cpu_quota"), 50000);
  tree.Write("cpu/docker/abc123/cpu.cfs_quota_us", "25000\n");  // outside the engine's knowledge
  tree.now_ += 30;
  EXPECT_EQ(tree.Sample("container_spec_cpu_quota"), 50000);
  tree.now_ += 31;
  EXPECT_EQ(tree.Sample("container_spec_cpu_quota"), 25000);

  tree.Write("cpu/docker/abc123/cpu.cfs_quota_us", "75000\n");  // docker update --cpus 0.75
  tree.container_.resources.nano_cpus = 750000000;
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_spec_cpu_quota"), 75000);
}

TEST(ContainerCollectorSpec, LimitsAreReReadWhenTheClockWasSetBack) {
  ChangingTree tree;
  EXPECT_EQ(tree.Sample("container_spec_cpu_quota"), 50000);
  tree.Write("cpu/docker/abc123/cpu.cfs_quota_us", "25000\n");
  tree.now_ -= 3600;  // kept until the clock was past the last read again, an hour later
  EXPECT_EQ(tree.Sample("container_spec_cpu_quota"), 25000);
}

TEST(ContainerCollectorSpec, CountersThatCannotMoveWithoutALimitAreReadWithTheLimits) {
  ChangingTree tree;
  // A CPU quota and a memory limit (the fixture's): throttling and failcnt read at every scrape.
  EXPECT_EQ(tree.Sample("container_cpu_cfs_periods_total"), 4);
  tree.Write("cpu/docker/abc123/cpu.stat", "nr_periods 9\nnr_throttled 2\nthrottled_time 5\n");
  tree.Write("memory/docker/abc123/memory.failcnt", "3\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_cpu_cfs_periods_total"), 9);
  EXPECT_EQ(tree.Sample("container_cpu_cfs_throttled_periods_total"), 2);
  EXPECT_EQ(tree.Sample("container_memory_failcnt"), 3);

  // docker update removes both: the kernel no longer moves these counters, which are kept as
  // last read until the limits are read again.
  tree.Write("cpu/docker/abc123/cpu.cfs_quota_us", "-1\n");
  tree.Write("memory/docker/abc123/memory.limit_in_bytes", "9223372036854771712\n");
  tree.container_.resources.memory = 0;
  tree.container_.resources.nano_cpus = 1;
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_cpu_cfs_periods_total"), 9);
  tree.Write("cpu/docker/abc123/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 5\n");
  tree.Write("memory/docker/abc123/memory.failcnt", "4\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_cpu_cfs_periods_total"), 9);
  EXPECT_EQ(tree.Sample("container_memory_failcnt"), 3);
  tree.now_ += 60;  // the periodic re-read of the limits reads them too
  EXPECT_EQ(tree.Sample("container_cpu_cfs_periods_total"), 10);
  EXPECT_EQ(tree.Sample("container_memory_failcnt"), 4);
}

TEST(ContainerCollectorSpec, OomKillsAreReReadWhenTheHostCountedOne) {
  ChangingTree tree;
  EXPECT_EQ(tree.Sample("container_oom_events_total"), 0);
  // The kernel counts every OOM kill in /proc/vmstat with the cgroup's: while the host's count
  // stays, memory.oom_control is not read (here it changed behind the collector's back).
  tree.Write("memory/docker/abc123/memory.oom_control",
             "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  EXPECT_EQ(tree.Sample("container_oom_events_total"), 0);
  std::ifstream in(kTestdata + "/proc/vmstat");
  std::string vmstat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t at = vmstat.find("\noom_kill 0\n");
  ASSERT_NE(at, std::string::npos);
  tree.Write("proc/vmstat", vmstat.replace(at, 12, "\noom_kill 1\n"));
  EXPECT_EQ(tree.Sample("container_oom_events_total"), 1);
}

TEST(ContainerCollectorSpec, ARestartedContainerIsReadAfresh) {
  ChangingTree tree;
  EXPECT_EQ(tree.Sample("container_oom_events_total"), 0);
  EXPECT_EQ(tree.Sample("container_memory_failcnt"), 0);
  // Restarted: the same id and cgroup path, a new cgroup (here: its counters as the old ones'
  // would never be), a new init process.
  tree.Write("memory/docker/abc123/memory.oom_control",
             "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  tree.container_.pid = 10184;
  EXPECT_EQ(tree.Sample("container_oom_events_total"), 1);
}

TEST(ContainerCollectorSpec, OnV2TheCfsCountersComeFreshWithTheCpuTime) {
  // v2 has them in cpu.stat, read at every scrape for the CPU time: never replaced by the values
  // kept for v1, even without a quota (cpu.max "max 100000").
  ChangingTree tree("cgroup_v2", CgroupVersion::kV2, "/system.slice/docker-unlimited.scope");
  EXPECT_EQ(tree.Sample("container_cpu_cfs_periods_total"), 0);
  tree.Write("system.slice/docker-unlimited.scope/cpu.stat",
             "usage_usec 20\nuser_usec 10\nsystem_usec 10\nnr_periods 7\nnr_throttled 0\n"
             "throttled_usec 0\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_cpu_cfs_periods_total"), 7);
}

// /proc/<pid>/stat of the fixture's processes (parent 10139), in another state.
std::string TaskStat(int pid, char state) {
  return std::to_string(pid) + " (sleep) " + state +
         " 10139 10139 10139 0 -1 4194304 60 0 0 0 0 0 0 0 20 0 1 0 31402 2322432 348\n";
}

TEST(ContainerCollectorTasks, AContainerThatHasNotRunSinceKeepsTheStatesLastRead) {
  ChangingTree tree;  // processes 10139, 10184, 10185, all sleeping
  EXPECT_EQ(tree.TaskState("sleeping"), 3);
  // Woken since, not run yet: neither the CPU time nor the processes moved.
  tree.Write("proc/10184/stat", TaskStat(10184, 'R'));
  tree.now_ += 1;
  EXPECT_EQ(tree.TaskState("running"), 0);
  // Once it ran, its CPU time moved.
  tree.Write("cpuacct/docker/abc123/cpuacct.usage", "37168304\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.TaskState("running"), 1);
  EXPECT_EQ(tree.TaskState("sleeping"), 2);

  // Another process list with the same CPU time: one moved out of the cgroup by another process,
  // the one change that does not run the container. It shows once the container ran.
  tree.Write("proc/10185/stat", TaskStat(10185, 'D'));
  tree.Write("cpu/docker/abc123/cgroup.procs", "10139\n10185\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_processes"), 3);
  EXPECT_EQ(tree.TaskState("uninterruptible"), 0);
  tree.Write("cpuacct/docker/abc123/cpuacct.usage", "37168305\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_processes"), 2);
  EXPECT_EQ(tree.TaskState("uninterruptible"), 1);
  EXPECT_EQ(tree.TaskState("running"), 0);

  // And a minute after the last read in any case.
  tree.Write("proc/10185/stat", TaskStat(10185, 'T'));
  tree.Write("cpu/docker/abc123/cgroup.procs", "10139\n10184\n10185\n");
  tree.now_ += 59;
  EXPECT_EQ(tree.TaskState("stopped"), 0);
  EXPECT_EQ(tree.Sample("container_processes"), 2);
  tree.now_ += 1;
  EXPECT_EQ(tree.TaskState("stopped"), 1);
  EXPECT_EQ(tree.Sample("container_processes"), 3);

  // A clock set back makes them due as well.
  tree.Write("proc/10185/stat", TaskStat(10185, 'S'));
  tree.now_ -= 3600;
  EXPECT_EQ(tree.TaskState("stopped"), 0);
}

TEST(ContainerCollectorIdle, ThePeakAndBlockIoAreReadAgainOnceTheContainerRan) {
  ChangingTree tree;
  EXPECT_EQ(tree.Sample("container_memory_max_usage_bytes"), 10543104);
  // Changed behind the collector's back, which the kernel cannot do while the container sleeps.
  tree.Write("memory/docker/abc123/memory.max_usage_in_bytes", "10600000\n");
  tree.Write("blkio/docker/abc123/blkio.throttle.io_serviced", "254:0 Write 13\nTotal 13\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_memory_max_usage_bytes"), 10543104);
  EXPECT_EQ(tree.SampleOf("container_fs_writes_total", "device=\"/dev/vda\""), 12);
  tree.Write("cpuacct/docker/abc123/cpuacct.usage", "37168304\n");
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample("container_memory_max_usage_bytes"), 10600000);
  EXPECT_EQ(tree.SampleOf("container_fs_writes_total", "device=\"/dev/vda\""), 13);
}

TEST(ContainerCollectorPressure, AContainersFileIsReadAgainOnceTheHostsTotalMovedOrAMinuteOn) {
  ChangingTree tree;
  const std::string waiting = "container_pressure_memory_waiting_seconds_total";
  EXPECT_EQ(tree.Sample(waiting), 0);
  // Changed behind the collector's back, which the kernel cannot do while the host's total stays.
  tree.Write("unified/docker/abc123/memory.pressure", testing::PressureText(5000, 1000));
  tree.now_ += 1;
  EXPECT_EQ(tree.Sample(waiting), 0);
  EXPECT_EQ(tree.Sample("container_pressure_memory_stalled_seconds_total"), 0);
  // The host's total moved: the root is read before the container, which is read again.
  tree.Write("unified/memory.pressure", testing::PressureText(123456789, 1000));
  tree.now_ += 1;
  EXPECT_DOUBLE_EQ(tree.Sample(waiting), 0.005);
  EXPECT_DOUBLE_EQ(tree.Sample("container_pressure_memory_stalled_seconds_total"), 0.001);
  // Not trusted for longer than a minute.
  tree.Write("unified/docker/abc123/memory.pressure", testing::PressureText(6000, 1000));
  tree.now_ += 30;
  EXPECT_DOUBLE_EQ(tree.Sample(waiting), 0.005);
  tree.now_ += 31;
  EXPECT_DOUBLE_EQ(tree.Sample(waiting), 0.006);
}

TEST(ContainerCollectorLabels, ARenamedContainerIsServedUnderItsNewName) {
  ChangingTree tree;
  std::string text;
  tree.Scrape(text);
  EXPECT_NE(text.find("name=\"shop_web.1.x7k\""), std::string::npos);
  tree.container_.name = "renamed";
  tree.now_ += 1;
  tree.Scrape(text);
  EXPECT_EQ(text.find("name=\"shop_web.1.x7k\""), std::string::npos);
  EXPECT_NE(text.find("container_processes{id=\"/docker/abc123\",image=\"registry:5000/web:1.2\","
                      "name=\"renamed\"} 3"),
            std::string::npos);
}

TEST(ContainerLabelName, ReplacesWhatPrometheusForbids) {
  EXPECT_EQ(ContainerLabelName("com.docker.swarm.service.name"),
            "container_label_com_docker_swarm_service_name");
  EXPECT_EQ(ContainerLabelName("a-b/c:d"), "container_label_a_b_c_d");
}

}  // namespace
}  // namespace swarmwatch
