#include "agent/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A config file in a directory of its own: ctest runs each test in its own process, in parallel,
// so a name derived from a per-process counter was shared by tests running at once.
class TempYaml {
 public:
  explicit TempYaml(const std::string& text) : path_(dir_.path() + "/config.yaml") {
    std::ofstream(path_) << text;
  }
  const std::string& path() const { return path_; }

 private:
  testing::TempDir dir_{"swarmwatch-config"};
  std::string path_;
};

TEST(Config, DefaultsWorkUnchangedOnASwarmNode) {
  auto loaded = LoadConfig({}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded->config;
  EXPECT_EQ(c.listen_address, ":9480");
  EXPECT_EQ(c.docker_host, "unix:///var/run/docker.sock");
  EXPECT_EQ(c.cgroup_root, "/sys/fs/cgroup");
  EXPECT_EQ(c.proc_root, "/proc");
  EXPECT_EQ(c.docker_root, "/var/lib/docker");
  EXPECT_EQ(c.cgroup_version, "auto");
  EXPECT_THAT(c.container_labels, ::testing::Contains("com.docker.swarm.service.name"));
  EXPECT_EQ(loaded->action, ConfigAction::kRun);
}

TEST(Config, FlagBeatsEnvironmentBeatsFileBeatsDefault) {
  TempYaml file("listen_address: \":1111\"\nproc_root: /file/proc\ncgroup_root: /file/cg\n");
  auto loaded =
      LoadConfig({"--config", file.path(), "--listen-address", ":3333"},
                 {{"SWARMWATCH_LISTEN_ADDRESS", ":2222"}, {"SWARMWATCH_PROC_ROOT", "/env/proc"}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.listen_address, ":3333");
  EXPECT_EQ(loaded->config.proc_root, "/env/proc");
  EXPECT_EQ(loaded->config.cgroup_root, "/file/cg");
  EXPECT_EQ(loaded->config.docker_root, "/var/lib/docker");
}

TEST(Config, FileNamedByEnvironment) {
  TempYaml file("node_name: worker-7\n");
  auto loaded = LoadConfig({}, {{"SWARMWATCH_CONFIG", file.path()}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.node_name, "worker-7");
}

TEST(Config, ListsFromYamlSequenceFlagAndEnvironment) {
  TempYaml file("container_labels: [a.b, c]\n");
  auto from_file = LoadConfig({"--config", file.path()}, {});
  ASSERT_TRUE(from_file.ok()) << from_file.error().message;
  EXPECT_EQ(from_file->config.container_labels, (std::vector<std::string>{"a.b", "c"}));

  auto from_env = LoadConfig({}, {{"SWARMWATCH_CONTAINER_LABELS", "x, y ,,z"}});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->config.container_labels, (std::vector<std::string>{"x", "y", "z"}));

  auto from_flag = LoadConfig({"--container-labels=q"}, {});
  ASSERT_TRUE(from_flag.ok());
  EXPECT_EQ(from_flag->config.container_labels, (std::vector<std::string>{"q"}));
}

TEST(Config, BadValuesAreAllReportedNamingTheKeyAsWritten) {
  TempYaml file("cgroup_version: 3\n");
  auto loaded = LoadConfig({"--config", file.path(), "--listen-address", "nonsense"},
                           {{"SWARMWATCH_LOG_LEVEL", "loud"}, {"SWARMWATCH_PROC_ROOT", "proc"}});
  ASSERT_FALSE(loaded.ok());
  const std::string& message = loaded.error().message;
  EXPECT_THAT(message, HasSubstr("--listen-address: \"nonsense\" must be host:port"));
  EXPECT_THAT(message, HasSubstr("SWARMWATCH_LOG_LEVEL: \"loud\""));
  EXPECT_THAT(message, HasSubstr("SWARMWATCH_PROC_ROOT: \"proc\" must be an absolute path"));
  EXPECT_THAT(message, HasSubstr(file.path() + ": cgroup_version: \"3\" must be auto, 1 or 2"));
}

TEST(Config, PortOutOfRangeIsRejected) {
  auto loaded = LoadConfig({"--listen-address", ":70000"}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("port \"70000\""));
}

TEST(Config, UnknownKeysAreRejected) {
  TempYaml file("loki_urll: http://x\n");
  auto loaded =
      LoadConfig({"--config", file.path()}, {{"SWARMWATCH_LISTEN_ADRESS", ":1"}, {"HOME", "/"}});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("loki_urll: unknown setting"));
  EXPECT_THAT(loaded.error().message,
              HasSubstr("SWARMWATCH_LISTEN_ADRESS: unknown environment variable"));
  EXPECT_THAT(loaded.error().message, Not(HasSubstr("HOME")));

  auto flag = LoadConfig({"--no-such-flag"}, {});
  ASSERT_FALSE(flag.ok());
  EXPECT_THAT(flag.error().message, HasSubstr("--no-such-flag"));
}

TEST(Config, BrokenYamlAndWrongShapesAreClearErrors) {
  TempYaml broken("listen_address: [unclosed\n");
  auto loaded = LoadConfig({"--config", broken.path()}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("not valid YAML"));

  TempYaml shape("listen_address: [a, b]\ncontainer_labels: {a: b}\n");
  auto wrong = LoadConfig({"--config", shape.path()}, {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.error().message, HasSubstr("listen_address: expected a single value"));
  EXPECT_THAT(wrong.error().message, HasSubstr("container_labels: expected a list of strings"));

  auto missing = LoadConfig({"--config", "/nonexistent/swarmwatch.yaml"}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("cannot read the config file"));
}

TEST(Config, HelpAndVersionAreActions) {
  auto help = LoadConfig({"--help"}, {});
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help->action, ConfigAction::kHelp);
  EXPECT_THAT(help->help_text, HasSubstr("--docker-host"));
  EXPECT_THAT(help->help_text, HasSubstr("SWARMWATCH_DOCKER_HOST"));
  auto version = LoadConfig({"--version"}, {});
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->action, ConfigAction::kVersion);
}

