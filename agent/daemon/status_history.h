// A few minutes of each container's CPU and memory, and of each web service's request count, kept
// by the agent itself so that its status page can draw trends without Prometheus.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace swarmwatch {

class StatusHistory {
 public:
  struct ContainerPoint {
    double time = 0;          // unix seconds
    double cpu_seconds = 0;   // cumulative
    double memory_bytes = 0;  // working set
  };
  struct ContainerSeries {
    std::vector<ContainerPoint> points;  // oldest first
    std::optional<double> memory_limit_bytes;
    // CPU cores used between each point and the one before (one fewer than points).
    std::vector<double> CpuCores() const;
  };
  struct CountPoint {
    double time = 0;
    double total = 0;
  };

  // Keeps `capacity` points per series, at least `spacing` seconds apart (a point arriving sooner
  // replaces nothing and is dropped: scrapes from several Prometheus servers do not crowd out the
  // history). A point older than the last one (the clock was set back) starts its series again.
  StatusHistory(std::size_t capacity = 30, double spacing = 9);

  void RecordContainer(const std::string& id, double time, std::optional<double> cpu_seconds,
                       std::optional<double> memory_bytes, std::optional<double> memory_limit);
  void RecordRequests(const std::string& service, double time, double total);
  // Forgets containers not in `ids`.
  void Retain(const std::vector<std::string>& ids);

  std::optional<ContainerSeries> Container(const std::string& id) const;
  // Requests per second over the last interval recorded, per service.
  std::map<std::string, double> RequestRates() const;
  // The time of the last container point recorded (0: never).
  double last_container_time() const;

 private:
  const std::size_t capacity_;
  const double spacing_;
  mutable std::mutex mu_;
  std::map<std::string, ContainerSeries> containers_;
  std::map<std::string, std::deque<CountPoint>> requests_;
  double last_container_time_ = 0;
};

}  // namespace swarmwatch
