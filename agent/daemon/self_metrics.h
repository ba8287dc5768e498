// The agent's own metrics (swarmwatch_*): what it costs and what goes wrong, per source.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string_view>

namespace swarmwatch {

class SelfMetrics {
 public:
  explicit SelfMetrics(prometheus::Registry& registry);

  // A failed read or call, by source ("docker", "cgroup", "proc", ...).
  void CountError(std::string_view source);
  void ObserveScrape(double seconds);
  void CountVanishedContainer();

 private:
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Histogram& scrape_duration_;
  prometheus::Counter& vanished_containers_;
};

}  // namespace swarmwatch
