#include "agent/rightsize.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

#include "agent/url_userinfo.h"

namespace swarmwatch {
namespace {

constexpr std::string_view kServiceLabel = "container_label_com_docker_swarm_service_name";
constexpr std::string_view kStackLabel = "container_label_com_docker_stack_namespace";
constexpr std::size_t kMaxAnswer = 64UL << 20;  // a week of a big Swarm is a few MiB

// A PromQL string literal.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    if (ch == '\\' || ch == '"')
      out.push_back('\\');
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(ch);
  }
  out.push_back('"');
  return out;
}

// The start of a body that is not Prometheus talking, fit for one line of an error.
std::string Excerpt(std::string_view body) {
  std::string out;
  for (const char ch : body.substr(0, 160)) {
    const auto byte = static_cast<unsigned char>(ch);
    out.push_back(byte < 0x20 || byte == 0x7f ? ' ' : ch);
  }
  if (body.size() > 160)
    out += "...";
  return out.empty() ? "(empty)" : out;
}

std::string FormatDuration(double seconds) {
  const auto s = static_cast<long long>(seconds);
  if (s % 3600 == 0)
    return fmt::format("{}h", s / 3600);
  if (s % 60 == 0)
    return fmt::format("{}m", s / 60);
  return fmt::format("{}s", s);
}

using Key = std::pair<std::string, std::string>;  // service, stack

Key KeyOf(const PromSample& sample) {
  auto label = [&](const char* name) {
    const auto it = sample.labels.find(name);
    return it == sample.labels.end() ? std::string() : it->second;
  };
  return {label("service"), label("stack")};
}

std::string DisplayName(const Key& key) {
  return key.first;
}

}  // namespace

Result<double> ParsePromDuration(std::string_view text) {
  // Prometheus' units, largest first; each may appear once, in this order.
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"y", 365 * 86400.0}, {"w", 7 * 86400.0}, {"d", 86400.0}, {"h", 3600.0},
      {"m", 60.0},          {"s", 1.0},         {"ms", 0.001}};
  if (text.empty())
    return Error{"empty; a duration is like 7d, 12h or 90s"};
  double seconds = 0;
  std::size_t next_unit = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9')
      ++digits;
    std::size_t letters = digits;
    while (letters < rest.size() && rest[letters] >= 'a' && rest[letters] <= 'z')
      ++letters;
    const std::string_view number = rest.substr(0, digits);
    const std::string_view unit = rest.substr(digits, letters - digits);
    if (number.empty() || unit.empty() || number.size() > 9)
      return Error{fmt::format("\"{}\" is not a duration like 7d, 12h or 1h30m", text)};
    std::size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].first != unit)
      ++u;
    if (u == std::size(kUnits))
      return Error{
          fmt::format("\"{}\" is not a duration like 7d, 12h or 1h30m (units y w d h m s "
                      "ms, each once, largest first)",
                      text)};
    seconds += std::stod(std::string(number)) * kUnits[u].second;
    next_unit = u + 1;
    rest.remove_prefix(letters);
  }
  if (!(seconds > 0))
    return Error{fmt::format("\"{}\" is no time at all", text)};
  return seconds;
}

Status ValidateRightsizeOptions(const RightsizeOptions& options) {
  std::vector<std::string> problems;
  if (options.prometheus_url.empty()) {
    problems.push_back("--prometheus: required: Prometheus' URL, e.g. http://prometheus:9090");
  } else if (auto split = SplitUrlUserinfo(options.prometheus_url); !split.ok()) {
    problems.push_back(fmt::format("--prometheus: {}", split.error().message));
  } else if (!split->url.starts_with("http://") && !split->url.starts_with("https://")) {
    problems.push_back(fmt::format("--prometheus: {}: not an http:// or https:// URL",
                                   RedactUrl(options.prometheus_url)));
  } else if (split->url.find_first_of("?#") != std::string::npos) {
    problems.push_back(fmt::format("--prometheus: {}: a base URL has no query or fragment",
                                   RedactUrl(options.prometheus_url)));
  }
  if (auto window = ParsePromDuration(options.window); !window.ok())
    problems.push_back(fmt::format("--window: {}", window.error().message));
  if (auto rate = ParsePromDuration(options.rate); !rate.ok())
    problems.push_back(fmt::format("--rate: {}", rate.error().message));
  if (problems.empty())
    return {};
  return Error{fmt::format("{}", fmt::join(problems, "\n  "))};
}

