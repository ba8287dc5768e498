#include "agent/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>
#include <string_view>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace swarmwatch {
namespace {

constexpr std::string_view kEnvPrefix = "SWARMWATCH_";

// One row per setting: the same name as YAML key, flag (dashes) and env variable (upper case).
struct Setting {
  std::string_view key;
  std::string_view help;
  bool is_list;
  std::function<void(Config&, std::vector<std::string>)> assign;
  std::function<std::string(const Config&)> show;
};

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!item.empty())
      items.emplace_back(item);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

template <std::string Config::*Field>
Setting Text(std::string_view key, std::string_view help) {
  return Setting{key, help, false,
                 [](Config& c, std::vector<std::string> v) { c.*Field = std::move(v.front()); },
                 [](const Config& c) { return c.*Field; }};
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = {
      Text<&Config::listen_address>("listen_address",
                                    "HTTP address for /metrics, /healthz, /ready (host:port)"),
      Text<&Config::docker_host>("docker_host",
                                 "Docker Engine API: unix:///path or tcp://host:port"),
      Text<&Config::docker_root>("docker_root", "The engine's data root (holds containers/)"),
      Text<&Config::cgroup_root>("cgroup_root", "Where the host's cgroup file system is mounted"),
      Text<&Config::proc_root>("proc_root", "Where the host's /proc is mounted"),
      Text<&Config::cgroup_version>("cgroup_version", "auto, 1 or 2 (auto: detect at start)"),
      Text<&Config::node_name>("node_name", "Node name for labels (default: the engine's name)"),
      Setting{
          "container_labels", "Docker labels exported as container_label_* (comma-separated list)",
          true, [](Config& c, std::vector<std::string> v) { c.container_labels = std::move(v); },
          [](const Config& c) { return fmt::format("{}", fmt::join(c.container_labels, ",")); }},
      Text<&Config::log_level>("log_level", "debug, info, warn or error"),
  };
  return settings;
}

std::string FlagName(std::string_view key) {
  std::string flag = "--" + std::string(key);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string EnvName(std::string_view key) {
  std::string env = std::string(kEnvPrefix) + std::string(key);
  std::transform(env.begin(), env.end(), env.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return env;
}

const Setting* FindSetting(std::string_view key) {
  for (const Setting& s : Settings()) {
    if (s.key == key)
      return &s;
  }
  return nullptr;
}

// Applies a textual value from a flag or the environment; lists are comma-separated.
void ApplyText(const Setting& s, const std::string& value, Config& config) {
  s.assign(config, s.is_list ? SplitList(value) : std::vector<std::string>{value});
}

// Where each setting's value came from, to name it in errors the way the user wrote it.
using Origins = std::map<std::string_view, std::string>;

void ApplyYamlFile(const std::string& path, Config& config, Origins& origins,
                   std::vector<std::string>& problems) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    problems.push_back(fmt::format("{}: cannot read the config file", path));
    return;
  } catch (const YAML::Exception& e) {
    problems.push_back(fmt::format("{}: not valid YAML: {}", path, e.what()));
    return;
  }
  if (root.IsNull())
    return;  // an empty file sets nothing
  if (!root.IsMap()) {
    problems.push_back(fmt::format("{}: the top level must be a mapping of setting: value", path));
    return;
  }
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>("");
    const Setting* s = FindSetting(key);
    if (s == nullptr) {
      problems.push_back(fmt::format("{}: {}: unknown setting", path, key));
      continue;
    }
    const YAML::Node& value = entry.second;
    if (s->is_list && value.IsSequence()) {
      std::vector<std::string> items;
      bool scalars = true;
      for (const auto& item : value) {
        if (!item.IsScalar()) {
          scalars = false;
          break;
        }
        items.push_back(item.as<std::string>());
      }
      if (scalars) {
        s->assign(config, std::move(items));
        origins[s->key] = fmt::format("{}: {}", path, key);
        continue;
      }
    } else if (value.IsScalar()) {
      ApplyText(*s, value.as<std::string>(), config);
      origins[s->key] = fmt::format("{}: {}", path, key);
      continue;
    }
    problems.push_back(fmt::format("{}: {}: expected {}", path, key,
                                   s->is_list ? "a list of strings" : "a single value"));
  }
}

