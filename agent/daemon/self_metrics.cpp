#include "agent/daemon/self_metrics.h"

#include <prometheus/gauge.h>

#include <string>

#include "agent/build_info.h"

namespace swarmwatch {

SelfMetrics::SelfMetrics(prometheus::Registry& registry)
    : errors_(prometheus::BuildCounter()
                  .Name("swarmwatch_source_errors_total")
                  .Help("Failed reads or calls, by source (docker, cgroup, proc)")
                  .Register(registry)),
      scrape_duration_(
          prometheus::BuildHistogram()
              .Name("swarmwatch_scrape_duration_seconds")
              .Help("Time spent collecting and encoding one /metrics answer")
              .Register(registry)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                               0.05, 0.1, 0.25, 1})),
      vanished_containers_(
          prometheus::BuildCounter()
              .Name("swarmwatch_containers_vanished_total")
              .Help("Containers skipped in a scrape because their cgroup went away")
              .Register(registry)
              .Add({})) {
  prometheus::BuildGauge()
      .Name("swarmwatch_build_info")
      .Help("Always 1; the labels tell which agent build runs")
      .Register(registry)
      .Add({{"version", std::string(Version())}})
      .Set(1);
  for (const char* source : {"docker", "cgroup", "proc"}) {
    errors_.Add({{"source", source}});
  }
}

void SelfMetrics::CountError(std::string_view source) {
  errors_.Add({{"source", std::string(source)}}).Increment();
}

void SelfMetrics::ObserveScrape(double seconds) {
  scrape_duration_.Observe(seconds);
}

void SelfMetrics::CountVanishedContainer() {
  vanished_containers_.Increment();
}

}  // namespace swarmwatch
