// A statfs for tests whose mounts answer at once, fail, or hang (block on a condition variable, as
// a call into a stopped FUSE daemon blocks in the kernel) until released. Each path gets figures
// of its own, so that a test can tell the mounts apart: blocks of 4096 bytes, 1000 + the path's
// length of them, and so on. Held by shared_ptr by the calls it answers: an abandoned thread may
// still be inside it after the test's FilesystemStats is gone. Thread-safe.
#pragma once

#include <sys/statfs.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "exporters/filesystem_stats.h"

namespace swarmwatch::testing {

class FakeStatfs {
 public:
  // What Call answers for `path` when it neither fails nor hangs.
  static struct statfs Figures(const std::string& path) {
    struct statfs out {};
    out.f_bsize = 4096;
    out.f_blocks = 1000 + path.size();
    out.f_bfree = 500 + path.size();
    out.f_bavail = 400 + path.size();
    out.f_files = 100 + path.size();
    out.f_ffree = 50 + path.size();
    return out;
  }

  void Hang(const std::string& path) {
    std::lock_guard lock(mu_);
    hung_.insert(path);
  }
  void Release(const std::string& path) {
    std::lock_guard lock(mu_);
    hung_.erase(path);
    changed_.notify_all();
  }
  void Fail(const std::string& path, int error) {
    std::lock_guard lock(mu_);
    errors_[path] = error;
  }
  // The paths asked, in order.
  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  long calls(const std::string& path) {
    std::lock_guard lock(mu_);
    return std::count(calls_.begin(), calls_.end(), path);
  }
  // Calls inside now (hanging ones included).
  int inside() {
    std::lock_guard lock(mu_);
    return inside_;
  }

  int Call(const std::string& path, struct statfs& out) {
    std::unique_lock lock(mu_);
    calls_.push_back(path);
    ++inside_;
    changed_.wait(lock, [&] { return !hung_.contains(path); });
    --inside_;
    if (auto it = errors_.find(path); it != errors_.end())
      return it->second;
    out = Figures(path);
    return 0;
  }

  static StatfsFunction Function(const std::shared_ptr<FakeStatfs>& fake) {
    return [fake](const std::string& path, struct statfs& out) { return fake->Call(path, out); };
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::string> hung_;
  std::map<std::string, int> errors_;
  std::vector<std::string> calls_;
  int inside_ = 0;
};

}  // namespace swarmwatch::testing