void Validate(const Config& c, Origins& origins, std::vector<std::string>& problems) {
  // Names the setting as the user gave it: --flag, SWARMWATCH_VAR or file: key.
  auto named = [&origins](std::string_view key) -> const std::string& {
    auto [it, inserted] = origins.try_emplace(key, key);
    return it->second;
  };
  if (auto address = ParseListenAddress(c.listen_address); !address) {
    problems.push_back(fmt::format("{}: {}", named("listen_address"), address.error().message));
  }
  const std::string_view docker = c.docker_host;
  if (!docker.starts_with("unix:///") && !docker.starts_with("tcp://") &&
      !docker.starts_with("http://")) {
    problems.push_back(fmt::format("{}: \"{}\" is neither unix:///path nor tcp://host:port",
                                   named("docker_host"), c.docker_host));
  }
  for (const auto& [key, path] :
       {std::pair{"docker_root", &c.docker_root}, std::pair{"cgroup_root", &c.cgroup_root},
        std::pair{"proc_root", &c.proc_root}}) {
    if (path->empty() || path->front() != '/') {
      problems.push_back(fmt::format("{}: \"{}\" must be an absolute path", named(key), *path));
    }
  }
  if (c.cgroup_version != "auto" && c.cgroup_version != "1" && c.cgroup_version != "2") {
    problems.push_back(
        fmt::format("{}: \"{}\" must be auto, 1 or 2", named("cgroup_version"), c.cgroup_version));
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    problems.push_back(fmt::format("{}: \"{}\" must be debug, info, warn or error",
                                   named("log_level"), c.log_level));
  }
}

}  // namespace

Result<ListenAddress> ParseListenAddress(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Error{fmt::format("\"{}\" must be host:port or :port", address)};
  }
  ListenAddress result;
  result.host = address.substr(0, colon);
  const std::string_view port = std::string_view(address).substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Error{fmt::format("\"{}\": port \"{}\" is not a number from 0 to 65535", address, port)};
  }
  result.port = static_cast<std::uint16_t>(value);
  return result;
}

Environment ProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::size_t eq = text.find('=');
    if (eq != std::string_view::npos) {
      env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
  }
  return env;
}

Result<LoadedConfig> LoadConfig(const std::vector<std::string>& args, const Environment& env) {
  LoadedConfig loaded;
  std::vector<std::string> problems;

  CLI::App app{"swarmwatch: container metrics and logs of one Docker Swarm node", "swarmwatch"};
  app.set_version_flag("--version", "");
  std::string config_file;
  app.add_option("--config", config_file,
                 "YAML file of settings (keys as below with underscores); env SWARMWATCH_CONFIG");
  std::map<std::string, std::string> flag_values;
  for (const Setting& s : Settings()) {
    app.add_option(
        FlagName(s.key), flag_values[std::string(s.key)],
        fmt::format("{} [env {}] (default: {})", s.help, EnvName(s.key), s.show(Config{})));
  }
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    loaded.action = ConfigAction::kHelp;
    loaded.help_text = app.help();
    return loaded;
  } catch (const CLI::CallForVersion&) {
    loaded.action = ConfigAction::kVersion;
    return loaded;
  } catch (const CLI::ParseError& e) {
    return Error{fmt::format("command line: {}", e.what())};
  }

  // Environment variables in our namespace must all be known: a typo would silently do nothing.
  for (const auto& [name, value] : env) {
    if (!std::string_view(name).starts_with(kEnvPrefix) || name == "SWARMWATCH_CONFIG")
      continue;
    bool known = false;
    for (const Setting& s : Settings())
      known = known || EnvName(s.key) == name;
    if (!known)
      problems.push_back(fmt::format("{}: unknown environment variable", name));
  }

  if (config_file.empty()) {
    if (auto it = env.find("SWARMWATCH_CONFIG"); it != env.end())
      config_file = it->second;
  }
  Origins origins;
  if (!config_file.empty())
    ApplyYamlFile(config_file, loaded.config, origins, problems);
  for (const Setting& s : Settings()) {
    if (auto it = env.find(EnvName(s.key)); it != env.end()) {
      ApplyText(s, it->second, loaded.config);
      origins[s.key] = EnvName(s.key);
    }
  }
  for (const Setting& s : Settings()) {
    if (app.get_option(FlagName(s.key))->count() > 0) {
      ApplyText(s, flag_values[std::string(s.key)], loaded.config);
      origins[s.key] = FlagName(s.key);
    }
  }
  Validate(loaded.config, origins, problems);
  if (!problems.empty()) {
    return Error{fmt::format("invalid configuration:\n  {}", fmt::join(problems, "\n  "))};
  }
  return loaded;
}

}  // namespace swarmwatch
