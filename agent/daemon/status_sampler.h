// Keeps the status page's history filled without a thread of its own (the agent spends no CPU
// between scrapes): after each scrape and at each view of the page it records the web services'
// request totals, and when no scrape has recorded the containers' figures lately (no Prometheus,
// or a slow one) a page view reads them.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/daemon/status_history.h"

namespace swarmwatch {

struct StatusSamplerSources {
  std::function<void()> read_containers;  // a scrape of the container collector, output unused
  std::function<std::map<std::string, double>()> request_totals;  // by service
  std::function<std::vector<std::string>()> container_ids;        // those still known
  std::function<double()> now;                                    // unix seconds
};

class StatusSampler {
 public:
  // `interval`: how old the containers' last figures may be before a page view reads them.
  StatusSampler(std::shared_ptr<StatusHistory> history, StatusSamplerSources sources,
                std::chrono::milliseconds interval);

  // After a scrape: the containers were just read; records the request totals.
  void AfterScrape();
  // Before rendering the page: reads the containers if no scrape did lately, records the
  // request totals, forgets containers that are gone.
  void BeforePageView();

 private:
  void RecordRequests(double now);

  std::shared_ptr<StatusHistory> history_;
  StatusSamplerSources sources_;
  std::chrono::milliseconds interval_;
};

}  // namespace swarmwatch
