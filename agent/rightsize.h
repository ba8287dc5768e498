// `swarmwatch rightsize`: asks Prometheus' HTTP API (/api/v1/query) what each Swarm service's tasks
// used over a window and what the service reserves and limits now, and prints the rule's verdict
// and suggestion (agent/rightsize_rule.h) per service. The PromQL is raw (subqueries over the
// window), so any Prometheus scraping the agents answers it, with or without the stack's
// recording rules; container series are joined to the managers' swarm_service_* series by
// relabelling com.docker.swarm.service.name and com.docker.stack.namespace to service and stack.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"
#include "agent/result.h"
#include "agent/rightsize_rule.h"

namespace swarmwatch {

// A Prometheus duration ("7d", "1h30m", "90s"; units y w d h m s ms, each once, largest first):
// its seconds, or what is wrong with it.
Result<double> ParsePromDuration(std::string_view text);

// Checks the options as given on the command line; the error names the flag.
Status ValidateRightsizeOptions(const RightsizeOptions& options);

// The subqueries' resolution for a window: the smallest of 1s, 2s, 5s, 10s, 15s, 30s, 1m, 2m, 5m,
// 10m, 15m, 30m, 1h, 2h, ... that takes at most 11,000 points (7d: 1m, 1d: 10s, 2m: 1s).
std::string SubqueryStep(double window_seconds);

// The PromQL the report asks, one instant query each.
struct RightsizeQueries {
  std::string
      presence;        // which of swarm_service_desired_tasks, swarm_node_capacity_cpu_cores exist
  std::string sizing;  // the services that exist now, their reservations and limits
  std::string cpu_p95, cpu_max, memory_p95, memory_max, throttled, oom_kills;  // usage per task
  std::string any_usage;  // whether any Swarm task's container series exist (to explain no rows)
};
RightsizeQueries BuildQueries(const RightsizeOptions& options);

// One sample of an instant vector.
struct PromSample {
  std::map<std::string, std::string> labels = {};
  double value = 0;
};

// What Prometheus' HTTP API answered.
struct ApiAnswer {
  long status = 0;  // HTTP status
  std::string body = {};
};

// The samples of an instant-vector answer ({"status":"success","data":{"resultType":"vector",
// "result":[...]}}), or an error with what Prometheus said (its errorType and error), or what
// answered instead (HTTP status and the start of the body). Warnings go to `warnings`.
Result<std::vector<PromSample>> ParseQueryAnswer(const ApiAnswer& answer,
                                                 std::vector<std::string>* warnings = nullptr);

// Sends one instant query: the answer, or why there was none.
using QueryTransport = std::function<Result<ApiAnswer>(const std::string& promql)>;

// GET <url>/api/v1/query?query=... with libcurl; the URL's userinfo becomes basic auth. The URL
// must have passed ValidateRightsizeOptions.
QueryTransport CurlQueryTransport(const std::string& prometheus_url, std::chrono::seconds timeout);

struct ServiceReport {
  std::string service = {};  // com.docker.swarm.service.name: <stack>_<name> in a stack
  std::string stack = {};    // empty outside a stack
  ServiceUsage usage = {};
  ServiceSizing sizing = {};
  bool cfs_periods = false;  // its tasks had a CPU quota: throttled_ratio means something
  Suggestion suggestion = {};
};

struct RightsizeReport {
  std::string prometheus = {};  // the URL without its userinfo's password
  std::string window = {}, step = {}, rate = {}, stack = {};
  std::vector<ServiceReport> services = {};     // by stack, then service
  std::vector<std::string> without_usage = {};  // services now, without container series in it
  std::vector<std::string> gone = {};           // container series in the window, no service now
  std::vector<std::string> warnings = {};       // Prometheus' own
};

// Asks every query and joins the answers. Errors start with "Prometheus at <url>": unreachable,
// an error answered, no manager's agent scraped (no swarm_service_desired_tasks), managers'
// agents without the reservation metrics (no swarm_node_capacity_cpu_cores), no container
// series of Swarm tasks in the window (no agent scraped, or none of the stack asked for).
Result<RightsizeReport> CollectReport(const RightsizeOptions& options, const QueryTransport& query);

// "docker service update --reserve-cpu 0.02 --reserve-memory 25MiB --limit-cpu 0.05
// --limit-memory 32MiB <service>".
std::string UpdateCommand(const ServiceReport& service);

// The table, the reasons and the commands; for people.
std::string FormatTable(const RightsizeReport& report);
// Everything in the table, as one JSON document; for scripts.
std::string FormatJson(const RightsizeReport& report);

// The subcommand: prints the report on stdout, or an error on stderr. Returns the exit code: 0,
// or 2 when there is no report.
int RunRightsize(const RightsizeOptions& options);

}  // namespace swarmwatch