TEST(Config, HealthcheckIsAnActionTakingTheSameSettings) {
  auto check = LoadConfig({"healthcheck", "--listen-address", "127.0.0.1:9555"},
                          {{"SWARMWATCH_LOG_LEVEL", "debug"}});
  ASSERT_TRUE(check.ok()) << check.error().message;
  EXPECT_EQ(check->action, ConfigAction::kHealthcheck);
  EXPECT_EQ(check->config.listen_address, "127.0.0.1:9555");
  auto from_env = LoadConfig({"healthcheck"}, {{"SWARMWATCH_LISTEN_ADDRESS", ":9666"}});
  ASSERT_TRUE(from_env.ok()) << from_env.error().message;
  EXPECT_EQ(from_env->config.listen_address, ":9666");
  auto run = LoadConfig({}, {});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, ConfigAction::kRun);
  EXPECT_FALSE(LoadConfig({"healthcheck", "--no-such-flag"}, {}).ok());
}

TEST(Config, HostMetricsDefaultsAreNodeExportersUpstreamOnes) {
  auto loaded = LoadConfig({}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded->config;
  EXPECT_TRUE(c.host_metrics);
  EXPECT_EQ(c.host_root, "/");
  EXPECT_EQ(c.filesystem_mount_points_exclude,
            "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)"
            "($|/)");
  EXPECT_EQ(c.filesystem_fs_types_exclude,
            "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|"
            "hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|"
            "selinuxfs|squashfs|erofs|sysfs|tracefs)$");
  EXPECT_EQ(c.diskstats_device_exclude, R"(^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$)");
  EXPECT_EQ(c.netdev_device_exclude, "^(lo|veth.+)$");
  EXPECT_EQ(c.statfs_timeout, std::chrono::seconds(1));
}

TEST(Config, HostMetricsSettingsFromFlagEnvironmentAndFile) {
  TempYaml file(
      "host_metrics: false\nhost_root: /file\nnetdev_device_exclude: '^lo$'\n"
      "diskstats_device_exclude: '^loop\\d+$'\n");
  auto loaded = LoadConfig({"--config", file.path(), "--host-root", "/host", "--statfs-timeout",
                            "250ms", "--filesystem-fs-types-exclude", "^tmpfs$"},
                           {{"SWARMWATCH_FILESYSTEM_MOUNT_POINTS_EXCLUDE", "^/boot"},
                            {"SWARMWATCH_DISKSTATS_DEVICE_EXCLUDE", "^sd"}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded->config;
  EXPECT_FALSE(c.host_metrics);
  EXPECT_EQ(c.host_root, "/host");
  EXPECT_EQ(c.statfs_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c.filesystem_fs_types_exclude, "^tmpfs$");
  EXPECT_EQ(c.filesystem_mount_points_exclude, "^/boot");
  EXPECT_EQ(c.diskstats_device_exclude, "^sd");
  EXPECT_EQ(c.netdev_device_exclude, "^lo$");

  auto on = LoadConfig({"--host-metrics", "true"}, {{"SWARMWATCH_HOST_METRICS", "false"}});
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_TRUE(on->config.host_metrics);
}

TEST(Config, BadHostMetricsValuesNameTheirKey) {
  TempYaml file("filesystem_fs_types_exclude: '^(tmpfs'\n");
  auto loaded = LoadConfig(
      {"--config", file.path(), "--netdev-device-exclude", "[lo", "--statfs-timeout", "0s",
       "--host-root", "host"},
      {{"SWARMWATCH_HOST_METRICS", "yes"}, {"SWARMWATCH_DISKSTATS_DEVICE_EXCLUDE", "*lo"}});
  ASSERT_FALSE(loaded.ok());
  const std::string& message = loaded.error().message;
  EXPECT_THAT(message, HasSubstr("--netdev-device-exclude: \"[lo\" is not a regular expression"));
  EXPECT_THAT(message, HasSubstr(file.path() + ": filesystem_fs_types_exclude: \"^(tmpfs\" is "
                                               "not a regular expression"));
  EXPECT_THAT(
      message,
      HasSubstr("SWARMWATCH_DISKSTATS_DEVICE_EXCLUDE: \"*lo\" is not a regular expression"));
  EXPECT_THAT(message, HasSubstr("--statfs-timeout: must be more than 0"));
  EXPECT_THAT(message, HasSubstr("--host-root: \"host\" must be an absolute path"));
  EXPECT_THAT(message, HasSubstr("SWARMWATCH_HOST_METRICS: \"yes\" must be true or false"));
  EXPECT_THAT(message, Not(HasSubstr("filesystem_mount_points_exclude")));
}

TEST(ListenAddress, Parses) {
  auto any = ParseListenAddress(":9480");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 9480);
  EXPECT_FALSE(any->is_name);
  EXPECT_EQ(any->HostPort(9480), "0.0.0.0:9480");
  auto local = ParseListenAddress("127.0.0.1:0");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->host, "127.0.0.1");
  EXPECT_EQ(local->port, 0);
  EXPECT_FALSE(local->is_name);
  EXPECT_EQ(local->HostPort(41234), "127.0.0.1:41234");
  auto v6 = ParseListenAddress("[::1]:9480");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9480);
  EXPECT_EQ(v6->HostPort(9480), "[::1]:9480");
  auto name = ParseListenAddress("localhost:9480");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->host, "localhost");
  EXPECT_TRUE(name->is_name);
  EXPECT_TRUE(ParseListenAddress("0.0.0.0:65535").ok());
  EXPECT_TRUE(ParseListenAddress("[::]:9480").ok());
  EXPECT_TRUE(ParseListenAddress("swarmwatch-1.example.org:9480").ok());
  EXPECT_TRUE(ParseListenAddress("monitoring_swarmwatch:9480").ok());
}