std::string SubqueryStep(double window_seconds) {
  constexpr double kMaxPoints = 11000;
  static constexpr double kSteps[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600};
  for (const double step : kSteps) {
    if (window_seconds / step <= kMaxPoints)
      return FormatDuration(step);
  }
  double step = 3600;
  while (window_seconds / step > kMaxPoints)
    step *= 2;
  return FormatDuration(step);
}

RightsizeQueries BuildQueries(const RightsizeOptions& options) {
  const std::string window = options.window;
  const std::string step = SubqueryStep(ParsePromDuration(options.window).value());
  std::string tasks = fmt::format("{}!=\"\"", kServiceLabel);
  std::string stack_filter;
  if (!options.stack.empty()) {
    tasks += fmt::format(",{}={}", kStackLabel, Quoted(options.stack));
    stack_filter = fmt::format(",stack={}", Quoted(options.stack));
  }
  // The container series' Swarm labels under the names the swarm_service_* series carry.
  auto relabel = [](const std::string& expr) {
    return fmt::format(
        "label_replace(label_replace({}, \"service\", \"$1\", \"{}\", \"(.+)\"), \"stack\", "
        "\"$1\", \"{}\", \"(.+)\")",
        expr, kServiceLabel, kStackLabel);
  };
  // The busiest task of each service at each instant.
  auto busiest = [&](const std::string& expr) {
    return fmt::format("max by (service, stack) ({})", relabel(expr));
  };
  auto per_service = [&](const std::string& aggregation, const std::string& expr) {
    return fmt::format("{} by (service, stack) ({})", aggregation, relabel(expr));
  };
  const std::string cpu = busiest(
      fmt::format("rate(container_cpu_usage_seconds_total{{{}}}[{}])", tasks, options.rate));
  const std::string memory =
      busiest(fmt::format("container_memory_working_set_bytes{{{}}}", tasks));

  RightsizeQueries q;
  q.presence =
      "count by (__name__) "
      "({__name__=~\"swarm_service_desired_tasks|swarm_node_capacity_cpu_cores\"})";
  // Several managers' agents export the same figures: max picks one.
  q.sizing = fmt::format(
      "max by (__name__, service, stack) ({{__name__=~\"swarm_service_desired_tasks|"
      "swarm_service_(reservation|limit)_(cpu_cores|memory_bytes)\"{}}})",
      stack_filter);
  q.cpu_p95 = fmt::format("quantile_over_time(0.95, ({})[{}:{}])", cpu, window, step);
  q.cpu_max = fmt::format("max_over_time(({})[{}:{}])", cpu, window, step);
  q.memory_p95 = fmt::format("quantile_over_time(0.95, ({})[{}:{}])", memory, window, step);
  // Every sample, not the subquery's points: a peak between two points counts.
  q.memory_max = busiest(
      fmt::format("max_over_time(container_memory_working_set_bytes{{{}}}[{}])", tasks, window));
  // Containers without a CPU quota count no periods: no ratio rather than 0/0.
  q.throttled = fmt::format(
      "{} / ({} > 0)",
      per_service(
          "sum", fmt::format("increase(container_cpu_cfs_throttled_periods_total{{{}}}[{}])", tasks,
                             window)),
      per_service("sum", fmt::format("increase(container_cpu_cfs_periods_total{{{}}}[{}])", tasks,
                                     window)));
  // Per container, what its cgroup's count rose by in the window (whole, unlike increase()'s
  // extrapolation). A kill of a task's main process ends its container before a scrape sees that
  // count: the engine's `oom` events, which each node's agent counts per service, tell those.
  // Per service the larger of the two: a kill the cgroup counted is an event too. The events'
  // counter restarts with the agent: increase() reads a fall as a reset, and its extrapolation
  // only ever adds (the table rounds).
  const std::string cgroup_ooms =
      per_service("sum", fmt::format("max_over_time(container_oom_events_total{{{0}}}[{1}]) - "
                                     "min_over_time(container_oom_events_total{{{0}}}[{1}])",
                                     tasks, window));
  const std::string event_ooms = fmt::format(
      "sum by (service, stack) (increase(swarm_task_oom_events_total{{{}}}[{}]))",
      options.stack.empty() ? "" : fmt::format("stack={}", Quoted(options.stack)), window);
  q.oom_kills =
      fmt::format("({0}) >= on (service, stack) ({1}) or on (service, stack) ({1}) or ({0})",
                  cgroup_ooms, event_ooms);
  q.any_usage =
      fmt::format("count(last_over_time(container_memory_working_set_bytes{{{}!=\"\"}}[{}]))",
                  kServiceLabel, window);
  return q;
}

