// The agent's settings: one struct with documented defaults, filled from (lowest to highest
// precedence) the defaults, an optional YAML file, SWARMWATCH_* environment variables and flags.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/result.h"

namespace swarmwatch {

struct Config {
  std::string listen_address = ":9480";
  std::string docker_host = "unix:///var/run/docker.sock";
  std::string docker_root = "/var/lib/docker";
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string proc_root = "/proc";
  std::string cgroup_version = "auto";  // auto | 1 | 2
  std::string node_name;                // empty: the name the engine reports
  std::vector<std::string> container_labels = {
      "com.docker.swarm.service.name",
      "com.docker.swarm.task.name",
      "com.docker.swarm.node.id",
      "com.docker.stack.namespace",
  };
  std::string log_level = "info";  // debug | info | warn | error

  // Log shipping to Loki; an empty loki_url ships nothing. The URL may hold user:password@
  // (percent-encoded) instead of loki_username and loki_password; show it only through RedactUrl.
  std::string loki_url;
  std::string loki_tenant;
  std::string loki_username;
  std::string loki_password;
  std::string loki_password_file;
  std::string loki_bearer_token_file;
  std::string loki_ca_file;
  std::string loki_cert_file;
  std::string loki_key_file;
  std::string loki_format = "protobuf";  // protobuf (snappy) | json (gzip)
  std::uint64_t loki_batch_bytes = 1 << 20;
  std::chrono::milliseconds loki_batch_wait{1000};
  std::chrono::milliseconds loki_timeout{10000};
  int loki_max_retries = 0;              // 0: retry forever, holding the offsets
  std::vector<std::string> loki_labels;  // static labels, name=value
  std::string loki_job = "docker";
  std::string positions_file = "/var/lib/swarmwatch/positions.json";
  std::uint64_t read_ahead_bytes = 16 << 20;
  std::uint64_t held_logs_bytes = std::uint64_t{1} << 30;
  std::uint64_t max_line_bytes = 256 << 10;
  std::string start_position = "beginning";  // beginning | end

  // Request metrics from the access logs of containers labelled swarmwatch.access_log=<format>.
  std::vector<std::string> access_log_formats;  // name=apache:<LogFormat> | name=nginx:<log_format>
  std::vector<std::string> access_log_routes;   // route label patterns, e.g. /student/{id}
  std::vector<double> access_log_duration_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10};
  std::vector<double> access_log_size_buckets = {100, 1000, 10000, 100000, 1e6, 1e7};

  // Host metrics under node_exporter's names (node_*). The excludes are node_exporter's upstream
  // defaults; they are searched (not anchored) as node_exporter's are, as ECMAScript regexes.
  bool host_metrics = true;
  std::string host_root = "/";  // where the host's / is mounted (the stack: /host)
  std::string filesystem_mount_points_exclude =
      "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
  std::string filesystem_fs_types_exclude =
      "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
      "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
      "erofs|sysfs|tracefs)$";
  std::string diskstats_device_exclude = "^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$";
  std::string netdev_device_exclude = "^(lo|veth.+)$";
  std::chrono::milliseconds statfs_timeout{1000};

  // Not settings: filled by LoadConfig from the files loki_password_file (then also in
  // loki_password) and loki_bearer_token_file name, their first line. Read at load, so that an
  // unreadable file is a configuration error naming its key, like any bad value.
  std::string loki_bearer_token;
};

// What the agent was asked to do besides running.
enum class ConfigAction { kRun, kHelp, kVersion, kHealthcheck, kRightsize };

// `swarmwatch rightsize`'s flags (agent/rightsize.h). Not settings of the agent: they have no
// environment variable or YAML key, and the agent's settings do not apply to it.
struct RightsizeOptions {
  std::string prometheus_url = {};  // may hold user:password@ (basic auth)
  std::string window = "7d";        // a Prometheus duration
  std::string rate = "5m";          // the rate() window of CPU usage
  std::string stack = {};           // empty: every stack, and services outside any
  bool json = false;
};

struct LoadedConfig {
  Config config;
  ConfigAction action = ConfigAction::kRun;
  std::string help_text;       // filled for kHelp
  RightsizeOptions rightsize;  // filled for kRightsize
};

using Environment = std::map<std::string, std::string>;

// Reads a file the configuration names (the YAML file, a password or token file): its whole text,
// or what is wrong with it ("is a directory").
using ConfigFileReader = std::function<Result<std::string>(const std::string& path)>;

// Reads every source and validates the result. The error lists every problem found, one per line,
// each naming the key as the user wrote it (--flag, SWARMWATCH_VAR, or file:key); it never shows
// the password of a URL's userinfo. No input makes it throw.
Result<LoadedConfig> LoadConfig(const std::vector<std::string>& args, const Environment& env);
// The same with the files read by `read_file`: tests and the fuzzer hand it text.
Result<LoadedConfig> LoadConfig(const std::vector<std::string>& args, const Environment& env,
                                const ConfigFileReader& read_file);

// How LoadConfig reads files: a regular file (not a directory, device or pipe, which might never
// end) of at most 1 MiB.
Result<std::string> ReadConfigFile(const std::string& path);

// Every setting's name (as YAML key; flags and variables derive from it), in the table's order.
std::vector<std::string_view> SettingKeys();

// The process environment as an Environment.
Environment ProcessEnvironment();

// "16MiB" -> 16777216; units B, KiB, MiB, GiB (K/KB, M/MB, G/GB read as binary units too).
Result<std::uint64_t> ParseBytes(std::string_view text);
// "500ms", "1s", "2m", "1h".
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The listen address split for the HTTP server: ":9480" -> {"", 9480}, "[::1]:9480" -> {"::1",
// 9480}. The host is empty (every IPv4 interface), an IPv4 address in dotted decimal, an IPv6
// address (in brackets) or a host name. A host of digits and dots must be a whole IPv4 address:
// inet_aton, which getaddrinfo and CivetWeb fall back on, reads "1.2.3" as 1.2.0.3 and wraps
// "999.0.0.1" to 231.0.0.1.
struct ListenAddress {
  std::string host;  // without brackets; empty: every interface
  std::uint16_t port = 0;
  bool is_name = false;  // host is a host name, not an address

  // "host:port" as a URL writes it ([::1]:9480; 0.0.0.0 for the empty host).
  std::string HostPort(std::uint16_t port) const;
};
// Checks the syntax only; a host name is resolved by ResolveListenAddress.
Result<ListenAddress> ParseListenAddress(const std::string& address);

// The socket address to bind: the address given, the first IPv4 address of a host name (else its
// first IPv6 one, as Go's net.Listen, hence Prometheus, picks), or 0.0.0.0 for the empty host.
Result<sockaddr_storage> ResolveListenAddress(const ListenAddress& address);

}  // namespace swarmwatch
