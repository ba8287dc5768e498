#include "exporters/request_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "agent/log.h"

namespace swarmwatch {
namespace {

constexpr std::string_view kComposeService = "com.docker.compose.service";
constexpr std::string_view kComposeProject = "com.docker.compose.project";

// NormalizeMethod's answers, so that a (method, status) pair makes a small integer key.
constexpr std::string_view kMethodLabels[] = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                              "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"};
constexpr std::uint32_t kMethodCount = std::size(kMethodLabels);

std::uint32_t MethodIndex(std::string_view method) {
  const std::string_view normalized = NormalizeMethod(method);
  for (std::uint32_t i = 0; i + 1 < kMethodCount; ++i) {
    if (kMethodLabels[i] == normalized)
      return i;
  }
  return kMethodCount - 1;
}

Status CheckBuckets(std::string_view what, const std::vector<double>& buckets) {
  if (buckets.empty())
    return Error{fmt::format("{}: at least one bucket is needed", what)};
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (!(buckets[i] > 0))
      return Error{fmt::format("{}: bucket {} is not a positive number", what, buckets[i])};
    if (i > 0 && buckets[i] <= buckets[i - 1]) {
      return Error{
          fmt::format("{}: buckets must increase ({} after {})", what, buckets[i], buckets[i - 1])};
    }
  }
  return {};
}

}  // namespace

// One container's lines: parsed with its format, counted in its service's series. The series'
// addresses are cached per (route, method, status), so a line costs a parse and a few atomic
// increments, and no allocation once its combination has been seen.
class RequestMetrics::Sink : public LogLineSink {
 public:
  Sink(RequestMetrics& owner, const AccessLogParser& parser, prometheus::Labels labels)
      : owner_(owner),
        parser_(parser),
        labels_(std::move(labels)),
        unparsed_(*owner.Acquire(labels_).unparsed) {}
  ~Sink() override { owner_.Release(labels_); }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  void Consume(LogStream stream, std::int64_t time_ns, std::string_view line) override {
    // Apache and nginx write their error log to stderr: only stdout holds requests.
    if (stream != LogStream::kStdout || time_ns < owner_.options_.not_before_ns)
      return;
    if (!parser_.Parse(line, entry_) || entry_.status == 0) {
      unparsed_.Increment();
      return;
    }
    const std::string_view route =
        owner_.routes_.empty() ? std::string_view{} : owner_.routes_.Match(entry_.path);
    RouteSeries& series = Series(route);
    const std::uint32_t key =
        static_cast<std::uint32_t>(entry_.status) * kMethodCount + MethodIndex(entry_.method);
    auto it = series.requests.find(key);
    if (it == series.requests.end()) {
      prometheus::Labels labels = series.labels;
      labels.emplace("method", kMethodLabels[key % kMethodCount]);
      labels.emplace("code", std::to_string(entry_.status));
      it = series.requests.emplace(key, &owner_.AddRequests(labels_, std::move(labels))).first;
    }
    it->second->Increment();
    if (series.duration != nullptr && entry_.duration_seconds)
      series.duration->Observe(*entry_.duration_seconds);
    // Apache's %b writes "-" for an empty body.
    if (series.size != nullptr)
      series.size->Observe(static_cast<double>(entry_.response_bytes.value_or(0)));
  }

 private:
  struct RouteSeries {
    prometheus::Labels labels;  // service, stack, node (and route)
    prometheus::Histogram* duration = nullptr;
    prometheus::Histogram* size = nullptr;
    std::unordered_map<std::uint32_t, prometheus::Counter*> requests;
  };

  // Routes are views into the matcher's patterns (or "other"), stable for its life: their
  // address identifies them.
  RouteSeries& Series(std::string_view route) {
    auto it = by_route_.find(route.data());
    if (it != by_route_.end())
      return it->second;
    RouteSeries series;
    series.labels = labels_;
    if (route.data() != nullptr)
      series.labels.emplace("route", std::string(route));
    if (parser_.has_duration()) {
      series.duration = &owner_.AddHistogram(labels_, owner_.durations_, series.labels,
                                             owner_.options_.duration_buckets);
    }
    if (parser_.has_response_bytes()) {
      series.size =
          &owner_.AddHistogram(labels_, owner_.sizes_, series.labels, owner_.options_.size_buckets);
    }
    return by_route_.emplace(route.data(), std::move(series)).first->second;
  }

  RequestMetrics& owner_;
  const AccessLogParser& parser_;
  const prometheus::Labels labels_;
  prometheus::Counter& unparsed_;
  AccessLogEntry entry_;
  std::unordered_map<const char*, RouteSeries> by_route_;
};

Result<std::shared_ptr<RequestMetrics>> RequestMetrics::Create(RequestMetricsOptions options) {
  std::map<std::string, AccessLogParser, std::less<>> parsers;
  for (const PredefinedAccessLogFormat& predefined : PredefinedAccessLogFormats()) {
    auto parser = MakeAccessLogParser(predefined.name);
    if (!parser.ok())
      return Error{fmt::format("format {}: {}", predefined.name, parser.error().message)};
    parsers.emplace(std::string(predefined.name), std::move(parser).value());
  }
  for (const NamedAccessLogFormat& format : options.formats) {
    if (parsers.contains(format.name)) {
      return Error{
          fmt::format("format {}: the name is taken (predefined or given twice)", format.name)};
    }
    auto compiled = CompileAccessLogFormat(format.definition, format.syntax);
    if (!compiled.ok())
      return Error{fmt::format("format {}: {}", format.name, compiled.error().message)};
    parsers.emplace(format.name, AccessLogParser(std::move(compiled).value()));
  }
  auto routes = RouteMatcher::Compile(options.routes);
  if (!routes.ok())
    return routes.error();
  for (const auto& [what, buckets] : {std::pair{"duration buckets", &options.duration_buckets},
                                      std::pair{"size buckets", &options.size_buckets}}) {
    if (Status checked = CheckBuckets(what, *buckets); !checked.ok())
      return Error{checked.message()};
  }
  return std::shared_ptr<RequestMetrics>(
      new RequestMetrics(std::move(options), std::move(parsers), std::move(routes).value()));
}

