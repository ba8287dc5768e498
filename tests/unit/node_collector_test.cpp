#include "exporters/node_collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config.h"
#include "tests/fake_statfs.h"
#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

using namespace std::chrono_literals;
using swarmwatch::testing::FakeStatfs;
using ::testing::HasSubstr;

const std::string kTestdata = SWARMWATCH_TESTDATA;

// An exposition read back: each family's help and type, and each series (labels sorted, as
// written by either side) with its value.
struct Exposition {
  std::map<std::string, std::string> help, type;
  std::map<std::string, double> samples;
  std::set<std::string> families;  // of the samples

  bool Has(const std::string& series) const { return samples.contains(series); }
};

std::string Normalize(std::string_view name, std::string_view labels) {
  // labels: a="x",b="y" (values may hold escaped quotes)
  std::vector<std::string> pairs;
  std::size_t i = 0;
  while (i < labels.size()) {
    const std::size_t eq = labels.find('=', i);
    std::size_t j = eq + 2;
    while (labels[j] != '"') {
      j += labels[j] == '\\' ? 2 : 1;
    }
    pairs.emplace_back(labels.substr(i, j + 1 - i));
    i = j + 2;  // the quote and the comma
  }
  std::sort(pairs.begin(), pairs.end());
  std::string key(name);
  if (!pairs.empty()) {
    key += '{';
    for (std::size_t k = 0; k < pairs.size(); ++k)
      key += (k ? "," : "") + pairs[k];
    key += '}';
  }
  return key;
}

Exposition Parse(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      const std::size_t space = line.find(' ', 7);
      e.help[line.substr(7, space - 7)] = line.substr(space + 1);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::size_t space = line.find(' ', 7);
      e.type[line.substr(7, space - 7)] = line.substr(space + 1);
    } else if (!line.empty()) {
      const std::size_t value_at = line.rfind(' ');
      const std::string_view series = std::string_view(line).substr(0, value_at);
      const std::size_t brace = series.find('{');
      const std::string_view name = series.substr(0, brace);
      const std::string_view labels = brace == std::string_view::npos
                                          ? std::string_view()
                                          : series.substr(brace + 1, series.size() - brace - 2);
      e.samples[Normalize(name, labels)] = std::stod(line.substr(value_at + 1));
      e.families.emplace(name);
    }
  }
  return e;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The options of an agent started with the config's defaults on the fixture tree.
NodeCollectorOptions FixtureOptions(const std::shared_ptr<FakeStatfs>& fake,
                                    std::string proc_root = kTestdata + "/proc") {
  const Config defaults;
  NodeCollectorOptions options;
  options.proc_root = std::move(proc_root);
  options.host_root = kTestdata + "/host";
  options.mount_points_exclude = defaults.filesystem_mount_points_exclude;
  options.fs_types_exclude = defaults.filesystem_fs_types_exclude;
  options.diskstats_device_exclude = defaults.diskstats_device_exclude;
  options.netdev_device_exclude = defaults.netdev_device_exclude;
  options.statfs_timeout = 200ms;
  options.statfs = FakeStatfs::Function(fake);
  options.uname = [] {
    return UnameInfo{"Linux",  "container-id", "6.18.44", "#1 SMP PREEMPT_DYNAMIC @0",
                     "x86_64", "(none)"};
  };
  options.host_name = [] { return std::string("vm"); };
  options.swarm_node_id = [] { return std::string("j718zewtfhba2obizarr370zq"); };
  options.node_name = [] { return std::string("manager-1"); };
  options.now = [] { return 1796541527.5; };
  return options;
}

std::shared_ptr<NodeCollector> MakeCollector(NodeCollectorOptions options) {
  auto collector = NodeCollector::Create(std::move(options));
  EXPECT_TRUE(collector.ok()) << collector.error().message;
  return collector.ok() ? *collector : nullptr;
}

Exposition Scrape(const NodeCollector& collector) {
  std::string text;
  collector.WriteText(text);
  return Parse(text);
}

