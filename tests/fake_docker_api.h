// A scripted DockerApi for tests: containers and engine state set by the test, events pushed into
// the open stream, failures on demand. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "agent/docker_api.h"

namespace swarmwatch::testing {

class FakeDockerApi : public DockerApi {
 public:
  FakeDockerApi() { info_.cgroup_driver = "cgroupfs"; }

  // A down engine fails every call and ends open streams with an error.
  void SetEngineUp(bool up) {
    const std::lock_guard lock(mu_);
    up_ = up;
    cv_.notify_all();
  }
  void SetInfo(EngineInfo info) {
    const std::lock_guard lock(mu_);
    info_ = std::move(info);
  }
  // Adds or replaces a container; no event is sent.
  void Put(ContainerInfo c) {
    const std::lock_guard lock(mu_);
    containers_[c.id] = std::move(c);
  }
  void Remove(const std::string& id) {
    const std::lock_guard lock(mu_);
    containers_.erase(id);
  }
  // Delivered to the open stream, or to the next one.
  void Push(DockerEvent e) {
    const std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }
  void Push(std::string action, std::string id) {
    DockerEvent e;
    e.type = "container";
    e.action = std::move(action);
    e.id = std::move(id);
    Push(std::move(e));
  }
  // Ends the open stream with an error (as when the engine restarts).
  void DropStream() {
    const std::lock_guard lock(mu_);
    ++drops_;
    cv_.notify_all();
  }
  // What ReadSwarmState answers (it counts its calls).
  void SetSwarm(Result<SwarmState> swarm) {
    const std::lock_guard lock(mu_);
    swarm_ = std::move(swarm);
  }
  int swarm_reads() const {
    const std::lock_guard lock(mu_);
    return swarm_reads_;
  }
  Result<SwarmState> ReadSwarmState() override {
    const std::lock_guard lock(mu_);
    ++swarm_reads_;
    return swarm_;
  }
  void FailInspect(bool fail) {
    const std::lock_guard lock(mu_);
    fail_inspect_ = fail;
  }

  int streams_opened() const {
    const std::lock_guard lock(mu_);
    return streams_opened_;
  }
  bool streaming() const {
    const std::lock_guard lock(mu_);
    return streaming_;
  }
  std::int64_t last_since() const {
    const std::lock_guard lock(mu_);
    return last_since_;
  }
  // True once every pushed event has been handed to a stream's callback and it returned.
  bool drained() const {
    const std::lock_guard lock(mu_);
    return events_.empty() && !delivering_;
  }

  Result<EngineInfo> Info() override {
    const std::lock_guard lock(mu_);
    if (!up_) {
      return Error{"engine down"};
    }
    return info_;
  }
  Result<std::vector<std::string>> ListContainerIds() override {
    const std::lock_guard lock(mu_);
    if (!up_) {
      return Error{"engine down"};
    }
    std::vector<std::string> ids;
    for (const auto& [id, c] : containers_) {
      ids.push_back(id);
    }
    return ids;
  }
  Result<ContainerInfo> InspectContainer(const std::string& id) override {
    const std::lock_guard lock(mu_);
    if (!up_ || fail_inspect_) {
      return Error{"engine down"};
    }
    auto it = containers_.find(id);
    if (it == containers_.end()) {
      return Error{"HTTP 404: No such container: " + id};
    }
    return it->second;
  }
  Status StreamEvents(std::int64_t since_unix,
                      const std::function<void(const DockerEvent&)>& on_event,
                      const std::atomic<bool>& stop) override {
    std::unique_lock lock(mu_);
    if (!up_) {
      return Error{"engine down"};
    }
    ++streams_opened_;
    last_since_ = since_unix;
    streaming_ = true;
    const int drops_at_start = drops_;
    while (true) {
      if (stop.load()) {
        streaming_ = false;
        return {};
      }
      if (!up_ || drops_ != drops_at_start) {
        streaming_ = false;
        return Error{"stream dropped"};
      }
      if (!events_.empty()) {
        DockerEvent e = std::move(events_.front());
        events_.pop_front();
        delivering_ = true;
        lock.unlock();
        on_event(e);
        lock.lock();
        delivering_ = false;
        continue;
      }
      // `stop` has no notification: poll it, as curl's progress callback does.
      cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool up_ = true;
  bool fail_inspect_ = false;
  Result<SwarmState> swarm_ = Error{"not a swarm manager"};
  int swarm_reads_ = 0;
  EngineInfo info_;
  std::map<std::string, ContainerInfo> containers_;
  std::deque<DockerEvent> events_;
  int drops_ = 0;
  int streams_opened_ = 0;
  bool streaming_ = false;
  bool delivering_ = false;
  std::int64_t last_since_ = 0;
};

// Polls `pred` until true or the timeout passes.
template <class Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace swarmwatch::testing
