#include "agent/docker_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace swarmwatch {
namespace {

using nlohmann::json;

// Parses without exceptions: a discarded value means the text was not JSON.
Result<json> ParseJson(std::string_view body, std::string_view what) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Error{fmt::format("{}: not valid JSON ({} bytes)", what, body.size())};
  }
  return j;
}

const json* Member(const json& obj, std::string_view key) {
  if (!obj.is_object()) {
    return nullptr;
  }
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string String(const json& obj, std::string_view key) {
  const json* v = Member(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string{};
}

std::int64_t Int(const json& obj, std::string_view key) {
  const json* v = Member(obj, key);
  if (v == nullptr) {
    return 0;
  }
  if (v->is_number_integer()) {
    return v->get<std::int64_t>();
  }
  if (v->is_number_unsigned()) {
    auto u = v->get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
  }
  return 0;
}

bool Bool(const json& obj, std::string_view key) {
  const json* v = Member(obj, key);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

// Object members, or a null object when the member is absent, null or not an object.
const json& Object(const json& obj, std::string_view key) {
  static const json kNull;
  const json* v = Member(obj, key);
  return v != nullptr && v->is_object() ? *v : kNull;
}

// Labels and attributes: string values only (Docker never sends others); null means none.
LabelMap StringMap(const json& obj) {
  LabelMap out;
  if (!obj.is_object()) {
    return out;
  }
  for (const auto& [k, v] : obj.items()) {
    if (v.is_string()) {
      out.emplace(k, v.get<std::string>());
    }
  }
  return out;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, std::int64_t& out) {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

Result<double> ParseRfc3339(std::string_view s) {
  auto bad = [&] { return Error{fmt::format("not an RFC 3339 time: \"{}\"", s.substr(0, 64))}; };
  std::int64_t year = 0;
  std::int64_t mon = 0;
  std::int64_t day = 0;
  std::int64_t hour = 0;
  std::int64_t min = 0;
  std::int64_t sec = 0;
  if (!Digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, mon) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, hour) || s[13] != ':' || !Digits(s, 14, 2, min) || s[16] != ':' ||
      !Digits(s, 17, 2, sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return bad();
  }
  size_t pos = 19;
  double frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    double scale = 0.1;
    const size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) {
      return bad();
    }
  }
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    std::int64_t oh = 0;
    std::int64_t om = 0;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om)) {
      return bad();
    }
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) {
    return bad();
  }
  const std::int64_t secs =
      DaysFromCivil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + min * 60 + sec - offset;
  if (secs <= 0) {
    return 0.0;  // Go's zero time (year 1) and anything before the epoch: "never"
  }
  return static_cast<double>(secs) + frac;
}

Result<EngineInfo> ParseEngineInfo(std::string_view body) {
  auto j = ParseJson(body, "GET /info");
  if (!j) {
    return j.error();
  }
  if (!j->is_object()) {
    return Error{"GET /info: answer is not a JSON object"};
  }
  EngineInfo info;
  info.id = String(*j, "ID");
  info.name = String(*j, "Name");
  info.server_version = String(*j, "ServerVersion");
  info.cgroup_driver = String(*j, "CgroupDriver");
  info.cgroup_version = String(*j, "CgroupVersion");
  info.docker_root_dir = String(*j, "DockerRootDir");
  info.ncpu = Int(*j, "NCPU");
  info.mem_total = Int(*j, "MemTotal");
  const json& swarm = Object(*j, "Swarm");
  info.swarm_node_id = String(swarm, "NodeID");
  info.swarm_node_state = String(swarm, "LocalNodeState");
  info.swarm_manager = Bool(swarm, "ControlAvailable");
  return info;
}

Result<std::vector<std::string>> ParseContainerIds(std::string_view body) {
  auto j = ParseJson(body, "GET /containers/json");
  if (!j) {
    return j.error();
  }
  if (!j->is_array()) {
    return Error{"GET /containers/json: answer is not a JSON array"};
  }
  std::vector<std::string> ids;
  ids.reserve(j->size());
  for (const json& c : *j) {
    std::string id = String(c, "Id");
    if (!id.empty()) {
      ids.push_back(std::move(id));
    }
  }
  return ids;
}

Result<ContainerInfo> ParseContainerInspect(std::string_view body) {
  auto j = ParseJson(body, "GET /containers/{id}/json");
  if (!j) {
    return j.error();
  }
  if (!j->is_object()) {
    return Error{"GET /containers/{id}/json: answer is not a JSON object"};
  }
  ContainerInfo c;
  c.id = String(*j, "Id");
  if (c.id.empty()) {
    return Error{"GET /containers/{id}/json: answer has no \"Id\""};
  }
  c.name = String(*j, "Name");
  if (!c.name.empty() && c.name.front() == '/') {
    c.name.erase(0, 1);
  }
  const json& config = Object(*j, "Config");
  c.image = String(config, "Image");
  c.labels = StringMap(Object(config, "Labels"));
  const json& state = Object(*j, "State");
  c.running = Bool(state, "Running");
  c.pid = c.running ? Int(state, "Pid") : 0;
  // A malformed time is not worth dropping the container for: it stays 0 ("unknown").
  if (auto t = ParseRfc3339(String(*j, "Created")); t) {
    c.created_at = *t;
  }
  if (auto t = ParseRfc3339(String(state, "StartedAt")); t) {
    c.started_at = *t;
  }
  const json& host_config = Object(*j, "HostConfig");
  c.cgroup_parent = String(host_config, "CgroupParent");
  c.log_path = String(*j, "LogPath");
  c.log_driver = String(Object(host_config, "LogConfig"), "Type");
  c.resources = ContainerResources{Int(host_config, "NanoCpus"), Int(host_config, "CpuQuota"),
                                   Int(host_config, "CpuPeriod"), Int(host_config, "CpuShares"),
                                   Int(host_config, "Memory")};
  return c;
}

