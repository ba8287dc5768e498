#include "agent/daemon/status_sampler.h"

namespace swarmwatch {

StatusSampler::StatusSampler(std::shared_ptr<StatusHistory> history, StatusSamplerSources sources,
                             std::chrono::milliseconds interval)
    : history_(std::move(history)), sources_(std::move(sources)), interval_(interval) {}

StatusSampler::~StatusSampler() {
  Stop();
}

void StatusSampler::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      SampleOnce();
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return stopping_; });
    }
  });
}

void StatusSampler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void StatusSampler::SampleOnce() {
  const double now = sources_.now();
  const double interval = std::chrono::duration<double>(interval_).count();
  // Scrapes record the containers as they read them; read only when they have not lately.
  if (now - history_->last_container_time() >= interval)
    sources_.read_containers();
  for (const auto& [service, total] : sources_.request_totals())
    history_->RecordRequests(service, now, total);
  history_->Retain(sources_.container_ids());
}

}  // namespace swarmwatch
