// A LogPushTarget that keeps what it was sent and answers as scripted, for shipper tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shippers/log_shipper.h"

namespace swarmwatch {

struct ReceivedEntry {
  std::string labels;
  std::int64_t time_ns;
  std::string line;
  std::vector<std::pair<std::string, std::string>> metadata;
};

class FakeLogPushTarget : public LogPushTarget {
 public:
  // The next answers, in order; once used up, every push is accepted.
  void Script(std::vector<PushResult::Kind> answers) {
    std::lock_guard lock(mu_);
    script_.assign(answers.begin(), answers.end());
  }
  // The body of the next scripted kDrop answer (a Loki 400 naming what it refused).
  void ScriptAnswer(std::string answer) {
    std::lock_guard lock(mu_);
    answer_ = std::move(answer);
  }
  // While held, pushes fail with kRetry (as a Loki that is down).
  void SetDown(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }

  // Pushes whose entries `refuse` picks are answered 429 (a Loki rate limit) until it is reset;
  // `refuse` is called with the push's body (the same for every retry of a batch) and entries.
  void SetRefuse(
      std::function<bool(const std::string&, const std::vector<ReceivedEntry>&)> refuse) {
    std::lock_guard lock(mu_);
    refuse_ = std::move(refuse);
  }

  // The "body" names a copy of the streams kept here, so Push sees what Encode was given.
  std::string Encode(std::span<const LokiStream> streams) override {
    std::lock_guard lock(mu_);
    std::vector<ReceivedEntry>& copy = encoded_[std::to_string(encoded_.size())];
    for (const LokiStream& stream : streams) {
      for (const LokiEntry& entry : stream.entries) {
        ReceivedEntry& out = copy.emplace_back();
        out.labels = stream.labels;
        out.time_ns = entry.time_ns;
        out.line = std::string(entry.line);
        for (const LokiLabel& m : entry.metadata) {
          out.metadata.emplace_back(std::string(m.name), std::string(m.value));
        }
      }
    }
    return std::to_string(encoded_.size() - 1);
  }

  PushResult Push(const std::string& body) override {
    std::lock_guard lock(mu_);
    ++pushes_;
    PushResult::Kind kind = PushResult::Kind::kOk;
    if (down_) {
      kind = PushResult::Kind::kRetry;
    } else if (!script_.empty()) {
      kind = script_.front();
      script_.pop_front();
    } else if (refuse_ && refuse_(body, encoded_.at(body))) {
      ++refused_;
      return PushResult{PushResult::Kind::kRetry, 429, "scripted 429", {}, ""};
    }
    if (kind != PushResult::Kind::kOk) {
      return PushResult{kind,
                        kind == PushResult::Kind::kDrop ? 400 : 500,
                        "scripted",
                        {},
                        kind == PushResult::Kind::kDrop ? std::exchange(answer_, "") : ""};
    }
    const auto& batch = encoded_.at(body);
    entries_.insert(entries_.end(), batch.begin(), batch.end());
    cv_.notify_all();
    return PushResult{PushResult::Kind::kOk, 204, "", {}, ""};
  }

  std::vector<ReceivedEntry> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }
  int pushes() const {
    std::lock_guard lock(mu_);
    return pushes_;
  }
  int refused() const {
    std::lock_guard lock(mu_);
    return refused_;
  }
  // Waits until at least `count` entries arrived (or the timeout passed).
  bool WaitForEntries(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return entries_.size() >= count; });
  }

 private:
  mutable std::mutex mu_;
  std::string answer_;
  std::condition_variable cv_;
  std::deque<PushResult::Kind> script_;
  bool down_ = false;
  int pushes_ = 0;
  int refused_ = 0;
  std::function<bool(const std::string&, const std::vector<ReceivedEntry>&)> refuse_;
  std::vector<ReceivedEntry> entries_;
  std::map<std::string, std::vector<ReceivedEntry>> encoded_;
};

}  // namespace swarmwatch