// CivetWeb read the host with sscanf("%u.%u.%u.%u") and bound 999.0.0.1 as 231.0.0.1; inet_aton
// (behind getaddrinfo) reads 1.2.3 as 1.2.0.3. Each is a typo the agent must refuse, not bind.
TEST(ListenAddress, RejectsWhatIsNotAnAddressAPortOrAName) {
  for (const char* bad : {
           "999.0.0.1:9480",
           "1.2.3:9480",
           "256.1.1.1:80",
           "1.2.3.4.5:80",
           "01.2.3.4:80",
           "0x7f.0.0.1:80",
           "[::1:9480",
           "[::1]",
           "[::1]9480",
           "[1.2.3.4]:80",
           "[::g]:80",
           "::1:9480",
           "127.0.0.1:70000",
           ":70000",
           "127.0.0.1:",
           "127.0.0.1:-1",
           "127.0.0.1:80x",
           "9480",
           ":",
           ":-1",
           "-host:80",
           "host-:80",
           "a..b:80",
           " :9480",
           "host name:80",
       }) {
    auto parsed = ParseListenAddress(bad);
    EXPECT_FALSE(parsed.ok()) << bad << " -> host \"" << parsed->host << "\" port " << parsed->port;
  }
  auto octet = ParseListenAddress("999.0.0.1:9480");
  ASSERT_FALSE(octet.ok());
  EXPECT_THAT(octet.error().message, HasSubstr("\"999.0.0.1\" is neither an IPv4 address"));
  auto bracket = ParseListenAddress("[::1:9480");
  ASSERT_FALSE(bracket.ok());
  EXPECT_THAT(bracket.error().message, HasSubstr("no closing ']'"));
}

