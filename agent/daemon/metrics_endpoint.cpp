#include "agent/daemon/metrics_endpoint.h"

#include <prometheus/metric_family.h>

#include <chrono>
#include <string>

#include "exporters/text_format.h"

namespace swarmwatch {

MetricsEndpoint::MetricsEndpoint(std::vector<std::shared_ptr<prometheus::Collectable>> sources,
                                 SelfMetrics& self)
    : sources_(std::move(sources)), self_(self) {}

HttpResponse MetricsEndpoint::Serve() const {
  const auto start = std::chrono::steady_clock::now();
  std::string text;
  text.reserve(last_size_.load(std::memory_order_relaxed) + 4096);
  for (const auto& source : sources_) {
    // The container collector writes its text itself: no object per sample on a busy node.
    if (const auto* fast = dynamic_cast<const TextExposable*>(source.get())) {
      fast->WriteText(text);
    } else {
      WriteTextExposition(source->Collect(), text);
    }
  }
  last_size_.store(text.size(), std::memory_order_relaxed);
  self_.ObserveScrape(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), true};
}

}  // namespace swarmwatch
