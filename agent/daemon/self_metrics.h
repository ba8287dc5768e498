// The agent's own metrics (swarmwatch_*): which build runs, what a scrape costs, whether the
// catalog follows the engine, and what goes wrong, per source.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "agent/container_catalog.h"

namespace swarmwatch {

class SelfMetrics : public prometheus::Collectable {
 public:
  explicit SelfMetrics(std::shared_ptr<const ContainerCatalog> catalog);

  // A failed read, by source: "cgroup" or "proc" (Docker's errors come from the catalog).
  void CountError(std::string_view source);
  void CountVanishedContainer();
  void ObserveScrape(double seconds);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<const ContainerCatalog> catalog_;
  std::shared_ptr<prometheus::Registry> registry_;  // build info and the scrape histogram
  prometheus::Histogram& scrape_duration_;
  std::atomic<std::uint64_t> cgroup_errors_{0};
  std::atomic<std::uint64_t> proc_errors_{0};
  std::atomic<std::uint64_t> vanished_{0};
};

}  // namespace swarmwatch