Result<std::vector<PromSample>> ParseQueryAnswer(const ApiAnswer& answer,
                                                 std::vector<std::string>* warnings) {
  const auto doc = nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("status") ||
      !doc["status"].is_string()) {
    return Error{fmt::format("answered HTTP {} with no Prometheus API answer: {}", answer.status,
                             Excerpt(answer.body))};
  }
  try {
    if (warnings != nullptr && doc.contains("warnings") && doc["warnings"].is_array()) {
      for (const auto& warning : doc["warnings"])
        warnings->push_back(warning.is_string() ? warning.get<std::string>() : warning.dump());
    }
    const std::string status = doc["status"].get<std::string>();
    if (status != "success") {
      const std::string type = doc.value("errorType", "");
      const std::string error = doc.value("error", "");
      return Error{fmt::format("answered HTTP {}: {}{}{}", answer.status, type,
                               type.empty() ? "" : ": ", error.empty() ? status : error)};
    }
    if (answer.status != 200) {
      return Error{fmt::format("answered HTTP {} with status success: {}", answer.status,
                               Excerpt(answer.body))};
    }
    const auto& data = doc.at("data");
    const std::string type = data.at("resultType").get<std::string>();
    if (type != "vector")
      return Error{fmt::format("answered a {}, not an instant vector", type)};
    std::vector<PromSample> samples;
    for (const auto& item : data.at("result")) {
      PromSample sample;
      for (const auto& [name, value] : item.at("metric").items())
        sample.labels.emplace(name, value.get<std::string>());
      const auto& pair = item.at("value");
      if (!pair.is_array() || pair.size() != 2)
        return Error{"answered a sample whose value is not [time, \"value\"]"};
      // Prometheus writes values as Go's strconv does: "1.5", "1e+06", "NaN", "+Inf", "-Inf".
      std::string text = pair[1].get<std::string>();
      std::string_view digits = text;
      if (digits.starts_with('+'))
        digits.remove_prefix(1);
      double value = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (ec != std::errc() || end != digits.data() + digits.size())
        return Error{fmt::format("answered a value that is not a number: \"{}\"", text)};
      sample.value = value;
      samples.push_back(std::move(sample));
    }
    return samples;
  } catch (const nlohmann::json::exception& e) {
    return Error{fmt::format("answered JSON not shaped as an instant query's answer ({}): {}",
                             e.what(), Excerpt(answer.body))};
  }
}

namespace {

std::size_t CollectBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > kMaxAnswer)
    return 0;  // curl then fails with CURLE_WRITE_ERROR
  body->append(data, size * count);
  return size * count;
}

}  // namespace

QueryTransport CurlQueryTransport(const std::string& prometheus_url, std::chrono::seconds timeout) {
  UrlUserinfo split = SplitUrlUserinfo(prometheus_url).value();
  std::string base = split.url;
  while (base.ends_with('/'))
    base.pop_back();
  return [base = std::move(base), split = std::move(split),
          timeout](const std::string& promql) -> Result<ApiAnswer> {
    const std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(),
                                                                   &curl_easy_cleanup);
    if (!curl)
      return Error{"curl_easy_init failed"};
    const std::unique_ptr<char, decltype(&curl_free)> escaped(
        curl_easy_escape(curl.get(), promql.data(), static_cast<int>(promql.size())), &curl_free);
    if (!escaped)
      return Error{"curl_easy_escape failed"};
    const std::string url = fmt::format("{}/api/v1/query?query={}", base, escaped.get());
    ApiAnswer answer;
    char detail[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count() * 1000));
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    // A proxy in front of Prometheus may move it (/prometheus -> /prometheus/); curl sends the
    // credentials only to the host they were given for.
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(curl.get(), CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &CollectBody);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer.body);
    if (split.present) {
      curl_easy_setopt(curl.get(), CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(curl.get(), CURLOPT_USERNAME, split.user.c_str());
      curl_easy_setopt(curl.get(), CURLOPT_PASSWORD, split.password.c_str());
    }
    const CURLcode rc = curl_easy_perform(curl.get());
    if (rc == CURLE_WRITE_ERROR)
      return Error{fmt::format("answered more than {} MiB", kMaxAnswer >> 20)};
    if (rc != CURLE_OK) {
      return Error{fmt::format("cannot reach it: {}{}{}", curl_easy_strerror(rc),
                               detail[0] != '\0' ? ": " : "", detail)};
    }
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &answer.status);
    return answer;
  };
}