TEST(ListenAddress, ResolvesToTheSocketAddressToBind) {
  auto any = ResolveListenAddress(*ParseListenAddress(":9480"));
  ASSERT_TRUE(any.ok()) << any.error().message;
  ASSERT_EQ(any->ss_family, AF_INET);
  const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(&any.value());
  EXPECT_EQ(ntohs(ipv4->sin_port), 9480);
  EXPECT_EQ(ntohl(ipv4->sin_addr.s_addr), INADDR_ANY);
  auto v6 = ResolveListenAddress(*ParseListenAddress("[::1]:80"));
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  ASSERT_EQ(v6->ss_family, AF_INET6);
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6*>(&v6.value())->sin6_port), 80);
  // localhost is in every /etc/hosts; its IPv4 address comes first, as Go's net.Listen picks it.
  auto name = ResolveListenAddress(*ParseListenAddress("localhost:81"));
  ASSERT_TRUE(name.ok()) << name.error().message;
  ASSERT_EQ(name->ss_family, AF_INET);
  ipv4 = reinterpret_cast<const sockaddr_in*>(&name.value());
  EXPECT_EQ(ntohs(ipv4->sin_port), 81);
  EXPECT_EQ(ntohl(ipv4->sin_addr.s_addr), INADDR_LOOPBACK);
}

TEST(Config, ABadListenAddressNamesTheKeyAsWritten) {
  auto flag = LoadConfig({"--listen-address", "999.0.0.1:9480"}, {});
  ASSERT_FALSE(flag.ok());
  EXPECT_THAT(flag.error().message, HasSubstr("--listen-address: \"999.0.0.1:9480\""));
  auto env = LoadConfig({}, {{"SWARMWATCH_LISTEN_ADDRESS", "[::1:9480"}});
  ASSERT_FALSE(env.ok());
  EXPECT_THAT(env.error().message, HasSubstr("SWARMWATCH_LISTEN_ADDRESS: \"[::1:9480\""));
  TempYaml file("listen_address: '1.2.3:9480'\n");
  auto yaml = LoadConfig({"--config", file.path()}, {});
  ASSERT_FALSE(yaml.ok());
  EXPECT_THAT(yaml.error().message, HasSubstr(file.path() + ": listen_address: \"1.2.3:9480\""));
  // A name that resolves nowhere (.invalid never does, RFC 2606) is refused at start too.
  auto name = LoadConfig({"--listen-address", "no-such-host.invalid:9480"}, {});
  ASSERT_FALSE(name.ok());
  EXPECT_THAT(name.error().message,
              HasSubstr("--listen-address: \"no-such-host.invalid:9480\": cannot resolve"));
}

}  // namespace
}  // namespace swarmwatch

namespace swarmwatch {
namespace {

TEST(Config, LokiSettingsWithSizesAndDurations) {
  TempYaml file(
      "loki_url: http://loki:3100/loki/api/v1/push\nloki_batch_bytes: 512KiB\n"
      "loki_batch_wait: 250ms\nloki_labels: [cluster=prod, region=eu]\n");
  auto loaded = LoadConfig({"--config", file.path(), "--read-ahead-bytes", "32MiB"},
                           {{"SWARMWATCH_LOKI_TIMEOUT", "5s"}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded->config;
  EXPECT_EQ(c.loki_url, "http://loki:3100/loki/api/v1/push");
  EXPECT_EQ(c.loki_batch_bytes, 512u * 1024);
  EXPECT_EQ(c.loki_batch_wait, std::chrono::milliseconds(250));
  EXPECT_EQ(c.loki_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(c.read_ahead_bytes, 32u << 20);
  EXPECT_EQ(c.loki_labels, (std::vector<std::string>{"cluster=prod", "region=eu"}));
}

TEST(Config, LokiDefaultsShipNothingAndBoundMemory) {
  auto loaded = LoadConfig({}, {});
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->config.loki_url, "");
  EXPECT_EQ(loaded->config.loki_batch_bytes, 1u << 20);
  EXPECT_EQ(loaded->config.loki_batch_wait, std::chrono::milliseconds(1000));
  EXPECT_EQ(loaded->config.read_ahead_bytes, 16u << 20);
  EXPECT_EQ(loaded->config.start_position, "beginning");
  EXPECT_EQ(loaded->config.loki_format, "protobuf");
}

TEST(Config, HeldLogsBytesFromFlagEnvAndYaml) {
  auto defaults = LoadConfig({}, {});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->config.held_logs_bytes, std::uint64_t{1} << 30);
  auto flag = LoadConfig({"--held-logs-bytes", "20MiB"}, {});
  ASSERT_TRUE(flag.ok()) << flag.error().message;
  EXPECT_EQ(flag->config.held_logs_bytes, 20u << 20);
  auto env = LoadConfig({}, {{"SWARMWATCH_HELD_LOGS_BYTES", "20MB"}});
  ASSERT_TRUE(env.ok()) << env.error().message;
  EXPECT_EQ(env->config.held_logs_bytes, 20u << 20);  // MB is MiB, as for every size
  TempYaml file("held_logs_bytes: 2GiB\n");
  auto yaml = LoadConfig({"--config", file.path()}, {});
  ASSERT_TRUE(yaml.ok()) << yaml.error().message;
  EXPECT_EQ(yaml->config.held_logs_bytes, std::uint64_t{2} << 30);
  auto bad = LoadConfig({"--held-logs-bytes", "plenty"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("--held-logs-bytes"));
  // Below one rotated file's worth, a rotation would be given up at once, Loki up or not.
  auto tiny = LoadConfig({"--held-logs-bytes", "0"}, {});
  ASSERT_FALSE(tiny.ok());
  EXPECT_THAT(tiny.error().message, HasSubstr("--held-logs-bytes: 0 is below the minimum of 1MiB"));
  EXPECT_TRUE(LoadConfig({"--held-logs-bytes", "1MiB"}, {}).ok());
}

TEST(Config, BadLokiValuesNameTheirKey) {
  auto loaded = LoadConfig({"--loki-batch-bytes", "lots", "--loki-url", "loki:3100"},
                           {{"SWARMWATCH_LOKI_BATCH_WAIT", "5 parsecs"},
                            {"SWARMWATCH_LOKI_LABELS", "ok=1,9bad=2,novalue"},
                            {"SWARMWATCH_START_POSITION", "middle"},
                            {"SWARMWATCH_LOKI_FORMAT", "xml"}});
  ASSERT_FALSE(loaded.ok());
  const std::string& m = loaded.error().message;
  EXPECT_THAT(m, HasSubstr("--loki-batch-bytes: \"lots\" is not a size"));
  EXPECT_THAT(m, HasSubstr("--loki-url: \"loki:3100\" must be an http:// or https:// URL"));
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_LOKI_BATCH_WAIT: \"5 parsecs\": unknown unit"));
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_LOKI_LABELS: \"9bad=2\""));
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_LOKI_LABELS: \"novalue\""));
  EXPECT_THAT(m, Not(HasSubstr("\"ok=1\"")));
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_START_POSITION: \"middle\""));
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_LOKI_FORMAT: \"xml\""));
}

