#include "agent/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <regex>
#include <sstream>
#include <string_view>
#include <system_error>
#include <tuple>

#include "agent/rightsize.h"
#include "agent/url_userinfo.h"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace swarmwatch {
namespace {

constexpr std::string_view kEnvPrefix = "SWARMWATCH_";

// One row per setting: the same name as YAML key, flag (dashes) and env variable (upper case).
struct Setting {
  std::string_view key;
  std::string_view help;
  bool is_list;
  // Stores the value; returns what is wrong with it, or an empty string.
  std::function<std::string(Config&, std::vector<std::string>)> assign;
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

bool IsLabelName(std::string_view name) {
  if (name.empty())
    return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char ch = name[i];
    const bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
    if (!letter && !(i > 0 && ch >= '0' && ch <= '9'))
      return false;
  }
  return true;
}

template <std::string Config::*Field>
Setting Text(std::string_view key, std::string_view help) {
  return Setting{key, help, false,
                 [](Config& c, std::vector<std::string> v) {
                   c.*Field = std::move(v.front());
                   return std::string();
                 },
                 [](const Config& c) { return c.*Field; }};
}

template <std::vector<std::string> Config::*Field>
Setting List(std::string_view key, std::string_view help) {
  return Setting{key, help, true,
                 [](Config& c, std::vector<std::string> v) {
                   c.*Field = std::move(v);
                   return std::string();
                 },
                 [](const Config& c) { return fmt::format("{}", fmt::join(c.*Field, ",")); }};
}

template <std::vector<double> Config::*Field>
Setting Numbers(std::string_view key, std::string_view help) {
  return Setting{key, help, true,
                 [](Config& c, const std::vector<std::string>& v) {
                   std::vector<double> numbers;
                   for (const std::string& item : v) {
                     double number = 0;
                     auto [end, ec] =
                         std::from_chars(item.data(), item.data() + item.size(), number);
                     if (ec != std::errc() || end != item.data() + item.size())
                       return fmt::format("\"{}\" is not a number", item);
                     if (!std::isfinite(number))  // from_chars reads "inf" and "nan"
                       return fmt::format("\"{}\" is not a finite number", item);
                     numbers.push_back(number);
                   }
                   c.*Field = std::move(numbers);
                   return std::string();
                 },
                 [](const Config& c) { return fmt::format("{}", fmt::join(c.*Field, ",")); }};
}

// A whole number from 0 to INT_MAX (std::stoi of a larger one used to throw and abort the agent).
template <int Config::*Field>
Setting Count(std::string_view key, std::string_view help) {
  return Setting{key, help, false,
                 [](Config& c, std::vector<std::string> v) {
                   const std::string& text = v.front();
                   int value = 0;
                   auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
                   if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
                     return fmt::format("\"{}\" must be a whole number from 0 to {}", text,
                                        std::numeric_limits<int>::max());
                   }
                   c.*Field = value;
                   return std::string();
                 },
                 [](const Config& c) { return std::to_string(c.*Field); }};
}

template <bool Config::*Field>
Setting Bool(std::string_view key, std::string_view help) {
  return Setting{key, help, false,
                 [](Config& c, std::vector<std::string> v) {
                   const std::string& text = v.front();
                   if (text != "true" && text != "false")
                     return fmt::format("\"{}\" must be true or false", text);
                   c.*Field = text == "true";
                   return std::string();
                 },
                 [](const Config& c) { return std::string(c.*Field ? "true" : "false"); }};
}

template <std::uint64_t Config::*Field>
Setting Bytes(std::string_view key, std::string_view help) {
  return Setting{key, help, false,
                 [](Config& c, std::vector<std::string> v) {
                   auto bytes = ParseBytes(v.front());
                   if (!bytes.ok())
                     return bytes.error().message;
                   c.*Field = *bytes;
                   return std::string();
                 },
                 [](const Config& c) { return std::to_string(c.*Field); }};
}