Result<RightsizeReport> CollectReport(const RightsizeOptions& options,
                                      const QueryTransport& query) {
  if (const Status valid = ValidateRightsizeOptions(options); !valid.ok())
    return Error{valid.message()};
  RightsizeReport report;
  report.prometheus = RedactUrl(options.prometheus_url);
  report.window = options.window;
  report.step = SubqueryStep(ParsePromDuration(options.window).value());
  report.rate = options.rate;
  report.stack = options.stack;
  const std::string where = fmt::format("Prometheus at {}", report.prometheus);
  const RightsizeQueries q = BuildQueries(options);

  auto ask = [&](const std::string& promql,
                 std::string_view what) -> Result<std::vector<PromSample>> {
    auto answer = query(promql);
    if (!answer.ok())
      return Error{fmt::format("{}: {}", where, answer.error().message)};
    auto samples = ParseQueryAnswer(*answer, &report.warnings);
    if (!samples.ok()) {
      return Error{fmt::format("{}: asked for {}: {}\n  query: {}", where, what,
                               samples.error().message, promql)};
    }
    return samples;
  };

  auto presence = ask(q.presence, "the swarm_service_* series");
  if (!presence.ok())
    return presence.error();
  std::set<std::string> names;
  for (const PromSample& s : *presence)
    names.insert(s.labels.contains("__name__") ? s.labels.at("__name__") : "");
  if (!names.contains("swarm_service_desired_tasks")) {
    return Error{fmt::format(
        "{}: has no swarm_service_desired_tasks series: no Swarm manager's swarmwatch is scraped, "
        "and the services, their reservations and limits come from a manager's",
        where)};
  }
  if (!names.contains("swarm_node_capacity_cpu_cores")) {
    return Error{fmt::format(
        "{}: has swarm_service_desired_tasks but no swarm_node_capacity_cpu_cores: the managers' "
        "swarmwatch predates the reservation and limit series (swarm_service_reservation_*, "
        "swarm_service_limit_*), so every service would look unreserved; upgrade them",
        where)};
  }

  auto sizing = ask(q.sizing, "the services' reservations and limits");
  if (!sizing.ok())
    return sizing.error();
  std::map<Key, ServiceSizing> specs;
  for (const PromSample& s : *sizing) {
    const std::string& name = s.labels.contains("__name__") ? s.labels.at("__name__") : "";
    ServiceSizing& spec = specs[KeyOf(s)];
    if (name == "swarm_service_reservation_cpu_cores")
      spec.cpu_reservation = s.value;
    else if (name == "swarm_service_limit_cpu_cores")
      spec.cpu_limit = s.value;
    else if (name == "swarm_service_reservation_memory_bytes")
      spec.memory_reservation = s.value;
    else if (name == "swarm_service_limit_memory_bytes")
      spec.memory_limit = s.value;
  }

  std::map<Key, ServiceReport> rows;
  const std::pair<const std::string*, double ServiceUsage::*> figures[] = {
      {&q.cpu_p95, &ServiceUsage::cpu_p95},           {&q.cpu_max, &ServiceUsage::cpu_max},
      {&q.memory_p95, &ServiceUsage::memory_p95},     {&q.memory_max, &ServiceUsage::memory_max},
      {&q.throttled, &ServiceUsage::throttled_ratio}, {&q.oom_kills, &ServiceUsage::oom_kills},
  };
  for (const auto& [promql, field] : figures) {
    auto samples = ask(*promql, "the services' usage");
    if (!samples.ok())
      return samples.error();
    for (const PromSample& s : *samples) {
      if (!std::isfinite(s.value))
        continue;
      ServiceReport& row = rows[KeyOf(s)];
      row.usage.*field = s.value;
      if (field == &ServiceUsage::throttled_ratio)
        row.cfs_periods = true;
    }
  }
  if (rows.empty()) {
    auto any = ask(q.any_usage, "any Swarm task's container series");
    if (!any.ok())
      return any.error();
    if (any->empty()) {
      return Error{fmt::format(
          "{}: has no container series of Swarm tasks (container_memory_working_set_bytes with "
          "a {} label) in the last {}: no node's swarmwatch is scraped",
          where, kServiceLabel, options.window)};
    }
    if (!options.stack.empty()) {
      return Error{
          fmt::format("{}: has no container series of stack \"{}\" in the last {} (other "
                      "stacks have some)",
                      where, options.stack, options.window)};
    }
  }

  for (auto& [key, row] : rows) {
    const auto spec = specs.find(key);
    if (spec == specs.end()) {
      report.gone.push_back(DisplayName(key));
      continue;
    }
    row.service = key.first;
    row.stack = key.second;
    row.sizing = spec->second;
    row.suggestion = Suggest(row.usage, row.sizing);
    report.services.push_back(std::move(row));
  }
  for (const auto& [key, spec] : specs) {
    if (!rows.contains(key))
      report.without_usage.push_back(DisplayName(key));
  }
  std::sort(report.services.begin(), report.services.end(),
            [](const ServiceReport& a, const ServiceReport& b) {
              return std::tie(a.stack, a.service) < std::tie(b.stack, b.service);
            });
  return report;
}

