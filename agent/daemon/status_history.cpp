#include "agent/daemon/status_history.h"

#include <set>

namespace swarmwatch {

namespace {

// Whether a point at `time` joins `points` (oldest first): not sooner than `spacing` after the
// last one. A time before the last (the clock was set back) starts the series again, rather than
// dropping points until the clock is past the last one.
template <class Points>
bool TakesPoint(Points& points, double time, double spacing) {
  if (!points.empty() && time < points.back().time)
    points.clear();
  return points.empty() || time - points.back().time >= spacing;
}

}  // namespace

StatusHistory::StatusHistory(std::size_t capacity, double spacing)
    : capacity_(capacity), spacing_(spacing) {}

std::vector<double> StatusHistory::ContainerSeries::CpuCores() const {
  std::vector<double> cores;
  for (std::size_t i = 1; i < points.size(); ++i) {
    const double seconds = points[i].time - points[i - 1].time;
    const double used = points[i].cpu_seconds - points[i - 1].cpu_seconds;
    // A restarted container's counter starts again from zero.
    cores.push_back(seconds > 0 && used >= 0 ? used / seconds : 0);
  }
  return cores;
}

void StatusHistory::RecordContainer(const std::string& id, double time,
                                    std::optional<double> cpu_seconds,
                                    std::optional<double> memory_bytes,
                                    std::optional<double> memory_limit) {
  std::lock_guard lock(mu_);
  ContainerSeries& series = containers_[id];
  series.memory_limit_bytes = memory_limit;
  if (!TakesPoint(series.points, time, spacing_))
    return;
  series.points.push_back({time, cpu_seconds.value_or(0), memory_bytes.value_or(0)});
  if (series.points.size() > capacity_)
    series.points.erase(series.points.begin());
  last_container_time_ = time;
}

void StatusHistory::RecordRequests(const std::string& service, double time, double total) {
  std::lock_guard lock(mu_);
  auto& points = requests_[service];
  if (!TakesPoint(points, time, spacing_))
    return;
  points.push_back({time, total});
  if (points.size() > capacity_)
    points.pop_front();
}

void StatusHistory::Retain(const std::vector<std::string>& ids) {
  const std::set<std::string> keep(ids.begin(), ids.end());
  std::lock_guard lock(mu_);
  std::erase_if(containers_, [&](const auto& entry) { return !keep.contains(entry.first); });
}

std::optional<StatusHistory::ContainerSeries> StatusHistory::Container(
    const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end())
    return std::nullopt;
  return it->second;
}

std::map<std::string, double> StatusHistory::RequestRates() const {
  std::lock_guard lock(mu_);
  std::map<std::string, double> rates;
  for (const auto& [service, points] : requests_) {
    if (points.size() < 2)
      continue;
    const CountPoint& last = points.back();
    const CountPoint& before = points[points.size() - 2];
    const double seconds = last.time - before.time;
    rates[service] =
        seconds > 0 && last.total >= before.total ? (last.total - before.total) / seconds : 0;
  }
  return rates;
}

double StatusHistory::last_container_time() const {
  std::lock_guard lock(mu_);
  return last_container_time_;
}

}  // namespace swarmwatch