template <std::chrono::milliseconds Config::*Field>
Setting Duration(std::string_view key, std::string_view help) {
  return Setting{key, help, false,
                 [](Config& c, std::vector<std::string> v) {
                   auto duration = ParseDuration(v.front());
                   if (!duration.ok())
                     return duration.error().message;
                   c.*Field = *duration;
                   return std::string();
                 },
                 [](const Config& c) { return fmt::format("{}ms", (c.*Field).count()); }};
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
      List<&Config::container_labels>(
          "container_labels", "Docker labels exported as container_label_* (comma-separated list)"),
      Text<&Config::log_level>("log_level", "debug, info, warn or error"),
      Text<&Config::loki_url>("loki_url",
                              "Loki push URL, e.g. http://loki:3100/loki/api/v1/push (empty: "
                              "logs are not shipped); may hold user:password@, percent-encoded, "
                              "instead of loki_username and loki_password"),
      Text<&Config::loki_tenant>("loki_tenant", "X-Scope-OrgID sent to Loki (empty: none)"),
      Text<&Config::loki_username>("loki_username", "Basic auth user for Loki"),
      Text<&Config::loki_password>("loki_password", "Basic auth password for Loki"),
      Text<&Config::loki_password_file>("loki_password_file",
                                        "File holding the basic auth password (a Docker secret)"),
      Text<&Config::loki_bearer_token_file>("loki_bearer_token_file",
                                            "File holding a bearer token for Loki"),
      Text<&Config::loki_ca_file>("loki_ca_file", "CA bundle to verify Loki's TLS certificate"),
      Text<&Config::loki_cert_file>("loki_cert_file", "Client certificate for TLS to Loki"),
      Text<&Config::loki_key_file>("loki_key_file", "Client key for TLS to Loki"),
      Text<&Config::loki_format>("loki_format",
                                 "protobuf (snappy) or json (gzip): the push encoding"),
      Bytes<&Config::loki_batch_bytes>("loki_batch_bytes",
                                       "Send a batch once it holds this many bytes of lines"),
      Duration<&Config::loki_batch_wait>(
          "loki_batch_wait", "Send a batch at the latest this long after its first line"),
      Duration<&Config::loki_timeout>("loki_timeout", "Timeout of one push to Loki"),
      Count<&Config::loki_max_retries>("loki_max_retries",
                                       "Give a batch up after this many failed tries (0: never)"),
      List<&Config::loki_labels>("loki_labels",
                                 "Static labels added to every stream, name=value (list)"),
      Text<&Config::loki_job>("loki_job", "Value of the job label of every stream"),
      Text<&Config::positions_file>("positions_file",
                                    "Where shipped log offsets are kept across restarts"),
      Bytes<&Config::read_ahead_bytes>("read_ahead_bytes",
                                       "Most log bytes read but not yet accepted by Loki"),
      Bytes<&Config::held_logs_bytes>(
          "held_logs_bytes",
          "Most disk taken by rotated or deleted log files held open until read (through a Loki "
          "outage); over it the oldest is given up, counted"),
      Bytes<&Config::max_line_bytes>("max_line_bytes",
                                     "Longer log lines are cut and marked truncated"),
      Text<&Config::start_position>("start_position",
                                    "Where to start a container seen the first time: beginning "
                                    "or end of its log"),
      List<&Config::access_log_formats>(
          "access_log_formats",
          "Access-log formats a container's swarmwatch.access_log label may name besides the "
          "predefined ones: name=apache:<LogFormat> or name=nginx:<log_format> (list)"),
      List<&Config::access_log_routes>(
          "access_log_routes",
          "Path patterns for a route label on request metrics, e.g. /student/{id} (list; none: "
          "no route label)"),
      Numbers<&Config::access_log_duration_buckets>(
          "access_log_duration_buckets", "Bucket bounds of http_request_duration_seconds (list)"),
      Numbers<&Config::access_log_size_buckets>("access_log_size_buckets",
                                                "Bucket bounds of http_response_size_bytes (list)"),
      Bool<&Config::host_metrics>("host_metrics",
                                  "Export the host's metrics under node_exporter's names (node_*)"),
      Text<&Config::host_root>("host_root",
                               "Where the host's / is mounted: statfs of its mounts, os-release, "
                               "sysfs are read below it"),
      Text<&Config::filesystem_mount_points_exclude>(
          "filesystem_mount_points_exclude",
          "Regex of mount points without node_filesystem_* series"),
      Text<&Config::filesystem_fs_types_exclude>(
          "filesystem_fs_types_exclude",
          "Regex of file system types without node_filesystem_* series"),
      Text<&Config::diskstats_device_exclude>("diskstats_device_exclude",
                                              "Regex of block devices without node_disk_* series"),
      Text<&Config::netdev_device_exclude>(
          "netdev_device_exclude", "Regex of network devices without node_network_* series"),
      Duration<&Config::statfs_timeout>(
          "statfs_timeout",
          "How long a scrape waits for a mount's statfs before marking the mount stuck (it is then "
          "skipped until its statfs returns)"),
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

// Stores a setting's values (one unless it is a list); a bad one is reported under the name the
// user gave it.
void Assign(const Setting& s, std::vector<std::string> values, const std::string& origin,
            Config& config, std::vector<std::string>& problems) {
  for (const std::string& value : values) {
    // Paths, URLs and passwords go to the C library, which would stop at the NUL.
    if (value.find('\0') != std::string::npos) {
      problems.push_back(fmt::format("{}: must not hold a NUL byte", origin));
      return;
    }
  }
  if (std::string problem = s.assign(config, std::move(values)); !problem.empty())
    problems.push_back(fmt::format("{}: {}", origin, problem));
}

// Applies a textual value from a flag, the environment or a YAML scalar; lists are
// comma-separated.
void ApplyText(const Setting& s, const std::string& value, const std::string& origin,
               Config& config, std::vector<std::string>& problems) {
  Assign(s, s.is_list ? SplitList(value) : std::vector<std::string>{value}, origin, config,
         problems);
}

// Where each setting's value came from, to name it in errors the way the user wrote it.
using Origins = std::map<std::string_view, std::string>;

void ApplyYamlMapping(const YAML::Node& root, const std::string& path, Config& config,
                      Origins& origins, std::vector<std::string>& problems) {
  for (const auto& entry : root) {
    if (!entry.first.IsScalar()) {
      problems.push_back(
          fmt::format("{}: a key must be a setting's name, not a list or mapping", path));
      continue;
    }
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
        origins[s->key] = fmt::format("{}: {}", path, key);
        Assign(*s, std::move(items), origins[s->key], config, problems);
        continue;
      }
    } else if (value.IsScalar()) {
      origins[s->key] = fmt::format("{}: {}", path, key);
      ApplyText(*s, value.as<std::string>(), origins[s->key], config, problems);
      continue;
    }
    problems.push_back(fmt::format("{}: {}: expected {}", path, key,
                                   s->is_list ? "a list of strings" : "a single value"));
  }
}

