// /metrics: collects every Collectable at request time and encodes the text exposition format.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/daemon/http_server.h"
#include "agent/daemon/self_metrics.h"

namespace swarmwatch {

class MetricsEndpoint {
 public:
  MetricsEndpoint(std::vector<std::shared_ptr<prometheus::Collectable>> sources, SelfMetrics& self);

  HttpResponse Serve() const;

 private:
  std::vector<std::shared_ptr<prometheus::Collectable>> sources_;
  SelfMetrics& self_;
  mutable std::atomic<std::size_t> last_size_{0};  // reserve the answer in one allocation
  // Answers' buffers, given back once sent: a scrape writes into memory the last one used rather
  // than fresh pages the kernel must fault in and zero (about a tenth of a scrape's CPU).
  mutable std::mutex spare_mu_;
  mutable std::vector<std::string> spares_;
};

}  // namespace swarmwatch
