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
  {
    std::lock_guard lock(spare_mu_);
    if (!spares_.empty()) {
      text = std::move(spares_.back());
      spares_.pop_back();
    }
  }
  text.clear();
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
  HttpResponse response{200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), true};
  response.recycle = [this](std::string&& body) {
    std::lock_guard lock(spare_mu_);
    // Two Prometheus servers scraping at once need two; more would only hold memory.
    if (spares_.size() < 2)
      spares_.push_back(std::move(body));
  };
  return response;
}

}  // namespace swarmwatch