// Whether a YAML document held anything: a document that holds nothing reports one null.
class DocumentContent : public YAML::EventHandler {
 public:
  bool found() const { return found_; }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { found_ = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    found_ = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    found_ = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    found_ = true;
  }
  void OnMapEnd() override {}

 private:
  bool found_ = false;
};

// How many of the first documents of `text` hold something. Not YAML::LoadAll: on some bad input
// (a lone ",") yaml-cpp 0.7's parser yields empty documents without end, and LoadAll keeps them
// all until memory runs out.
int DocumentsWithContent(const std::string& text) {
  constexpr int kMaxDocuments = 16;
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  int with_content = 0;
  for (int i = 0; i < kMaxDocuments; ++i) {
    DocumentContent content;
    if (!parser.HandleNextDocument(content))
      break;
    with_content += content.found() ? 1 : 0;
  }
  return with_content;
}

// Applies the settings in `text`, the YAML file `path` that `origin` (--config or
// SWARMWATCH_CONFIG) named.
void ApplyYamlText(const std::string& text, const std::string& path, const std::string& origin,
                   Config& config, Origins& origins, std::vector<std::string>& problems) {
  // yaml-cpp reports bad input with exceptions, also from the accessors (a too deep nesting is
  // one too): whatever it throws is a problem with the file.
  try {
    if (DocumentsWithContent(text) > 1) {
      problems.push_back(fmt::format(
          "{}: {}: holds more than one YAML document; the settings go in one", origin, path));
      return;
    }
    const YAML::Node root = YAML::Load(text);
    if (root.IsNull())
      return;  // an empty file sets nothing
    if (!root.IsMap()) {
      problems.push_back(
          fmt::format("{}: {}: the top level must be a mapping of setting: value", origin, path));
      return;
    }
    ApplyYamlMapping(root, path, config, origins, problems);
  } catch (const YAML::Exception& e) {
    problems.push_back(fmt::format("{}: {}: not valid YAML: {}", origin, path, e.what()));
  } catch (const std::exception& e) {  // std::bad_alloc where memory is limited, say
    problems.push_back(fmt::format("{}: {}: cannot be read as YAML: {}", origin, path, e.what()));
  }
}