TEST(Config, StaticLokiLabelsStayWithinLokisFifteenAndLeaveTheAgentsOwn) {
  // Loki refuses every line of a stream with more than 15 labels: a config that would make every
  // stream so is refused at start instead.
  auto loaded = LoadConfig({"--loki-labels", "a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10",
                            "--loki-url", "http://loki:3100/loki/api/v1/push"},
                           {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("--loki-labels: 10 labels, at most 9"));
  loaded = LoadConfig({"--loki-labels", "node=x,team=y"}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("\"node=x\" is a label the agent sets itself"));
  EXPECT_THAT(loaded.error().message, Not(HasSubstr("team=y")));
  EXPECT_TRUE(LoadConfig({"--loki-labels", "a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9"}, {}).ok());
}

TEST(Config, ReadAheadMustHoldABatch) {
  auto loaded = LoadConfig({"--read-ahead-bytes", "64KiB"}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("--read-ahead-bytes: 65536 is less than"));
}

TEST(Config, AccessLogFormatsRoutesAndBuckets) {
  TempYaml file(
      "access_log_formats:\n"
      "  - 'timed=apache:%h \"%r\" %>s %b %{ms}T'\n"
      "  - 'edge=nginx:$remote_addr \"$request\" $status $request_time'\n"
      "access_log_routes: ['/student/{id}', '/static/*']\n");
  auto loaded = LoadConfig({"--config", file.path(), "--access-log-duration-buckets", "0.1,1,10"},
                           {{"SWARMWATCH_ACCESS_LOG_SIZE_BUCKETS", "1e3, 1e6"}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded->config;
  EXPECT_EQ(
      c.access_log_formats,
      (std::vector<std::string>{R"(timed=apache:%h "%r" %>s %b %{ms}T)",
                                R"(edge=nginx:$remote_addr "$request" $status $request_time)"}));
  EXPECT_EQ(c.access_log_routes, (std::vector<std::string>{"/student/{id}", "/static/*"}));
  EXPECT_EQ(c.access_log_duration_buckets, (std::vector<double>{0.1, 1, 10}));
  EXPECT_EQ(c.access_log_size_buckets, (std::vector<double>{1e3, 1e6}));
}

TEST(Config, AccessLogDefaultsSuitWebPages) {
  auto loaded = LoadConfig({}, {});
  ASSERT_TRUE(loaded.ok());
  const Config& c = loaded->config;
  EXPECT_TRUE(c.access_log_formats.empty());
  EXPECT_TRUE(c.access_log_routes.empty());  // raw paths would explode cardinality
  EXPECT_EQ(c.access_log_duration_buckets.front(), 0.005);
  EXPECT_EQ(c.access_log_duration_buckets.back(), 10);
}

TEST(Config, BadAccessLogValuesNameTheirKey) {
  auto loaded = LoadConfig({"--access-log-formats", "nameless", "--access-log-size-buckets", "1,x"},
                           {{"SWARMWATCH_ACCESS_LOG_DURATION_BUCKETS", "1,0.5"}});
  ASSERT_FALSE(loaded.ok());
  const std::string& m = loaded.error().message;
  EXPECT_THAT(m, HasSubstr("--access-log-formats: \"nameless\" must be name=apache:"));
  EXPECT_THAT(m, HasSubstr("--access-log-size-buckets: \"x\" is not a number"));
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_ACCESS_LOG_DURATION_BUCKETS: \"1,0.5\" must be one or "
                           "more increasing positive numbers"));
}

TEST(ParseBytes, UnitsAndErrors) {
  EXPECT_EQ(*ParseBytes("0"), 0u);
  EXPECT_EQ(*ParseBytes("1024B"), 1024u);
  EXPECT_EQ(*ParseBytes("16MiB"), 16u << 20);
  EXPECT_EQ(*ParseBytes("2G"), 2ull << 30);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("MiB").ok());
  EXPECT_FALSE(ParseBytes("-1").ok());
  EXPECT_FALSE(ParseBytes("99999999999999999999GiB").ok());
  EXPECT_FALSE(ParseBytes("17179869184GiB").ok());
}

