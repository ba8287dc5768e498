#include "agent/daemon/status_sampler.h"

namespace swarmwatch {

StatusSampler::StatusSampler(std::shared_ptr<StatusHistory> history, StatusSamplerSources sources,
                             std::chrono::milliseconds interval)
    : history_(std::move(history)), sources_(std::move(sources)), interval_(interval) {}

void StatusSampler::AfterScrape() {
  RecordRequests(sources_.now());
}

void StatusSampler::BeforePageView() {
  const double now = sources_.now();
  const double since = now - history_->last_container_time();
  if (since >= std::chrono::duration<double>(interval_).count() || since < 0)  // < 0: set back
    sources_.read_containers();
  RecordRequests(now);
  history_->Retain(sources_.container_ids());
}

void StatusSampler::RecordRequests(double now) {
  for (const auto& [service, total] : sources_.request_totals())
    history_->RecordRequests(service, now, total);
}

}  // namespace swarmwatch