// What std::regex makes of `pattern`: empty when it compiles.
std::string RegexError(const std::string& pattern) {
  try {
    std::regex compiled(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return e.what();
  }
  return {};
}

void Validate(const Config& c, Origins& origins, std::vector<std::string>& problems) {
  // Names the setting as the user gave it: --flag, SWARMWATCH_VAR or file: key.
  auto named = [&origins](std::string_view key) -> const std::string& {
    auto [it, inserted] = origins.try_emplace(key, key);
    return it->second;
  };
  if (auto address = ParseListenAddress(c.listen_address); !address) {
    problems.push_back(fmt::format("{}: {}", named("listen_address"), address.error().message));
  } else if (address->is_name) {
    // A name that does not resolve is as wrong as a bad address: say so now, not at bind time.
    if (auto resolved = ResolveListenAddress(*address); !resolved) {
      problems.push_back(fmt::format("{}: \"{}\": {}", named("listen_address"), c.listen_address,
                                     resolved.error().message));
    }
  }
  const std::string_view docker = c.docker_host;
  if (!docker.starts_with("unix:///") && !docker.starts_with("tcp://") &&
      !docker.starts_with("http://")) {
    problems.push_back(fmt::format("{}: \"{}\" is neither unix:///path nor tcp://host:port",
                                   named("docker_host"), c.docker_host));
  }
  for (const auto& [key, path] :
       {std::pair{"docker_root", &c.docker_root}, std::pair{"cgroup_root", &c.cgroup_root},
        std::pair{"proc_root", &c.proc_root}, std::pair{"host_root", &c.host_root}}) {
    if (path->empty() || path->front() != '/') {
      problems.push_back(fmt::format("{}: \"{}\" must be an absolute path", named(key), *path));
    }
  }
  if (c.cgroup_version != "auto" && c.cgroup_version != "1" && c.cgroup_version != "2") {
    problems.push_back(
        fmt::format("{}: \"{}\" must be auto, 1 or 2", named("cgroup_version"), c.cgroup_version));
  }
  // The basic auth settings given, by the names they were given under.
  const auto basic_auth_settings = [&c, &named] {
    std::vector<std::string> set;
    for (const auto& [key, value] : {std::pair{"loki_username", &c.loki_username},
                                     std::pair{"loki_password", &c.loki_password},
                                     std::pair{"loki_password_file", &c.loki_password_file}}) {
      if (!value->empty())
        set.push_back(named(key));
    }
    return set;
  };
  if (!c.loki_url.empty()) {
    // The status page and the logs show the URL: never its password, not even in an error.
    const std::string shown = RedactUrl(c.loki_url);
    auto userinfo = SplitUrlUserinfo(c.loki_url);
    if (!std::string_view(c.loki_url).starts_with("http://") &&
        !std::string_view(c.loki_url).starts_with("https://")) {
      problems.push_back(
          fmt::format("{}: \"{}\" must be an http:// or https:// URL", named("loki_url"), shown));
    } else if (!userinfo.ok()) {
      problems.push_back(
          fmt::format("{}: \"{}\": {}", named("loki_url"), shown, userinfo.error().message));
    } else if (userinfo->present) {
      // One source of credentials: the URL's user was silently dropped for loki_password's.
      const std::vector<std::string> also = basic_auth_settings();
      if (!also.empty()) {
        problems.push_back(fmt::format(
            "{}: \"{}\" holds a user and password, and {} {} set too: give the credentials in "
            "one place, in the URL or as loki_username with loki_password or loki_password_file",
            named("loki_url"), shown, fmt::join(also, " and "), also.size() == 1 ? "is" : "are"));
      }
    }
  }
  // A password given twice, or basic auth and a bearer token, would leave one silently unused
  // (the file's password won; basic auth won over the token).
  if (!c.loki_password.empty() && !c.loki_password_file.empty()) {
    problems.push_back(fmt::format("{} and {} are both set: give the password in one of them",
                                   named("loki_password"), named("loki_password_file")));
  }
  if (!c.loki_bearer_token_file.empty()) {
    std::vector<std::string> basic = basic_auth_settings();
    if (auto userinfo = SplitUrlUserinfo(c.loki_url); userinfo.ok() && userinfo->present)
      basic.push_back(named("loki_url") + "'s user and password");
    if (!basic.empty()) {
      problems.push_back(fmt::format(
          "{} and basic auth ({}) are both set: Loki takes one kind of credentials, give one",
          named("loki_bearer_token_file"), fmt::join(basic, ", ")));
    }
  }
  if (c.loki_format != "protobuf" && c.loki_format != "json") {
    problems.push_back(
        fmt::format("{}: \"{}\" must be protobuf or json", named("loki_format"), c.loki_format));
  }
  if (c.start_position != "beginning" && c.start_position != "end") {
    problems.push_back(fmt::format("{}: \"{}\" must be beginning or end", named("start_position"),
                                   c.start_position));
  }
  if (c.loki_timeout.count() == 0) {  // curl would take 0 for no timeout at all
    problems.push_back(fmt::format("{}: must be more than 0", named("loki_timeout")));
  }
  // Loki refuses a stream of more than 15 labels (max_label_names_per_series): six are the
  // agent's own, which a static label may not replace either.
  constexpr std::size_t kMaxStaticLabels = 15 - 6;
  constexpr std::uint64_t kMinHeldLogsBytes = std::uint64_t{1} << 20;
  for (const std::string& label : c.loki_labels) {
    const std::size_t eq = label.find('=');
    if (eq == std::string::npos || eq == 0 || !IsLabelName(label.substr(0, eq))) {
      problems.push_back(fmt::format("{}: \"{}\" must be name=value with a Prometheus label name",
                                     named("loki_labels"), label));
      continue;
    }
    const std::string_view name = std::string_view(label).substr(0, eq);
    for (std::string_view own :
         {"job", "swarm_stack", "swarm_service", "node", "container", "stream"}) {
      if (name == own) {
        problems.push_back(fmt::format("{}: \"{}\" is a label the agent sets itself ({})",
                                       named("loki_labels"), label,
                                       name == "job" ? "use loki_job" : "per container"));
      }
    }
  }
  if (c.loki_labels.size() > kMaxStaticLabels) {
    problems.push_back(fmt::format(
        "{}: {} labels, at most {}: Loki refuses a stream of more than 15 labels and the agent "
        "sets 6",
        named("loki_labels"), c.loki_labels.size(), kMaxStaticLabels));
  }
  if (c.loki_batch_bytes == 0) {
    problems.push_back(fmt::format("{}: must be more than 0", named("loki_batch_bytes")));
  }
  if (c.read_ahead_bytes < c.loki_batch_bytes) {
    problems.push_back(
        fmt::format("{}: {} is less than loki_batch_bytes ({}): a batch could never fill",
                    named("read_ahead_bytes"), c.read_ahead_bytes, c.loki_batch_bytes));
  }
  if (c.held_logs_bytes < kMinHeldLogsBytes) {
    // Smaller than a rotated file: one would be given up as soon as Docker rotates, Loki or not.
    problems.push_back(fmt::format("{}: {} is below the minimum of 1MiB", named("held_logs_bytes"),
                                   c.held_logs_bytes));
  }
  if (c.max_line_bytes < 1024) {
    problems.push_back(fmt::format("{}: {} is below the minimum of 1024", named("max_line_bytes"),
                                   c.max_line_bytes));
  }
  for (const std::string& format : c.access_log_formats) {
    const std::size_t eq = format.find('=');
    const std::string_view name = std::string_view(format).substr(0, eq);
    const bool name_ok = eq != std::string::npos && !name.empty() &&
                         name.find_first_not_of(
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
                             std::string_view::npos;
    const std::string_view rest =
        eq == std::string::npos ? std::string_view{} : std::string_view(format).substr(eq + 1);
    if (!name_ok || !(rest.starts_with("apache:") || rest.starts_with("nginx:"))) {
      problems.push_back(fmt::format(
          "{}: \"{}\" must be name=apache:<LogFormat> or name=nginx:<log_format> (a name of "
          "letters, digits, '_', '.', '-')",
          named("access_log_formats"), format));
    }
  }
  for (const auto& [key, buckets] :
       {std::pair{"access_log_duration_buckets", &c.access_log_duration_buckets},
        std::pair{"access_log_size_buckets", &c.access_log_size_buckets}}) {
    bool increasing = !buckets->empty();
    for (std::size_t i = 0; i < buckets->size(); ++i) {
      if (!((*buckets)[i] > 0) || (i > 0 && (*buckets)[i] <= (*buckets)[i - 1]))
        increasing = false;
    }
    if (!increasing) {
      problems.push_back(fmt::format("{}: \"{}\" must be one or more increasing positive numbers",
                                     named(key), fmt::join(*buckets, ",")));
    }
  }
  // Compiled now, so that a bad one stops the start rather than every scrape.
  for (const auto& [key, pattern] :
       {std::pair{"filesystem_mount_points_exclude", &c.filesystem_mount_points_exclude},
        std::pair{"filesystem_fs_types_exclude", &c.filesystem_fs_types_exclude},
        std::pair{"diskstats_device_exclude", &c.diskstats_device_exclude},
        std::pair{"netdev_device_exclude", &c.netdev_device_exclude}}) {
    if (auto error = RegexError(*pattern); !error.empty()) {
      problems.push_back(
          fmt::format("{}: \"{}\" is not a regular expression: {}", named(key), *pattern, error));
    }
  }
  if (c.statfs_timeout.count() == 0) {
    problems.push_back(fmt::format("{}: must be more than 0", named("statfs_timeout")));
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    problems.push_back(fmt::format("{}: \"{}\" must be debug, info, warn or error",
                                   named("log_level"), c.log_level));
  }
}

// The first line of a password or token file (Docker secrets end with a newline or not).
Result<std::string> ReadSecret(const std::string& path, const ConfigFileReader& read_file) {
  auto text = read_file(path);
  if (!text.ok())
    return text.error();
  const std::string_view line = std::string_view(*text).substr(0, text->find('\n'));
  if (line.empty())
    return Error{"the first line is empty"};
  if (line.find('\0') != std::string_view::npos)
    return Error{"the first line holds a NUL byte"};  // curl takes C strings
  return std::string(line);
}

// A problem as one printable line: control characters (a NUL or a newline in a YAML key, say)
// escaped as \xNN.
std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte < 0x20 || byte == 0x7f)
      out += fmt::format("\\x{:02x}", byte);
    else
      out.push_back(ch);
  }
  return out;
}

}  // namespace

