// statfs(2) of the host's mounts off the scrape's thread, so that a hung mount (an NFS server gone,
// a FUSE daemon stopped) never hangs a scrape. node_exporter's rule: a mount whose statfs does not
// answer within the timeout is marked stuck, and is not asked again until that statfs returns.
//
// The rules:
// - One worker thread runs the statfs calls of a scrape one after the other; the scrape waits for
//   them. A statfs that has run for `timeout` is given up: its mount is marked stuck, its worker is
//   abandoned (detached: a statfs blocked in the kernel cannot be cancelled, and its thread cannot
//   be joined until it returns) and a new worker takes the mounts that remain. A hung mount thus
//   costs one scrape one timeout, and later scrapes nothing.
// - A stuck mount is reported as kStuck without a call, until its abandoned statfs returns: the
//   thread then unmarks it and ends. So there is at most one thread per stuck mount, plus the
//   worker.
// - At destruction the worker, idle between scrapes, is joined; abandoned threads keep what they
//   use alive themselves and end on their own (or with the process).
#pragma once

#include <sys/statfs.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace swarmwatch {

// What node_filesystem_* report of one mount, from its statfs: sizes in bytes of f_bsize blocks,
// as node_exporter computes them.
struct FilesystemUsage {
  double size_bytes = 0, free_bytes = 0, avail_bytes = 0, files = 0, files_free = 0;
};

struct StatfsOutcome {
  enum class State {
    kOk,
    kFailed,  // statfs answered an error (errno in `error`)
    kStuck,   // statfs did not answer within the timeout, now or at an earlier scrape
  };
  State state = State::kFailed;
  int error = 0;
  FilesystemUsage usage;
};

// statfs(path): 0, or the errno. Replaceable so tests can make a mount hang without FUSE.
using StatfsFunction = std::function<int(const std::string& path, struct statfs& out)>;
int SystemStatfs(const std::string& path, struct statfs& out);

class FilesystemStats {
 public:
  explicit FilesystemStats(std::chrono::milliseconds timeout, StatfsFunction statfs = SystemStatfs);
  ~FilesystemStats();
  FilesystemStats(const FilesystemStats&) = delete;
  FilesystemStats& operator=(const FilesystemStats&) = delete;

  // The outcome of statfs for each path, in order. Waits for the calls, each at most `timeout`.
  std::vector<StatfsOutcome> Stat(const std::vector<std::string>& paths);

  // Paths marked stuck now, and threads alive (the worker and those abandoned): for tests and
  // self-metrics.
  std::size_t stuck_mounts() const;
  std::size_t live_threads() const;

  struct Shared;
  struct Worker;

 private:
  std::chrono::milliseconds timeout_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Worker> worker_;  // guarded by shared_->mu; null until the first Stat
  std::mutex stat_mu_;              // one Stat at a time
};

}  // namespace swarmwatch
