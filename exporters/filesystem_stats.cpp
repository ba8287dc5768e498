#include "exporters/filesystem_stats.h"

#include <cerrno>
#include <condition_variable>
#include <set>
#include <thread>
#include <utility>

namespace swarmwatch {

using Clock = std::chrono::steady_clock;

// What the scrape and every worker, abandoned or not, share. Held by shared_ptr: an abandoned
// worker may outlive the FilesystemStats that started it.
struct FilesystemStats::Shared {
  explicit Shared(StatfsFunction f) : statfs(std::move(f)) {}
  const StatfsFunction statfs;
  mutable std::mutex mu;
  std::condition_variable batch_done;
  std::set<std::string, std::less<>> stuck;  // mounts whose statfs has not returned
  std::size_t live_threads = 0;
};

// One worker thread and the batch it works on; every field is guarded by Shared::mu.
struct FilesystemStats::Worker {
  std::vector<std::string> paths;
  std::vector<StatfsOutcome> results;
  std::size_t next = 0;       // the path being stat'ed; paths.size() once the batch is done
  Clock::time_point started;  // when the statfs of paths[next] began (or the batch was given)
  bool busy = false;          // a batch is given and not done
  bool abandoned = false;
  bool quit = false;
  std::condition_variable work;
  std::thread thread;
};

namespace {

StatfsOutcome Outcome(int error, const struct statfs& buf) {
  StatfsOutcome outcome;
  if (error != 0) {
    outcome.state = StatfsOutcome::State::kFailed;
    outcome.error = error;
    return outcome;
  }
  outcome.state = StatfsOutcome::State::kOk;
  const auto block = static_cast<double>(buf.f_bsize);
  outcome.usage.size_bytes = static_cast<double>(buf.f_blocks) * block;
  outcome.usage.free_bytes = static_cast<double>(buf.f_bfree) * block;
  outcome.usage.avail_bytes = static_cast<double>(buf.f_bavail) * block;
  outcome.usage.files = static_cast<double>(buf.f_files);
  outcome.usage.files_free = static_cast<double>(buf.f_ffree);
  return outcome;
}

StatfsOutcome Stuck() {
  StatfsOutcome outcome;
  outcome.state = StatfsOutcome::State::kStuck;
  return outcome;
}

void RunWorker(const std::shared_ptr<FilesystemStats::Shared>& shared,
               const std::shared_ptr<FilesystemStats::Worker>& worker) {
  std::unique_lock lock(shared->mu);
  while (true) {
    worker->work.wait(lock, [&] { return worker->busy || worker->quit; });
    if (worker->quit)
      break;
    while (worker->next < worker->paths.size()) {
      const std::string path = worker->paths[worker->next];
      worker->started = Clock::now();
      lock.unlock();
      struct statfs buf {};
      const int error = shared->statfs(path, buf);
      lock.lock();
      if (worker->abandoned) {
        // The scrape gave up on this call and marked the mount stuck: it may be asked again.
        shared->stuck.erase(path);
        --shared->live_threads;
        return;
      }
      worker->results[worker->next] = Outcome(error, buf);
      ++worker->next;
    }
    worker->busy = false;
    shared->batch_done.notify_all();
  }
  --shared->live_threads;
}

}  // namespace

int SystemStatfs(const std::string& path, struct statfs& out) {
  while (::statfs(path.c_str(), &out) != 0) {
    if (errno != EINTR)
      return errno;
  }
  return 0;
}

FilesystemStats::FilesystemStats(std::chrono::milliseconds timeout, StatfsFunction statfs)
    : timeout_(timeout), shared_(std::make_shared<Shared>(std::move(statfs))) {}

FilesystemStats::~FilesystemStats() {
  std::shared_ptr<Worker> worker;
  {
    std::lock_guard lock(shared_->mu);
    worker = std::move(worker_);
    if (worker) {
      worker->quit = true;
      worker->work.notify_all();
    }
  }
  // Idle: Stat() returns only once its batch is done or its worker abandoned.
  if (worker)
    worker->thread.join();
}

std::vector<StatfsOutcome> FilesystemStats::Stat(const std::vector<std::string>& paths) {
  std::lock_guard stat_lock(stat_mu_);
  std::vector<StatfsOutcome> results(paths.size());
  std::unique_lock lock(shared_->mu);
  // The indices still to ask, in order.
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (shared_->stuck.contains(paths[i]))
      results[i] = Stuck();
    else
      pending.push_back(i);
  }
  while (!pending.empty()) {
    if (!worker_) {
      worker_ = std::make_shared<Worker>();
      ++shared_->live_threads;
      worker_->thread = std::thread(RunWorker, shared_, worker_);
    }
    Worker& worker = *worker_;
    worker.paths.clear();
    for (const std::size_t i : pending)
      worker.paths.push_back(paths[i]);
    worker.results.assign(pending.size(), StatfsOutcome{});
    worker.next = 0;
    worker.started = Clock::now();
    worker.busy = true;
    worker.work.notify_one();
    while (worker.busy && Clock::now() - worker.started < timeout_)
      shared_->batch_done.wait_until(lock, worker.started + timeout_);
    for (std::size_t k = 0; k < worker.next; ++k)
      results[pending[k]] = worker.results[k];
    if (!worker.busy) {
      pending.clear();
      break;
    }
    // paths[next] has not answered within the timeout: give its thread up, and the rest of the
    // batch to a new one.
    const std::string& hung = worker.paths[worker.next];
    shared_->stuck.insert(hung);
    results[pending[worker.next]] = Stuck();
    std::vector<std::size_t> rest;
    for (std::size_t k = worker.next + 1; k < pending.size(); ++k) {
      // The same mount twice in a list: not asked again while one call hangs on it.
      if (shared_->stuck.contains(paths[pending[k]]))
        results[pending[k]] = Stuck();
      else
        rest.push_back(pending[k]);
    }
    worker.abandoned = true;
    worker.thread.detach();
    worker_.reset();
    pending = std::move(rest);
  }
  return results;
}

std::size_t FilesystemStats::stuck_mounts() const {
  std::lock_guard lock(shared_->mu);
  return shared_->stuck.size();
}

std::size_t FilesystemStats::live_threads() const {
  std::lock_guard lock(shared_->mu);
  return shared_->live_threads;
}

}  // namespace swarmwatch
