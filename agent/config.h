// The agent's settings: one struct with documented defaults, filled from (lowest to highest
// precedence) the defaults, an optional YAML file, SWARMWATCH_* environment variables and flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>
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
};

// What the agent was asked to do besides running.
enum class ConfigAction { kRun, kHelp, kVersion };

struct LoadedConfig {
  Config config;
  ConfigAction action = ConfigAction::kRun;
  std::string help_text;  // filled for kHelp
};

using Environment = std::map<std::string, std::string>;

// Reads every source and validates the result. The error lists every problem found, one per line,
// each naming the key as the user wrote it (--flag, SWARMWATCH_VAR, or file:key).
Result<LoadedConfig> LoadConfig(const std::vector<std::string>& args, const Environment& env);

// The process environment as an Environment.
Environment ProcessEnvironment();

// The listen address split for the HTTP server: ":9480" -> {"", 9480}.
struct ListenAddress {
  std::string host;  // empty: every interface
  std::uint16_t port = 0;
};
Result<ListenAddress> ParseListenAddress(const std::string& address);

}  // namespace swarmwatch
