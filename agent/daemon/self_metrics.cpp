#include "agent/daemon/self_metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>

#include <string>

#include "agent/build_info.h"

namespace swarmwatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}

void AddSample(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric& metric = family.metric.emplace_back();
  metric.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
}

}  // namespace

SelfMetrics::SelfMetrics(std::shared_ptr<const ContainerCatalog> catalog)
    : catalog_(std::move(catalog)),
      registry_(std::make_shared<prometheus::Registry>()),
      scrape_duration_(prometheus::BuildHistogram()
                           .Name("swarmwatch_scrape_duration_seconds")
                           .Help("Time spent collecting and encoding one /metrics answer")
                           .Register(*registry_)
                           .Add({}, prometheus::Histogram::BucketBoundaries{
                                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})) {
  prometheus::BuildGauge()
      .Name("swarmwatch_build_info")
      .Help("Always 1; the labels tell which agent build runs")
      .Register(*registry_)
      .Add({{"version", std::string(Version())}})
      .Set(1);
}

void SelfMetrics::CountError(std::string_view source) {
  (source == "cgroup" ? cgroup_errors_ : proc_errors_).fetch_add(1, std::memory_order_relaxed);
}

void SelfMetrics::CountVanishedContainer() {
  vanished_.fetch_add(1, std::memory_order_relaxed);
}

void SelfMetrics::ObserveScrape(double seconds) {
  scrape_duration_.Observe(seconds);
}

std::vector<MetricFamily> SelfMetrics::Collect() const {
  std::vector<MetricFamily> families = registry_->Collect();
  const ContainerCatalog::Counters counters = catalog_->counters();

  MetricFamily errors = Family("swarmwatch_source_errors_total", "Failed reads or calls, by source",
                               MetricType::Counter);
  AddSample(errors, static_cast<double>(counters.docker_api_errors), {{"source", "docker"}});
  AddSample(errors, static_cast<double>(cgroup_errors_.load()), {{"source", "cgroup"}});
  AddSample(errors, static_cast<double>(proc_errors_.load()), {{"source", "proc"}});
  families.push_back(std::move(errors));

  MetricFamily vanished =
      Family("swarmwatch_containers_vanished_total",
             "Containers skipped in a scrape because their cgroup went away", MetricType::Counter);
  AddSample(vanished, static_cast<double>(vanished_.load()));
  families.push_back(std::move(vanished));

  MetricFamily ready =
      Family("swarmwatch_catalog_ready",
             "1 while the container catalog is synced with the Docker engine", MetricType::Gauge);
  AddSample(ready, catalog_->Ready() ? 1 : 0);
  families.push_back(std::move(ready));

  std::uint64_t running = 0;
  std::uint64_t stopped = 0;
  for (const auto& [id, container] : *catalog_->Snapshot()) {
    (container.running ? running : stopped) += 1;
  }
  MetricFamily containers = Family("swarmwatch_catalog_containers",
                                   "Containers the engine lists, by state", MetricType::Gauge);
  AddSample(containers, static_cast<double>(running), {{"state", "running"}});
  AddSample(containers, static_cast<double>(stopped), {{"state", "stopped"}});
  families.push_back(std::move(containers));

  MetricFamily resyncs = Family("swarmwatch_docker_resyncs_total",
                                "Full container list syncs with the engine (start and reconnects)",
                                MetricType::Counter);
  AddSample(resyncs, static_cast<double>(counters.resyncs));
  families.push_back(std::move(resyncs));

  MetricFamily failures =
      Family("swarmwatch_docker_event_stream_failures_total",
             "Times the engine's /events stream broke and was reconnected", MetricType::Counter);
  AddSample(failures, static_cast<double>(counters.event_stream_failures));
  families.push_back(std::move(failures));

  MetricFamily events = Family("swarmwatch_docker_events_total",
                               "Container events received from the engine", MetricType::Counter);
  AddSample(events, static_cast<double>(counters.events_handled));
  families.push_back(std::move(events));
  return families;
}

}  // namespace swarmwatch