Result<std::uint64_t> ParseBytes(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) {
    return Error{fmt::format("\"{}\" is not a size (e.g. 1048576, 512KiB, 16MiB)", text)};
  }
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KiB" || unit == "K" || unit == "KB") {
    scale = std::uint64_t{1} << 10;
  } else if (unit == "MiB" || unit == "M" || unit == "MB") {
    scale = std::uint64_t{1} << 20;
  } else if (unit == "GiB" || unit == "G" || unit == "GB") {
    scale = std::uint64_t{1} << 30;
  } else {
    return Error{fmt::format("\"{}\": unknown unit \"{}\" (B, KiB, MiB or GiB)", text, unit)};
  }
  if (value > std::numeric_limits<std::uint64_t>::max() / scale) {
    return Error{fmt::format("\"{}\" is too large", text)};
  }
  return value * scale;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (ec != std::errc() || end == text.data() || unit.empty()) {
    return Error{fmt::format("\"{}\" is not a duration (e.g. 500ms, 1s, 2m)", text)};
  }
  if (value > 1'000'000'000)
    return Error{fmt::format("\"{}\" is too long", text)};
  const auto count = static_cast<std::int64_t>(value);
  if (unit == "ms")
    return std::chrono::milliseconds(count);
  if (unit == "s")
    return std::chrono::milliseconds(count * 1000);
  if (unit == "m")
    return std::chrono::milliseconds(count * 60'000);
  if (unit == "h")
    return std::chrono::milliseconds(count * 3'600'000);
  return Error{fmt::format("\"{}\": unknown unit \"{}\" (ms, s, m or h)", text, unit)};
}

namespace {

// A host name as RFC 1123 has it: dot-separated labels of letters, digits and hyphens, no label
// starting or ending with a hyphen, at most 253 characters; plus underscores, which Docker's DNS
// answers for (stack_service). The last label must not be all digits (RFC 3696): such a host is
// a mistyped IPv4 address, not a name.
bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253)
    return false;
  std::string_view last;
  while (true) {
    const std::size_t dot = host.find('.');
    const std::string_view label = host.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (const char ch : label) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
      if (!ok)
        return false;
    }
    last = label;
    if (dot == std::string_view::npos)
      break;
    host.remove_prefix(dot + 1);
  }
  return last.find_first_not_of("0123456789") != std::string_view::npos;
}

}  // namespace

