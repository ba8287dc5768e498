// Request metrics (RED) for every web container that asks for them with the Docker label
// `swarmwatch.access_log=<format>`: each access-log line its log reader hands over is parsed and
// counted in http_requests_total{method,code}, http_request_duration_seconds and
// http_response_size_bytes, labelled service, stack and node (and route when patterns are set).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/log_line_consumer.h"
#include "agent/result.h"
#include "exporters/access_log_parser.h"

namespace swarmwatch {

inline constexpr std::string_view kAccessLogLabel = "swarmwatch.access_log";

// A user's format, named so that a container's label can ask for it.
struct NamedAccessLogFormat {
  std::string name;
  AccessLogSyntax syntax = AccessLogSyntax::kApache;
  std::string definition;
};

struct RequestMetricsOptions {
  std::vector<NamedAccessLogFormat> formats;  // besides the predefined ones
  std::vector<std::string> routes;            // route patterns; none: no route label
  // Web pages: 5 ms to 10 s.
  std::vector<double> duration_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::vector<double> size_buckets = {100, 1000, 10000, 100000, 1e6, 1e7};
  std::function<std::string()> node_name = [] { return std::string(); };
  // Lines Docker received before this time (ns since the epoch) are not counted: a container's
  // history, read when the agent first follows it, is not a burst of requests now. The agent sets
  // its start time, so that its counters, like any exporter's, count from its start.
  std::int64_t not_before_ns = 0;
};

class RequestMetrics : public LogLineConsumer {
 public:
  // Compiles the formats and route patterns; the error names the one that is wrong.
  static Result<std::shared_ptr<RequestMetrics>> Create(RequestMetricsOptions options);

  // A sink for a container labelled swarmwatch.access_log=<known format>; null otherwise (an
  // unknown format is logged once per container).
  std::unique_ptr<LogLineSink> Attach(const ContainerInfo& container) override;

  std::shared_ptr<prometheus::Collectable> metrics() const { return registry_; }
  // http_requests_total summed per service (for the status page).
  std::map<std::string, double> TotalsByService() const;

  // The service a container's requests count under: its Swarm service, else its Compose
  // service, else its name.
  static std::string ServiceOf(const ContainerInfo& container);
  static std::string StackOf(const ContainerInfo& container);

 private:
  class Sink;
  explicit RequestMetrics(RequestMetricsOptions options,
                          std::map<std::string, AccessLogParser, std::less<>> parsers,
                          RouteMatcher routes);

  RequestMetricsOptions options_;
  std::map<std::string, AccessLogParser, std::less<>> parsers_;  // by format name
  RouteMatcher routes_;
  std::mutex warned_mu_;
  std::set<std::string, std::less<>> warned_;  // containers whose unknown format was logged

  // The series of one service (one label set of service, stack and node), shared by the sinks of
  // its containers and removed with the last of them: a removed service leaves no series behind.
  struct ServiceSeries {
    int sinks = 0;
    prometheus::Counter* unparsed = nullptr;
    std::vector<prometheus::Counter*> requests;
    std::vector<prometheus::Histogram*> durations;
    std::vector<prometheus::Histogram*> sizes;
  };
  // Called by sinks; series_mu_ guards the map and the vectors.
  ServiceSeries& Acquire(const prometheus::Labels& labels);
  void Release(const prometheus::Labels& labels);
  prometheus::Counter& AddRequests(const prometheus::Labels& service, prometheus::Labels labels);
  prometheus::Histogram& AddHistogram(const prometheus::Labels& service,
                                      prometheus::Family<prometheus::Histogram>& family,
                                      const prometheus::Labels& labels,
                                      const std::vector<double>& buckets);
  std::mutex series_mu_;
  std::map<prometheus::Labels, ServiceSeries> services_;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Histogram>& sizes_;
  prometheus::Family<prometheus::Counter>& unparsed_;
};

}  // namespace swarmwatch