// tests/testdata/node_exporter/fixture.prom is what Debian's node_exporter 1.5.0 answered on the
// same fixture tree (see tests/testdata/README.md): every one of its series, help texts and types
// must be the agent's, and every series the agent has of the families node_exporter read there.
TEST(NodeCollector, AnswersWhatNodeExporterAnswersOnTheSameFiles) {
  auto fake = std::make_shared<FakeStatfs>();
  auto collector = MakeCollector(FixtureOptions(fake));
  ASSERT_TRUE(collector);
  const Exposition ours = Scrape(*collector);
  const Exposition reference = Parse(ReadFile(kTestdata + "/node_exporter/fixture.prom"));
  ASSERT_GT(reference.samples.size(), 150u);

  for (const auto& [series, value] : reference.samples) {
    auto it = ours.samples.find(series);
    if (it == ours.samples.end()) {
      ADD_FAILURE() << "missing: " << series << " " << value;
    } else {
      EXPECT_EQ(it->second, value) << series;
    }
  }
  for (const std::string& family : reference.families) {
    EXPECT_EQ(ours.help.at(family), reference.help.at(family)) << family;
    EXPECT_EQ(ours.type.at(family), reference.type.at(family)) << family;
  }
  // node_exporter was not asked for the filesystem (its statfs is faked here), time and uname
  // (live values), nor does it have swarm_node_meta.
  const std::set<std::string> not_in_reference = {
      "node_scrape_collector_success{collector=\"filesystem\"}",
      "node_scrape_collector_success{collector=\"time\"}",
      "node_scrape_collector_success{collector=\"uname\"}"};
  for (const auto& [series, value] : ours.samples) {
    const std::string family = series.substr(0, series.find('{'));
    if (reference.families.contains(family) && !not_in_reference.contains(series)) {
      EXPECT_TRUE(reference.Has(series)) << "not node_exporter's: " << series;
    }
  }
  // Every collector succeeded.
  for (const auto& [series, value] : ours.samples) {
    if (series.starts_with("node_scrape_collector_success")) {
      EXPECT_EQ(value, 1) << series;
    }
  }
  EXPECT_EQ(ours.samples.size() - reference.samples.size(),
            // filesystem: 4 mounts x 7 families; time, uname, swarm_node_meta; the three
            // collectors above, twice (success, duration); node_exporter's 10 durations.
            4 * 7 + 3 + 3 * 2 + 10);
}

TEST(NodeCollector, FilesystemsOfTheHostsMountsNotExcluded) {
  auto fake = std::make_shared<FakeStatfs>();
  const std::string host = kTestdata + "/host";
  fake->Fail(host + "/run/netns", EACCES);
  auto collector = MakeCollector(FixtureOptions(fake));
  ASSERT_TRUE(collector);
  const Exposition ours = Scrape(*collector);

  // The fixture's mountinfo leaves four after the default excludes (pseudo file systems, /dev,
  // /sys, nsfs). statfs runs on host_root + mount point, in mountinfo's order.
  EXPECT_EQ(fake->calls(), (std::vector<std::string>{
                               host + "/", host + "/mnt/sandboxing/model_tools_env/v1/python",
                               host + "/var/lib/docker", host + "/run/netns"}));
  std::map<std::string, double> filesystem;
  for (const auto& [series, value] : ours.samples) {
    if (series.starts_with("node_filesystem_"))
      filesystem[series] = value;
  }
  const std::string root = R"({device="/dev/vda",fstype="ext4",mountpoint="/"})";
  const std::string tools =
      R"({device="model_tools_unavailable",fstype="tmpfs",mountpoint="/mnt/sandboxing/model_tools_env/v1/python"})";
  const std::string docker = R"({device="/dev/vda",fstype="ext4",mountpoint="/var/lib/docker"})";
  const std::string netns = R"({device="/dev/vda",fstype="ext4",mountpoint="/run/netns"})";
  // The fake's figures grow with the length of the path it is asked.
  const auto figures = [&](const std::string& mount_point, const std::string& labels) {
    const double n = static_cast<double>((host + mount_point).size());
    return std::map<std::string, double>{
        {"node_filesystem_avail_bytes" + labels, (400 + n) * 4096},
        {"node_filesystem_device_error" + labels, 0},
        {"node_filesystem_files" + labels, 100 + n},
        {"node_filesystem_files_free" + labels, 50 + n},
        {"node_filesystem_free_bytes" + labels, (500 + n) * 4096},
        {"node_filesystem_size_bytes" + labels, (1000 + n) * 4096},
    };
  };
  std::map<std::string, double> expected;
  for (const auto& [mount_point, labels] :
       {std::pair{std::string("/"), root}, std::pair{std::string("/var/lib/docker"), docker},
        std::pair{std::string("/mnt/sandboxing/model_tools_env/v1/python"), tools}}) {
    expected.merge(figures(mount_point, labels));
  }
  expected["node_filesystem_readonly" + root] = 0;
  expected["node_filesystem_readonly" + docker] = 0;
  expected["node_filesystem_readonly" + tools] = 1;  // mounted ro
  // statfs failed: the error and what mountinfo tells, nothing else.
  expected["node_filesystem_device_error" + netns] = 1;
  expected["node_filesystem_readonly" + netns] = 0;
  EXPECT_EQ(filesystem, expected);
  EXPECT_EQ(ours.help.at("node_filesystem_avail_bytes"),
            "Filesystem space available to non-root users in bytes.");
  EXPECT_EQ(ours.type.at("node_filesystem_avail_bytes"), "gauge");
}