std::string ListenAddress::HostPort(std::uint16_t bound_port) const {
  if (host.empty())
    return fmt::format("0.0.0.0:{}", bound_port);
  if (host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", host, bound_port);
  return fmt::format("{}:{}", host, bound_port);
}

Result<ListenAddress> ParseListenAddress(const std::string& address) {
  const std::string_view text(address);
  ListenAddress result;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Error{
          fmt::format("\"{}\": the IPv6 address has no closing ']' (e.g. [::1]:9480)", address)};
    }
    result.host = std::string(text.substr(1, close - 1));
    in6_addr ipv6{};
    if (::inet_pton(AF_INET6, result.host.c_str(), &ipv6) != 1) {
      return Error{fmt::format("\"{}\": \"{}\" is not an IPv6 address", address, result.host)};
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Error{fmt::format("\"{}\" must be [IPv6 address]:port", address)};
    }
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error{fmt::format("\"{}\" must be host:port or :port", address)};
    }
    result.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    in_addr ipv4{};
    if (result.host.find(':') != std::string::npos) {
      return Error{
          fmt::format("\"{}\": an IPv6 address goes in brackets (e.g. [::1]:9480)", address)};
    }
    if (!result.host.empty() && ::inet_pton(AF_INET, result.host.c_str(), &ipv4) != 1) {
      if (result.host.find_first_not_of("0123456789.") == std::string::npos ||
          !IsHostName(result.host)) {
        return Error{
            fmt::format("\"{}\": \"{}\" is neither an IPv4 address (four numbers from 0 to 255) "
                        "nor a host name",
                        address, result.host)};
      }
      result.is_name = true;
    }
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Error{fmt::format("\"{}\": port \"{}\" is not a number from 0 to 65535", address, port)};
  }
  result.port = static_cast<std::uint16_t>(value);
  return result;
}

