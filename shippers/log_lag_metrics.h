// swarmwatch_log_lag_bytes{container}: rendered at scrape time from each followed container's lag
// under its current name, so that a renamed container or a name reused by another one (Compose and
// `docker rename` do both) can leave neither a stale series nor a shared metric behind.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace swarmwatch {

class LogLagMetrics : public prometheus::Collectable {
 public:
  // The lag of container `id`, now named `name`.
  void Set(const std::string& id, const std::string& name, std::uint64_t lag);
  void Rename(const std::string& id, const std::string& name);
  void Forget(const std::string& id);
  // Per container id, for the status page.
  std::map<std::string, std::uint64_t> ById() const;
  // One series per name: two containers of one name at once (a rename not yet seen) are summed.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Entry {
    std::string name;
    std::uint64_t lag = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_id_;
};

}  // namespace swarmwatch