namespace {

// Docker's names need no quoting; anything else gets it, for a line meant to be pasted.
std::string ShellWord(std::string_view word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.';
  });
  if (plain)
    return std::string(word);
  std::string out = "'";
  for (const char ch : word) {
    if (ch == '\'')
      out += "'\\''";
    else
      out.push_back(ch);
  }
  return out + "'";
}

// Suggestions are whole hundredths of a core and whole MiB; Docker reads both as written.
std::string DockerCores(double cores) {
  return fmt::format("{:.2f}", cores);
}
std::string DockerBytes(std::uint64_t bytes) {
  return fmt::format("{}MiB", bytes >> 20);
}

std::string Optional(const std::optional<double>& value, std::string (*format)(double)) {
  return value ? format(*value) : "-";
}

}  // namespace

std::string UpdateCommand(const ServiceReport& service) {
  const Suggestion& s = service.suggestion;
  return fmt::format(
      "docker service update --reserve-cpu {} --reserve-memory {} --limit-cpu {} --limit-memory "
      "{} {}",
      DockerCores(s.cpu_reservation), DockerBytes(s.memory_reservation), DockerCores(s.cpu_limit),
      DockerBytes(s.memory_limit), ShellWord(service.service));
}

std::string FormatTable(const RightsizeReport& report) {
  std::string out = fmt::format(
      "Right-sizing from {} over the last {}{}: per task (a service's busiest task at each "
      "instant); CPU in cores ({} rate, subqueries at {}), memory as the working set; "
      "swarmwatch rightsize --help states the rule.\n\n",
      report.prometheus, report.window,
      report.stack.empty() ? "" : fmt::format(", stack {}", report.stack), report.rate,
      report.step);
  const std::vector<std::string> header = {"SERVICE", "VERDICT",   "CPU p95/max",    "RESERVED",
                                           "LIMIT",   "SUGGESTED", "MEMORY p95/max", "RESERVED",
                                           "LIMIT",   "SUGGESTED", "THROTTLED",      "OOM"};
  std::vector<std::vector<std::string>> cells = {header};
  for (const ServiceReport& r : report.services) {
    const ServiceUsage& u = r.usage;
    const Suggestion& s = r.suggestion;
    cells.push_back({
        r.service,
        std::string(VerdictName(s.verdict)),
        fmt::format("{}/{}", FormatCores(u.cpu_p95), FormatCores(u.cpu_max)),
        Optional(r.sizing.cpu_reservation, &FormatCores),
        Optional(r.sizing.cpu_limit, &FormatCores),
        fmt::format("{}/{}", DockerCores(s.cpu_reservation), DockerCores(s.cpu_limit)),
        fmt::format("{}/{}", FormatBytes(u.memory_p95), FormatBytes(u.memory_max)),
        Optional(r.sizing.memory_reservation, &FormatBytes),
        Optional(r.sizing.memory_limit, &FormatBytes),
        fmt::format("{}/{}", DockerBytes(s.memory_reservation), DockerBytes(s.memory_limit)),
        r.cfs_periods ? fmt::format("{:.1f}%", u.throttled_ratio * 100) : "-",
        fmt::format("{}", std::llround(std::max(0.0, u.oom_kills))),
    });
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& row : cells) {
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : cells) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i)
      line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], widths[i]) : row[i];
    out += line + "\n";
  }
  if (report.services.empty())
    out += "(no service)\n";

  bool any_change = false;
  for (const ServiceReport& r : report.services) {
    if (r.suggestion.verdict == Verdict::kFits)
      continue;
    if (!any_change)
      out += "\nWhy:\n";
    any_change = true;
    out += fmt::format("  {} ({}): {}\n", r.service, VerdictName(r.suggestion.verdict),
                       fmt::join(r.suggestion.reasons, "; "));
  }
  if (any_change) {
    out += "\nTo apply the suggestions:\n";
    for (const ServiceReport& r : report.services) {
      if (r.suggestion.verdict != Verdict::kFits)
        out += "  " + UpdateCommand(r) + "\n";
    }
  } else if (!report.services.empty()) {
    out += "\nEvery service fits: nothing to change.\n";
  }
  if (!report.without_usage.empty()) {
    out +=
        fmt::format("\nNo container series in the window (no task ran, or no agent saw it): {}\n",
                    fmt::join(report.without_usage, ", "));
  }
  if (!report.gone.empty()) {
    out += fmt::format("\nUsed in the window but no longer services (not listed): {}\n",
                       fmt::join(report.gone, ", "));
  }
  return out;
}

