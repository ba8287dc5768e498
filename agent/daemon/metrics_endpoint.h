// /metrics: collects every Collectable at request time and encodes the text exposition format.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <cstddef>
#include <memory>
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
};

}  // namespace swarmwatch