RequestMetrics::RequestMetrics(RequestMetricsOptions options,
                               std::map<std::string, AccessLogParser, std::less<>> parsers,
                               RouteMatcher routes)
    : options_(std::move(options)),
      parsers_(std::move(parsers)),
      routes_(std::move(routes)),
      registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("http_requests_total")
                    .Help("HTTP requests answered, from the access logs of containers labelled "
                          "swarmwatch.access_log")
                    .Register(*registry_)),
      durations_(prometheus::BuildHistogram()
                     .Name("http_request_duration_seconds")
                     .Help("Time to answer an HTTP request, as the server logged it")
                     .Register(*registry_)),
      sizes_(prometheus::BuildHistogram()
                 .Name("http_response_size_bytes")
                 .Help("Size of HTTP response bodies, as the server logged it")
                 .Register(*registry_)),
      unparsed_(prometheus::BuildCounter()
                    .Name("swarmwatch_access_log_unparsed_lines_total")
                    .Help("stdout lines of access-log containers that did not match their format")
                    .Register(*registry_)) {}

std::map<std::string, double> RequestMetrics::TotalsByService() const {
  std::map<std::string, double> totals;
  for (const auto& family : registry_->Collect()) {
    if (family.name != "http_requests_total")
      continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "service")
          totals[label.value] += metric.counter.value;
      }
    }
  }
  return totals;
}

std::string RequestMetrics::ServiceOf(const ContainerInfo& container) {
  for (std::string_view key : {kSwarmServiceName, kComposeService}) {
    if (auto value = container.Label(key); !value.empty())
      return std::string(value);
  }
  return container.name;
}

std::string RequestMetrics::StackOf(const ContainerInfo& container) {
  if (auto stack = container.Label(kStackNamespace); !stack.empty())
    return std::string(stack);
  return std::string(container.Label(kComposeProject));
}

std::unique_ptr<LogLineSink> RequestMetrics::Attach(const ContainerInfo& container) {
  const std::string_view format = container.Label(kAccessLogLabel);
  if (format.empty())
    return nullptr;
  auto parser = parsers_.find(format);
  if (parser == parsers_.end()) {
    std::lock_guard lock(warned_mu_);
    if (warned_.insert(container.id).second) {
      std::string known;
      for (const auto& [name, unused] : parsers_)
        known += (known.empty() ? "" : ", ") + name;
      log::Warn("access log of {}: unknown format \"{}\" in label {} (known: {})", container.name,
                format, kAccessLogLabel, known);
    }
    return nullptr;
  }
  const std::string service = ServiceOf(container);
  prometheus::Labels labels = {
      {"service", service},
      {"stack", StackOf(container)},
      {"node", options_.node_name()},
  };
  return std::make_unique<Sink>(*this, parser->second, std::move(labels));
}

RequestMetrics::ServiceSeries& RequestMetrics::Acquire(const prometheus::Labels& labels) {
  std::lock_guard lock(series_mu_);
  ServiceSeries& series = services_[labels];
  if (series.sinks++ == 0)
    series.unparsed = &unparsed_.Add({{"service", labels.at("service")}});
  return series;
}

void RequestMetrics::Release(const prometheus::Labels& labels) {
  std::lock_guard lock(series_mu_);
  auto it = services_.find(labels);
  if (it == services_.end() || --it->second.sinks > 0)
    return;
  // The service's last container is gone (read to its end): its series go with it. Another label
  // set of the same service name (another stack or node) may share the unparsed counter.
  const ServiceSeries& series = it->second;
  for (prometheus::Counter* counter : series.requests)
    requests_.Remove(counter);
  for (prometheus::Histogram* histogram : series.durations)
    durations_.Remove(histogram);
  for (prometheus::Histogram* histogram : series.sizes)
    sizes_.Remove(histogram);
  const bool unparsed_shared =
      std::any_of(services_.begin(), services_.end(), [&](const auto& other) {
        return other.first != it->first && other.second.unparsed == series.unparsed;
      });
  if (!unparsed_shared)
    unparsed_.Remove(series.unparsed);
  services_.erase(it);
}

prometheus::Counter& RequestMetrics::AddRequests(const prometheus::Labels& service,
                                                 prometheus::Labels labels) {
  std::lock_guard lock(series_mu_);
  prometheus::Counter& counter = requests_.Add(labels);
  auto& kept = services_.at(service).requests;
  if (std::find(kept.begin(), kept.end(), &counter) == kept.end())
    kept.push_back(&counter);
  return counter;
}

prometheus::Histogram& RequestMetrics::AddHistogram(
    const prometheus::Labels& service, prometheus::Family<prometheus::Histogram>& family,
    const prometheus::Labels& labels, const std::vector<double>& buckets) {
  std::lock_guard lock(series_mu_);
  prometheus::Histogram& histogram =
      family.Add(labels, prometheus::Histogram::BucketBoundaries(buckets.begin(), buckets.end()));
  auto& kept =
      &family == &durations_ ? services_.at(service).durations : services_.at(service).sizes;
  if (std::find(kept.begin(), kept.end(), &histogram) == kept.end())
    kept.push_back(&histogram);
  return histogram;
}

}  // namespace swarmwatch