std::string FormatJson(const RightsizeReport& report) {
  auto optional = [](const std::optional<double>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  nlohmann::json services = nlohmann::json::array();
  for (const ServiceReport& r : report.services) {
    const ServiceUsage& u = r.usage;
    const Suggestion& s = r.suggestion;
    services.push_back({
        {"service", r.service},
        {"stack", r.stack},
        {"verdict", VerdictName(s.verdict)},
        {"reasons", s.reasons},
        {"cpu",
         {{"used_p95", u.cpu_p95},
          {"used_max", u.cpu_max},
          {"reserved", optional(r.sizing.cpu_reservation)},
          {"limit", optional(r.sizing.cpu_limit)},
          {"throttled_ratio", r.cfs_periods ? nlohmann::json(u.throttled_ratio) : nullptr},
          {"suggested_reservation", s.cpu_reservation},
          {"suggested_limit", s.cpu_limit}}},
        {"memory",
         {{"used_p95", u.memory_p95},
          {"used_max", u.memory_max},
          {"reserved", optional(r.sizing.memory_reservation)},
          {"limit", optional(r.sizing.memory_limit)},
          {"oom_kills", std::llround(std::max(0.0, u.oom_kills))},
          {"suggested_reservation", s.memory_reservation},
          {"suggested_limit", s.memory_limit}}},
        {"command",
         s.verdict == Verdict::kFits ? nlohmann::json(nullptr) : nlohmann::json(UpdateCommand(r))},
    });
  }
  const nlohmann::json doc = {
      {"prometheus", report.prometheus},
      {"window", report.window},
      {"step", report.step},
      {"rate", report.rate},
      {"stack", report.stack.empty() ? nlohmann::json(nullptr) : nlohmann::json(report.stack)},
      {"services", std::move(services)},
      {"without_usage", report.without_usage},
      {"gone", report.gone},
      {"warnings", report.warnings},
  };
  return doc.dump(2) + "\n";
}

int RunRightsize(const RightsizeOptions& options) {
  // Prometheus' default query timeout is 2 min; a week of subqueries on a big Swarm takes a while.
  auto report =
      CollectReport(options, CurlQueryTransport(options.prometheus_url, std::chrono::seconds(150)));
  if (!report.ok()) {
    std::fprintf(stderr, "swarmwatch rightsize: %s\n", report.error().message.c_str());
    return 2;
  }
  for (const std::string& warning : report->warnings)
    std::fprintf(stderr, "swarmwatch rightsize: Prometheus warns: %s\n", warning.c_str());
  const std::string text = options.json ? FormatJson(*report) : FormatTable(*report);
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace swarmwatch