Result<DockerEvent> ParseEvent(std::string_view line) {
  auto j = ParseJson(line, "docker event");
  if (!j) {
    return j.error();
  }
  if (!j->is_object()) {
    return Error{"docker event: not a JSON object"};
  }
  DockerEvent e;
  e.type = String(*j, "Type");
  e.action = String(*j, "Action");
  if (e.action.empty()) {
    e.action = String(*j, "status");  // API < 1.22
  }
  if (e.action.empty()) {
    return Error{"docker event: no \"Action\""};
  }
  if (e.type.empty()) {
    e.type = "container";  // API < 1.22 sent container events only
  }
  const json& actor = Object(*j, "Actor");
  e.id = String(actor, "ID");
  if (e.id.empty()) {
    e.id = String(*j, "id");
  }
  e.attributes = StringMap(Object(actor, "Attributes"));
  e.time_nano = Int(*j, "timeNano");
  if (e.time_nano == 0) {
    const std::int64_t t = Int(*j, "time");
    e.time_nano = t > 0 && t < INT64_MAX / 1000000000 ? t * 1000000000 : 0;
  }
  return e;
}

std::string DockerErrorMessage(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    std::string m = String(j, "message");
    if (!m.empty()) {
      return m;
    }
  }
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) {
    body.remove_suffix(1);
  }
  return std::string(body.substr(0, 200));
}

namespace {

// A ResourceObject or Limit. Docker never sends a negative figure; one would mean nothing the
// scheduler uses either, so it reads as unset.
SwarmResources Resources(const json& obj) {
  SwarmResources r;
  r.nano_cpus = std::max<std::int64_t>(0, Int(obj, "NanoCPUs"));
  r.memory_bytes = std::max<std::int64_t>(0, Int(obj, "MemoryBytes"));
  return r;
}

// The entries of an array answer, or the error naming the call.
Result<const json*> ArrayOf(const Result<json>& j, std::string_view what) {
  if (!j)
    return j.error();
  if (!j->is_array())
    return Error{fmt::format("{}: answer is not a JSON array", what)};
  return &*j;
}

}  // namespace

Result<std::vector<SwarmService>> ParseServices(std::string_view body) {
  const auto j = ParseJson(body, "GET /services");
  auto entries = ArrayOf(j, "GET /services");
  if (!entries)
    return entries.error();
  std::vector<SwarmService> services;
  for (const json& s : **entries) {
    SwarmService service;
    service.id = String(s, "ID");
    if (service.id.empty())
      continue;
    const json& spec = Object(s, "Spec");
    service.name = String(spec, "Name");
    service.stack = String(Object(spec, "Labels"), "com.docker.stack.namespace");
    const json& mode = Object(spec, "Mode");
    static constexpr std::pair<std::string_view, std::string_view> kModes[] = {
        {"Replicated", "replicated"},
        {"Global", "global"},
        {"ReplicatedJob", "replicated-job"},
        {"GlobalJob", "global-job"}};
    for (const auto& [key, label] : kModes) {
      if (Member(mode, key) != nullptr) {
        service.mode = label;
        break;
      }
    }
    if (service.mode == "replicated")
      service.replicas = Int(Object(mode, "Replicated"), "Replicas");
    const json& resources = Object(Object(spec, "TaskTemplate"), "Resources");
    service.reservations = Resources(Object(resources, "Reservations"));
    service.limits = Resources(Object(resources, "Limits"));
    services.push_back(std::move(service));
  }
  return services;
}

Result<std::vector<SwarmTask>> ParseTasks(std::string_view body) {
  const auto j = ParseJson(body, "GET /tasks");
  auto entries = ArrayOf(j, "GET /tasks");
  if (!entries)
    return entries.error();
  std::vector<SwarmTask> tasks;
  for (const json& t : **entries) {
    if (String(t, "ID").empty())
      continue;
    SwarmTask task;
    task.service_id = String(t, "ServiceID");
    task.node_id = String(t, "NodeID");
    task.desired_state = String(t, "DesiredState");
    task.state = String(Object(t, "Status"), "State");
    tasks.push_back(std::move(task));
  }
  return tasks;
}

Result<std::vector<SwarmNode>> ParseNodes(std::string_view body) {
  const auto j = ParseJson(body, "GET /nodes");
  auto entries = ArrayOf(j, "GET /nodes");
  if (!entries)
    return entries.error();
  std::vector<SwarmNode> nodes;
  for (const json& n : **entries) {
    SwarmNode node;
    node.id = String(n, "ID");
    if (node.id.empty())
      continue;
    const json& description = Object(n, "Description");
    node.hostname = String(description, "Hostname");
    node.capacity = Resources(Object(description, "Resources"));
    const json& spec = Object(n, "Spec");
    node.role = String(spec, "Role");
    node.availability = String(spec, "Availability");
    node.state = String(Object(n, "Status"), "State");
    nodes.push_back(std::move(node));
  }
  return nodes;
}

}  // namespace swarmwatch