TEST(ParseDuration, UnitsAndErrors) {
  EXPECT_EQ(*ParseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseDuration("2m"), std::chrono::milliseconds(120000));
  EXPECT_EQ(*ParseDuration("1h"), std::chrono::milliseconds(3600000));
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("1d").ok());
}

}  // namespace
}  // namespace swarmwatch

namespace swarmwatch {
namespace {

// Issue 15, defect 7: values that made the agent abort (rc 134) must be configuration errors.
TEST(Config, HugeNegativeOrListRetryCountsNameTheirKey) {
  auto huge = LoadConfig({"--loki-max-retries", "99999999999"}, {});
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.error().message, HasSubstr("--loki-max-retries: \"99999999999\""));
  auto negative = LoadConfig({}, {{"SWARMWATCH_LOKI_MAX_RETRIES", "-1"}});
  ASSERT_FALSE(negative.ok());
  EXPECT_THAT(negative.error().message, HasSubstr("SWARMWATCH_LOKI_MAX_RETRIES: \"-1\""));
  TempYaml list("loki_max_retries: [1, 2]\nloki_batch_bytes: {a: 1}\n");
  auto from_file = LoadConfig({"--config", list.path()}, {});
  ASSERT_FALSE(from_file.ok());
  EXPECT_THAT(from_file.error().message, HasSubstr("loki_max_retries: expected a single value"));
  EXPECT_THAT(from_file.error().message, HasSubstr("loki_batch_bytes: expected a single value"));
  EXPECT_TRUE(LoadConfig({"--loki-max-retries", "2147483647"}, {}).ok());
}

TEST(Config, ConfigFileThatIsADirectoryIsAnError) {
  testing::TempDir dir("swarmwatch-config");
  auto directory = LoadConfig({"--config", dir.path()}, {});
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(
      directory.error().message,
      HasSubstr("--config: " + dir.path() + ": cannot read the config file: is a directory"));
  auto dot = LoadConfig({}, {{"SWARMWATCH_CONFIG", "."}});
  ASSERT_FALSE(dot.ok());
  EXPECT_THAT(dot.error().message,
              HasSubstr("SWARMWATCH_CONFIG: .: cannot read the config file: is a directory"));
}

TEST(Config, ConfigFileMustBeARegularFileOfSensibleSize) {
  auto device = LoadConfig({"--config", "/dev/zero"}, {});  // would never end
  ASSERT_FALSE(device.ok());
  EXPECT_THAT(device.error().message, HasSubstr("--config: /dev/zero: cannot read the config file: "
                                                "not a regular file"));
  TempYaml big("# " + std::string(2 << 20, 'x') + "\n");
  auto loaded = LoadConfig({"--config", big.path()}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("larger than 1 MiB"));
}

TEST(Config, YamlThatIsNotOneMappingIsAnError) {
  for (const char* text : {"- a\n- b\n", "just text\n", "node_name: a\n---\nnode_name: b\n",
                           "? [a, b]\n: c\n", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}) {
    TempYaml file(text);
    auto loaded = LoadConfig({"--config", file.path()}, {});
    EXPECT_FALSE(loaded.ok()) << text;
  }
  // Deeper than yaml-cpp's limit of 2000 (DeepRecursion, not a stack overflow); not much deeper:
  // its scanner holds every token, and the memory it frees lingers in the test process.
  TempYaml deep(std::string(5000, '[') + std::string(5000, ']'));
  auto loaded = LoadConfig({"--config", deep.path()}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr(deep.path()));
}

// Found by config_fuzz: yaml-cpp 0.7's YAML::LoadAll never ends on these (its parser yields empty
// documents without end) and takes all memory; the loader must come back.
TEST(Config, YamlOnWhichYamlCppLoadAllLoopsComesBack) {
  for (const std::string text : {",", ",-\"", ",ccess_log_formats:\n  -\"'timed=apache:%h'\n"}) {
    auto loaded = LoadConfig({"--config", "c.yaml"}, {},
                             [&text](const std::string&) -> Result<std::string> { return text; });
    // yaml-cpp reads them as an empty document, as it did before.
    EXPECT_TRUE(loaded.ok()) << text << ": " << loaded.error().message;
  }
}

TEST(Config, NulBytesAreRejectedNamingTheKey) {
  TempYaml file(
      "loki_url: \"http://loki:3100/\\0/loki/api/v1/push\"\n"
      "container_labels: [\"a\\0b\"]\n");
  auto loaded = LoadConfig({"--config", file.path()}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr(": loki_url: must not hold a NUL byte"));
  EXPECT_THAT(loaded.error().message, HasSubstr(": container_labels: must not hold a NUL byte"));
  EXPECT_THAT(loaded.error().message, Not(HasSubstr(std::string(1, '\0'))));
}

TEST(Config, BucketsAndTimeoutMustBeUsable) {
  auto loaded = LoadConfig({"--access-log-size-buckets", "1,inf", "--loki-timeout", "0s"},
                           {{"SWARMWATCH_ACCESS_LOG_DURATION_BUCKETS", "nan"}});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("--access-log-size-buckets: \"inf\""));
  EXPECT_THAT(loaded.error().message, HasSubstr("SWARMWATCH_ACCESS_LOG_DURATION_BUCKETS: \"nan\""));
  EXPECT_THAT(loaded.error().message, HasSubstr("--loki-timeout: must be more than 0"));
}