Result<sockaddr_storage> ResolveListenAddress(const ListenAddress& address) {
  sockaddr_storage storage{};
  if (!address.is_name) {
    if (address.host.find(':') != std::string::npos) {
      auto* ipv6 = reinterpret_cast<sockaddr_in6*>(&storage);
      ipv6->sin6_family = AF_INET6;
      ipv6->sin6_port = htons(address.port);
      if (::inet_pton(AF_INET6, address.host.c_str(), &ipv6->sin6_addr) != 1)
        return Error{fmt::format("\"{}\" is not an IPv6 address", address.host)};
    } else {
      auto* ipv4 = reinterpret_cast<sockaddr_in*>(&storage);
      ipv4->sin_family = AF_INET;
      ipv4->sin_port = htons(address.port);
      ipv4->sin_addr.s_addr = htonl(INADDR_ANY);
      if (!address.host.empty() && ::inet_pton(AF_INET, address.host.c_str(), &ipv4->sin_addr) != 1)
        return Error{fmt::format("\"{}\" is not an IPv4 address", address.host)};
    }
    return storage;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(address.host.c_str(), nullptr, &hints, &found); rc != 0) {
    return Error{fmt::format("cannot resolve \"{}\": {}", address.host, ::gai_strerror(rc))};
  }
  const addrinfo* chosen = nullptr;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET && chosen == nullptr)
      chosen = a;
  }
  for (const addrinfo* a = found; a != nullptr && chosen == nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET6)
      chosen = a;
  }
  if (chosen == nullptr) {
    ::freeaddrinfo(found);
    return Error{fmt::format("\"{}\" has no IPv4 or IPv6 address", address.host)};
  }
  std::memcpy(&storage, chosen->ai_addr, chosen->ai_addrlen);
  ::freeaddrinfo(found);
  if (storage.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(address.port);
  else
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(address.port);
  return storage;
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

Result<std::string> ReadConfigFile(const std::string& path) {
  constexpr std::size_t kMaxBytes = 1 << 20;
  if (path.find('\0') != std::string::npos)
    return Error{"the name holds a NUL byte"};
  auto failed = [] { return Error{std::error_code(errno, std::generic_category()).message()}; };
  // O_NONBLOCK: opening a pipe would wait for a writer; it is refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return failed();
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0)
    return failed();
  if (S_ISDIR(info.st_mode))
    return Error{"is a directory"};
  if (!S_ISREG(info.st_mode))
    return Error{"not a regular file"};  // /dev/zero, /dev/stdin: might never end
  std::string text;
  char buffer[16 * 1024];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return failed();
    if (n == 0)
      return text;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxBytes)
      return Error{"larger than 1 MiB"};
  }
}

std::vector<std::string_view> SettingKeys() {
  std::vector<std::string_view> keys;
  for (const Setting& s : Settings())
    keys.push_back(s.key);
  return keys;
}

Result<LoadedConfig> LoadConfig(const std::vector<std::string>& args, const Environment& env) {
  return LoadConfig(args, env, ReadConfigFile);
}