TEST(NodeCollector, IdentityUnameOsAndSwarmNode) {
  auto fake = std::make_shared<FakeStatfs>();
  auto options = FixtureOptions(fake);
  auto collector = MakeCollector(options);
  ASSERT_TRUE(collector);
  Exposition ours = Scrape(*collector);
  // The host's name (the engine's), not the container's that uname answers in a container.
  EXPECT_TRUE(ours.Has(
      R"x(node_uname_info{domainname="(none)",machine="x86_64",nodename="vm",release="6.18.44",sysname="Linux",version="#1 SMP PREEMPT_DYNAMIC @0"})x"));
  EXPECT_EQ(ours.samples.at(
                R"(swarm_node_meta{node_id="j718zewtfhba2obizarr370zq",node_name="manager-1"})"),
            1);
  EXPECT_EQ(ours.samples.at("node_time_seconds"), 1796541527.5);

  // Outside a Swarm, no swarm_node_meta; without the engine's name, uname's.
  options.swarm_node_id = [] { return std::string(); };
  options.host_name = [] { return std::string(); };
  collector = MakeCollector(options);
  ours = Scrape(*collector);
  EXPECT_FALSE(ours.families.contains("swarm_node_meta"));
  EXPECT_TRUE(ours.Has(
      R"x(node_uname_info{domainname="(none)",machine="x86_64",nodename="container-id",release="6.18.44",sysname="Linux",version="#1 SMP PREEMPT_DYNAMIC @0"})x"));
}

TEST(NodeCollector, OsReleaseFromUsrLibWhenEtcHasNone) {
  testing::TempDir host;
  std::filesystem::create_directories(host.path() + "/usr/lib");
  std::ofstream(host.path() + "/usr/lib/os-release")
      << "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n";
  auto fake = std::make_shared<FakeStatfs>();
  auto options = FixtureOptions(fake);
  options.host_root = host.path();
  auto collector = MakeCollector(options);
  const Exposition ours = Scrape(*collector);
  EXPECT_EQ(ours.samples.at(R"(node_os_version{id="ubuntu",id_like="debian",name="Ubuntu"})"),
            22.04);
  EXPECT_TRUE(ours.Has(
      R"(node_os_info{build_id="",id="ubuntu",id_like="debian",image_id="",image_version="",name="Ubuntu",pretty_name="",variant="",variant_id="",version="",version_codename="",version_id="22.04"})"));
  // No /sys/class/net under this host_root: the devices' counters stay, their sysfs facts fail.
  EXPECT_EQ(ours.samples.at(R"(node_scrape_collector_success{collector="netclass"})"), 0);
  EXPECT_EQ(ours.samples.at(R"(node_scrape_collector_success{collector="netdev"})"), 1);
}

TEST(NodeCollector, AMissingSourceFailsItsCollectorAndTheScrapeGoesOn) {
  testing::TempDir proc;
  std::filesystem::copy_file(kTestdata + "/proc/loadavg", proc.path() + "/loadavg");
  auto fake = std::make_shared<FakeStatfs>();
  auto collector = MakeCollector(FixtureOptions(fake, proc.path()));
  const Exposition ours = Scrape(*collector);
  std::map<std::string, double> success;
  for (const auto& [series, value] : ours.samples) {
    if (series.starts_with("node_scrape_collector_success"))
      success[series.substr(series.find('"') + 1, series.rfind('"') - series.find('"') - 1)] =
          value;
  }
  EXPECT_EQ(success, (std::map<std::string, double>{{"cpu", 0},
                                                    {"stat", 0},
                                                    {"loadavg", 1},
                                                    {"meminfo", 0},
                                                    {"vmstat", 0},
                                                    {"filesystem", 0},
                                                    {"diskstats", 0},
                                                    {"netdev", 0},
                                                    {"netclass", 1},  // no device to read
                                                    {"pressure", 0},
                                                    {"time", 1},
                                                    {"uname", 1},
                                                    {"os", 1}}));
  EXPECT_EQ(ours.samples.at("node_load1"), 0.55);
  EXPECT_FALSE(ours.families.contains("node_cpu_seconds_total"));
  EXPECT_TRUE(ours.families.contains("node_os_info"));
  // load, collectors, time, uname, os_info, os_version, swarm_node_meta
  EXPECT_EQ(ours.samples.size(), 3u + 2 * 13 + 1 + 1 + 1 + 1 + 1);
}

TEST(NodeCollector, AHungMountIsMarkedAndLaterScrapesDoNotWaitForIt) {
  auto fake = std::make_shared<FakeStatfs>();
  const std::string docker = kTestdata + "/host/var/lib/docker";
  fake->Hang(docker);
  auto collector = MakeCollector(FixtureOptions(fake));
  const std::string labels = R"({device="/dev/vda",fstype="ext4",mountpoint="/var/lib/docker"})";

  auto start = std::chrono::steady_clock::now();
  Exposition ours = Scrape(*collector);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(ours.samples.at("node_filesystem_device_error" + labels), 1);
  EXPECT_EQ(ours.samples.at("node_filesystem_readonly" + labels), 0);
  EXPECT_FALSE(ours.Has("node_filesystem_size_bytes" + labels));
  // The mount after it in mountinfo was asked all the same.
  EXPECT_TRUE(ours.Has(
      R"(node_filesystem_size_bytes{device="/dev/vda",fstype="ext4",mountpoint="/run/netns"})"));
  EXPECT_EQ(ours.samples.at(R"(node_scrape_collector_success{collector="filesystem"})"), 1);

  // Not asked again while it hangs, so not waited for: shown by the calls, not by a time bound
  // (one of 100 ms failed under ASan beside a busy suite).
  const long asked = fake->calls(docker);
  ours = Scrape(*collector);
  EXPECT_EQ(fake->calls(docker), asked);
  EXPECT_EQ(ours.samples.at("node_filesystem_device_error" + labels), 1);

  fake->Release(docker);
  bool recovered = false;
  for (int i = 0; i < 500 && !recovered; ++i) {
    std::this_thread::sleep_for(10ms);
    recovered = Scrape(*collector).Has("node_filesystem_size_bytes" + labels);
  }
  EXPECT_TRUE(recovered);
}

TEST(NodeCollector, AChangedMountTableIsReadAgain) {
  testing::TempDir proc;
  std::filesystem::create_directories(proc.path() + "/1");
  const std::string mountinfo = proc.path() + "/1/mountinfo";
  std::filesystem::copy_file(kTestdata + "/proc/1/mountinfo", mountinfo);
  auto fake = std::make_shared<FakeStatfs>();
  auto collector = MakeCollector(FixtureOptions(fake, proc.path()));
  const std::string data =
      R"(node_filesystem_size_bytes{device="/dev/vdb",fstype="xfs",mountpoint="/data"})";
  EXPECT_FALSE(Scrape(*collector).Has(data));
  std::ofstream(mountinfo, std::ios::app) << "90 26 254:16 / /data rw,relatime - xfs /dev/vdb rw\n";
  EXPECT_TRUE(Scrape(*collector).Has(data));
}

// The kernel's mount table: a new mount is seen at the next scrape (procfs tells the change by
// poll(); the file is not read again while it says nothing changed). The mount is made in a mount
// namespace of this process's own, so that no other program on the machine sees it, and read
// through a proc_root whose "1" is this process. Needs root for unshare(2) and mount(2).
TEST(NodeCollector, ANewMountOnThisMachineIsSeenAtTheNextScrape) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    GTEST_SKIP() << "cannot have a mount namespace of its own here: " << std::strerror(errno);
  testing::TempDir dir("swarmwatch-node-mount");
  testing::TempDir proc;
  std::filesystem::create_directory_symlink("/proc/self", proc.path() + "/1");
  auto fake = std::make_shared<FakeStatfs>();
  // Created after unshare: the statfs thread it starts is in this namespace too.
  auto options = FixtureOptions(fake, proc.path());
  options.host_root = "/";
  options.statfs = SystemStatfs;
  auto collector = MakeCollector(options);
  const std::string size =
      "node_filesystem_size_bytes{device=\"swarmwatch-test\",fstype=\"tmpfs\",mountpoint=\"" +
      dir.path() + "\"}";
  ASSERT_FALSE(Scrape(*collector).Has(size));
  ASSERT_EQ(::mount("swarmwatch-test", dir.path().c_str(), "tmpfs", 0, "size=1m"), 0)
      << std::strerror(errno);
  const Exposition mounted = Scrape(*collector);
  ::umount(dir.path().c_str());
  ASSERT_TRUE(mounted.Has(size));
  EXPECT_EQ(mounted.samples.at(size), 1 << 20);
  EXPECT_FALSE(Scrape(*collector).Has(size));
}

TEST(NodeCollector, ExcludesAreTheSettingsRegexes) {
  auto fake = std::make_shared<FakeStatfs>();
  auto options = FixtureOptions(fake);
  options.netdev_device_exclude = "^(eth|ifb)";
  options.diskstats_device_exclude = "";  // none: vda's partitions and loops too
  options.fs_types_exclude = "^tmpfs$";
  options.mount_points_exclude = "^/(run|var)/";
  auto collector = MakeCollector(options);
  const Exposition ours = Scrape(*collector);
  std::set<std::string> devices, mount_points;
  for (const auto& [series, value] : ours.samples) {
    if (series.starts_with("node_network_receive_bytes_total{"))
      devices.insert(series);
    if (series.starts_with("node_filesystem_size_bytes{"))
      mount_points.insert(series.substr(series.find("mountpoint=")));
  }
  EXPECT_EQ(devices,
            (std::set<std::string>{R"(node_network_receive_bytes_total{device="docker0"})",
                                   R"(node_network_receive_bytes_total{device="lo"})",
                                   R"(node_network_receive_bytes_total{device="veth1f302e3"})",
                                   R"(node_network_receive_bytes_total{device="vethad12dde"})"}));
  // Everything not excluded by these two: /proc, /sys and cgroup hierarchies included.
  EXPECT_TRUE(mount_points.contains(R"(mountpoint="/"})"));
  EXPECT_TRUE(mount_points.contains(R"(mountpoint="/proc"})"));
  EXPECT_FALSE(mount_points.contains(R"(mountpoint="/var/lib/docker"})"));
  EXPECT_FALSE(mount_points.contains(R"(mountpoint="/dev/shm"})"));
  EXPECT_TRUE(ours.Has(R"(node_disk_io_now{device="loop0"})"));
  EXPECT_TRUE(ours.Has(R"(node_disk_io_now{device="zram0"})"));
}

// operstate is read at every scrape; the other files of node_network_info when it changes (or
// once a minute): a pread per device and scrape rather than five.
TEST(NodeCollector, NetworkInfoIsReadAgainWhenTheOperstateChanges) {
  testing::TempDir host;
  std::filesystem::copy(kTestdata + "/host", host.path(), std::filesystem::copy_options::recursive);
  auto fake = std::make_shared<FakeStatfs>();
  auto options = FixtureOptions(fake);
  options.host_root = host.path();
  auto collector = MakeCollector(options);
  const std::string eth0 = host.path() + "/sys/class/net/eth0/";
  const auto info = [](std::string_view address, std::string_view operstate) {
    return "node_network_info{address=\"" + std::string(address) +
           "\",broadcast=\"ff:ff:ff:ff:ff:ff\",device=\"eth0\",duplex=\"unknown\",ifalias=\"\","
           "operstate=\"" +
           std::string(operstate) + "\"}";
  };
  Exposition ours = Scrape(*collector);
  EXPECT_TRUE(ours.Has(info("02:fc:00:00:00:01", "up")));
  EXPECT_EQ(ours.samples.at(R"(node_network_up{device="eth0"})"), 1);

  std::ofstream(eth0 + "address") << "02:fc:00:00:00:99\n";
  EXPECT_TRUE(Scrape(*collector).Has(info("02:fc:00:00:00:01", "up")));  // kept

  std::ofstream(eth0 + "operstate") << "down\n";
  ours = Scrape(*collector);
  EXPECT_TRUE(ours.Has(info("02:fc:00:00:00:99", "down")));
  EXPECT_EQ(ours.samples.at(R"(node_network_up{device="eth0"})"), 0);
}

TEST(NodeCollector, ABadRegexIsRefusedNamingItsSetting) {
  NodeCollectorOptions options;
  options.netdev_device_exclude = "(lo";
  auto collector = NodeCollector::Create(options);
  ASSERT_FALSE(collector.ok());
  EXPECT_THAT(collector.error().message, HasSubstr("netdev_device_exclude: \"(lo\""));
}

TEST(NodeCollector, CollectAnswersTheSameSamplesAsWriteText) {
  auto fake = std::make_shared<FakeStatfs>();
  auto collector = MakeCollector(FixtureOptions(fake));
  std::string from_families;
  WriteTextExposition(collector->Collect(), from_families);
  Exposition a = Parse(from_families);
  Exposition b = Scrape(*collector);
  for (Exposition* e : {&a, &b}) {
    std::erase_if(e->samples, [](const auto& s) {
      return s.first.starts_with("node_scrape_collector_duration_seconds");
    });
  }
  EXPECT_EQ(a.samples, b.samples);
  EXPECT_EQ(a.help, b.help);
  EXPECT_EQ(a.type, b.type);
}

}  // namespace
}  // namespace swarmwatch