TEST(Config, SecretFilesAreReadAtLoadAndTheirErrorsNameTheKey) {
  testing::TempDir dir("swarmwatch-config");
  auto directory = LoadConfig(
      {"--loki-url", "http://loki/", "--loki-username", "u", "--loki-password-file", dir.path()},
      {{"SWARMWATCH_LOKI_BEARER_TOKEN_FILE", "/nonexistent/token"}});
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.error().message,
              HasSubstr("--loki-password-file: " + dir.path() + ": cannot read: is a directory"));
  EXPECT_THAT(directory.error().message,
              HasSubstr("SWARMWATCH_LOKI_BEARER_TOKEN_FILE: /nonexistent/token: cannot read: No "
                        "such file or directory"));
}

// Issue 15, defect 6: credentials in loki_url.
TEST(Config, UrlCredentialsMixedWithUsernameOrPasswordAreRefusedNamingBothKeys) {
  auto loaded =
      LoadConfig({}, {{"SWARMWATCH_LOKI_URL", "http://user:pw@loki:3100/loki/api/v1/push"},
                      {"SWARMWATCH_LOKI_PASSWORD", "s3cret"}});
  ASSERT_FALSE(loaded.ok());
  const std::string& m = loaded.error().message;
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_LOKI_URL"));
  EXPECT_THAT(m, HasSubstr("SWARMWATCH_LOKI_PASSWORD"));
  EXPECT_THAT(m, Not(HasSubstr("pw")));
  EXPECT_THAT(m, Not(HasSubstr("s3cret")));

  TempYaml file("loki_username: bob\n");
  auto user = LoadConfig({"--config", file.path(), "--loki-url", "https://u:p%40ss@loki/push"}, {});
  ASSERT_FALSE(user.ok());
  EXPECT_THAT(user.error().message, HasSubstr("--loki-url"));
  EXPECT_THAT(user.error().message, HasSubstr(file.path() + ": loki_username"));
  EXPECT_THAT(user.error().message, Not(HasSubstr("p%40ss")));
}

// Credentials given twice, of which one would go unused without a word.
TEST(Config, APasswordTwiceOrBasicAuthWithABearerTokenIsRefusedNamingTheKeys) {
  auto twice = LoadConfig({"--loki-password", "a", "--loki-password-file", "/run/secrets/pw"}, {});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.error().message,
              HasSubstr("--loki-password and --loki-password-file are both set"));

  auto token_and_user =
      LoadConfig({"--loki-bearer-token-file", "/run/secrets/token"},
                 {{"SWARMWATCH_LOKI_URL", "http://user:pw@loki:3100/loki/api/v1/push"}});
  ASSERT_FALSE(token_and_user.ok());
  EXPECT_THAT(token_and_user.error().message,
              HasSubstr("--loki-bearer-token-file and basic auth (SWARMWATCH_LOKI_URL's user and "
                        "password) are both set"));
  EXPECT_THAT(token_and_user.error().message, Not(HasSubstr("pw@")));

  TempYaml file("loki_username: bob\nloki_bearer_token_file: /run/secrets/token\n");
  auto yaml = LoadConfig({"--config", file.path()}, {});
  ASSERT_FALSE(yaml.ok());
  EXPECT_THAT(yaml.error().message,
              HasSubstr(file.path() + ": loki_bearer_token_file and basic auth (" + file.path() +
                        ": loki_username)"));
}

