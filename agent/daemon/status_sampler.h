// Keeps the status page's history filled: every interval it records the web services' request
// totals, and when no scrape has recorded the containers' figures lately (no Prometheus, or a
// slow one) it reads them itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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
  StatusSampler(std::shared_ptr<StatusHistory> history, StatusSamplerSources sources,
                std::chrono::milliseconds interval);
  ~StatusSampler();  // Stop()s
  void Start();
  void Stop();
  // One round, as the thread does it (public for tests).
  void SampleOnce();

 private:
  std::shared_ptr<StatusHistory> history_;
  StatusSamplerSources sources_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace swarmwatch
