#include "shippers/log_lag_metrics.h"

namespace swarmwatch {

void LogLagMetrics::Set(const std::string& id, const std::string& name, std::uint64_t lag) {
  std::lock_guard lock(mu_);
  Entry& entry = by_id_[id];
  entry.name = name;
  entry.lag = lag;
}

void LogLagMetrics::Rename(const std::string& id, const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end())
    it->second.name = name;
}

void LogLagMetrics::Forget(const std::string& id) {
  std::lock_guard lock(mu_);
  by_id_.erase(id);
}

std::map<std::string, std::uint64_t> LogLagMetrics::ById() const {
  std::map<std::string, std::uint64_t> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, entry] : by_id_)
    out.emplace(id, entry.lag);
  return out;
}

std::vector<prometheus::MetricFamily> LogLagMetrics::Collect() const {
  std::map<std::string, double> by_name;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, entry] : by_id_)
      by_name[entry.name] += static_cast<double>(entry.lag);
  }
  prometheus::MetricFamily family;
  family.name = "swarmwatch_log_lag_bytes";
  family.help = "Bytes of a container's log not yet accepted by Loki";
  family.type = prometheus::MetricType::Gauge;
  family.metric.reserve(by_name.size());
  for (const auto& [name, lag] : by_name) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"container", name});
    metric.gauge.value = lag;
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

}  // namespace swarmwatch