TEST(Config, UrlCredentialsAloneAreKeptInTheUrlForTheClient) {
  auto loaded = LoadConfig({}, {{"SWARMWATCH_LOKI_URL", "http://user:p%40ss@loki:3100/push"}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.loki_url, "http://user:p%40ss@loki:3100/push");
  EXPECT_EQ(loaded->config.loki_username, "");
  EXPECT_EQ(loaded->config.loki_password, "");
}

TEST(Config, SecretFilesGiveTheirFirstLine) {
  testing::TempDir dir("swarmwatch-config");
  std::ofstream(dir.path() + "/password") << "s3cret\nsecond line\n";
  std::ofstream(dir.path() + "/token") << "t0ken";
  std::ofstream(dir.path() + "/empty") << "";
  auto loaded =
      LoadConfig({"--loki-username", "u", "--loki-password-file", dir.path() + "/password"}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.loki_password, "s3cret");
  auto token = LoadConfig({}, {{"SWARMWATCH_LOKI_BEARER_TOKEN_FILE", dir.path() + "/token"}});
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(token->config.loki_bearer_token, "t0ken");
  auto empty = LoadConfig({"--loki-password-file", dir.path() + "/empty"}, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message, HasSubstr("--loki-password-file: " + dir.path() +
                                               "/empty: cannot read: the first line is empty"));
}

TEST(Config, RetryCountIsANumber) {
  auto loaded = LoadConfig({"--loki-max-retries", "7"}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.loki_max_retries, 7);
  EXPECT_EQ(LoadConfig({}, {})->config.loki_max_retries, 0);
}

TEST(Config, FilesAreReadThroughTheGivenReader) {
  std::vector<std::string> asked;
  auto read = [&asked](const std::string& path) -> Result<std::string> {
    asked.push_back(path);
    if (path == "in-memory.yaml")
      return std::string("node_name: from-text\nloki_password_file: pw\n");
    if (path == "pw")
      return std::string("s3cret\n");
    return Error{"not here"};
  };
  auto loaded = LoadConfig({"--config", "in-memory.yaml"}, {}, read);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.node_name, "from-text");
  EXPECT_EQ(loaded->config.loki_password, "s3cret");
  EXPECT_EQ(asked, (std::vector<std::string>{"in-memory.yaml", "pw"}));
  auto missing = LoadConfig({}, {{"SWARMWATCH_CONFIG", "elsewhere.yaml"}}, read);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(
      missing.error().message,
      HasSubstr("SWARMWATCH_CONFIG: elsewhere.yaml: cannot read the config file: not here"));
}

TEST(Config, ControlCharactersInErrorsAreEscaped) {
  TempYaml file("\"bad\\nkey\\0\": 1\n");
  auto loaded = LoadConfig({"--config", file.path()}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("bad\\x0akey\\x00: unknown setting"));
}

TEST(Config, ErrorsShowLokisUrlWithoutItsUserinfo) {
  auto loaded =
      LoadConfig({"--loki-url", "ftp://user:pw-123@loki:3100/push", "extra://a:pw-456@b"}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, Not(HasSubstr("pw-123")));
  EXPECT_THAT(loaded.error().message, Not(HasSubstr("pw-456")));
  auto scheme = LoadConfig({"--loki-url", "ftp://user:pw-123@loki:3100/push"}, {});
  ASSERT_FALSE(scheme.ok());
  EXPECT_THAT(scheme.error().message, HasSubstr("--loki-url: \"ftp://***@loki:3100/push\""));
  EXPECT_THAT(scheme.error().message, Not(HasSubstr("pw-123")));
  auto escape = LoadConfig({"--loki-url", "http://user:100%-pw@loki/push"}, {});
  ASSERT_FALSE(escape.ok());
  EXPECT_THAT(escape.error().message, HasSubstr("--loki-url: "));
  EXPECT_THAT(escape.error().message, HasSubstr("%25"));
  EXPECT_THAT(escape.error().message, Not(HasSubstr("100%-pw")));
}

}  // namespace
}  // namespace swarmwatch