Result<LoadedConfig> LoadConfig(const std::vector<std::string>& args, const Environment& env,
                                const ConfigFileReader& read_file) {
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
  CLI::App* healthcheck = app.add_subcommand(
      "healthcheck",
      "Ask the agent of these settings for /healthz on its listen address: exit 0 when it answers "
      "200 within 5 s, 1 otherwise (a container healthcheck; the image has no HTTP client)");
  healthcheck->fallthrough();  // the settings may follow the subcommand's name
  // Its own flags only: it asks Prometheus, not this node's engine, and reads no settings.
  CLI::App* rightsize = app.add_subcommand(
      "rightsize",
      "Ask Prometheus what each Swarm service's tasks used over a window against what the service "
      "reserves and limits, and print per service a verdict (starved, over-reserved, "
      "under-reserved, fits) and the `docker service update` line that applies the suggestion. "
      "Exit 2, with a message naming the URL, when Prometheus is unreachable, answers an error or "
      "lacks the series; `swarmwatch rightsize --help` states the rule");
  RightsizeOptions& rs = loaded.rightsize;
  rightsize
      ->add_option("--prometheus", rs.prometheus_url,
                   "Prometheus' base URL, e.g. http://prometheus:9090 or "
                   "https://user:password@host/prometheus (basic auth, percent-encoded)")
      ->required();
  rightsize->add_option("--window", rs.window,
                        "how far back to look, a Prometheus duration (default: 7d)");
  rightsize->add_option(
      "--rate", rs.rate,
      "the rate() window of CPU usage; at least 4 scrape intervals (default: 5m)");
  rightsize->add_option("--stack", rs.stack,
                        "only the services of this stack (com.docker.stack.namespace)");
  rightsize->add_flag("--json", rs.json, "one JSON document instead of the table, for scripts");
  rightsize->footer(std::string(RuleText()));
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
  } catch (const CLI::Error& e) {
    return Error{Printable(RedactUrlsIn(fmt::format("command line: {}", e.what())))};
  }

  if (healthcheck->parsed())
    loaded.action = ConfigAction::kHealthcheck;
  if (rightsize->parsed()) {
    if (const Status valid = ValidateRightsizeOptions(rs); !valid.ok())
      return Error{Printable(RedactUrlsIn(fmt::format("command line: {}", valid.message())))};
    loaded.action = ConfigAction::kRightsize;
    return loaded;
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

  std::string config_origin = "--config";
  if (config_file.empty()) {
    if (auto it = env.find("SWARMWATCH_CONFIG"); it != env.end()) {
      config_file = it->second;
      config_origin = "SWARMWATCH_CONFIG";
    }
  }
  Origins origins;
  if (!config_file.empty()) {
    auto text = read_file(config_file);
    if (!text.ok()) {
      problems.push_back(fmt::format("{}: {}: cannot read the config file: {}", config_origin,
                                     config_file, text.error().message));
    } else {
      ApplyYamlText(*text, config_file, config_origin, loaded.config, origins, problems);
    }
  }
  for (const Setting& s : Settings()) {
    if (auto it = env.find(EnvName(s.key)); it != env.end()) {
      origins[s.key] = EnvName(s.key);
      ApplyText(s, it->second, origins[s.key], loaded.config, problems);
    }
  }
  for (const Setting& s : Settings()) {
    if (app.get_option(FlagName(s.key))->count() > 0) {
      origins[s.key] = FlagName(s.key);
      ApplyText(s, flag_values[std::string(s.key)], origins[s.key], loaded.config, problems);
    }
  }
  Validate(loaded.config, origins, problems);
  Config& c = loaded.config;
  for (const auto& [key, path, value] :
       {std::tuple{"loki_password_file", &c.loki_password_file, &c.loki_password},
        std::tuple{"loki_bearer_token_file", &c.loki_bearer_token_file, &c.loki_bearer_token}}) {
    if (path->empty())
      continue;
    auto [it, inserted] = origins.try_emplace(key, key);
    auto secret = ReadSecret(*path, read_file);
    if (secret.ok()) {
      *value = std::move(*secret);
    } else {
      problems.push_back(
          fmt::format("{}: {}: cannot read: {}", it->second, *path, secret.error().message));
    }
  }
  if (!problems.empty()) {
    for (std::string& problem : problems)
      problem = Printable(RedactUrlsIn(problem));
    return Error{fmt::format("invalid configuration:\n  {}", fmt::join(problems, "\n  "))};
  }
  return loaded;
}

}  // namespace swarmwatch
