// Follows the json-file log of every container the catalog lists and ships the lines to Loki, at
// least once: a container's file position is committed (and saved) only after Loki accepted every
// line before it. Two threads: a reader (files -> decoded lines -> batches, bounded by the
// read-ahead budget) and a sender (batches -> Loki, retried with backoff, then commit).
//
// Fairness: a container that floods its log must not delay another's line. Batches go out in two
// lanes: the shared lane for the containers that write at a human pace, and the floods' lane for
// those that flood (whose read stopped at its slice with more to read, within the last
// kFloodMemory; found before their first read when more than a slice waits). Each lane has its
// queue and its own retry backoff; the sender takes one batch from each ready lane in turn (round
// robin), so a quiet line waits for at most the push in progress, and Loki's 429 to the floods
// (its rate limits) holds back only them. The reader takes a slice of each container in turn, so
// floods share their lane by bytes. The floods' lane may hold at most three quarters of the
// read-ahead, so the shared lane always has room. A container's batches may thus be accepted out
// of order (Loki takes a stream's entries out of order): its position commits only up to the
// first batch not yet answered. (A lane per flood cost ten floods 17% more CPU and memory, for a
// fairness among floods nobody asked of a 429.)
//
// The reader also hands every line to the LogLineConsumers that ask for a container (request
// metrics). Without a push target (no Loki) it follows only those containers, and so it does for a
// container that opted out of shipping: their positions commit as soon as the lines are read.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "agent/container_info.h"
#include "agent/log_line_consumer.h"
#include "shippers/file_watcher.h"
#include "shippers/log_file_follower.h"
#include "shippers/log_lag_metrics.h"
#include "shippers/loki_batch.h"
#include "shippers/loki_client.h"

namespace swarmwatch {

// Where the batches go: LokiClient in the agent, something else in tests. Encode runs on the
// reader thread as a batch closes (so encoding overlaps the push before it, and a waiting batch
// holds its compressed body rather than its lines); Push runs on the sender thread, again for
// each retry of the same body.
class LogPushTarget {
 public:
  virtual ~LogPushTarget() = default;
  virtual std::string Encode(std::span<const LokiStream> streams) = 0;
  virtual PushResult Push(const std::string& body) = 0;
};

// LogPushTarget over a LokiClient: encodes in the client's format and posts.
class LokiPushTarget : public LogPushTarget {
 public:
  explicit LokiPushTarget(LokiClientOptions options) : client_(std::move(options)) {}
  std::string Encode(std::span<const LokiStream> streams) override {
    return client_.Encode(streams);
  }
  PushResult Push(const std::string& body) override { return client_.Push(body); }

 private:
  LokiClient client_;
};

struct LogShipperOptions {
  std::string docker_root = "/var/lib/docker";  // where the agent sees the engine's data root
  std::string positions_file;
  // The node label; asked when a container is first followed (the engine may answer only later).
  std::function<std::string()> node_name = [] { return std::string(); };
  std::string job = "docker";
  std::vector<std::pair<std::string, std::string>> static_labels;
  std::size_t batch_bytes = 1 << 20;
  std::chrono::milliseconds batch_wait{1000};
  std::size_t read_ahead_bytes = 16 << 20;
  // Unread bytes of rotated or deleted log files held open through an outage, all containers
  // together; over it the oldest held file is given up (see held_logs_budget.h).
  std::uint64_t held_logs_bytes = std::uint64_t{1} << 30;
  std::size_t max_line_bytes = 256 << 10;
  StartAt start = StartAt::kBeginning;
  int max_attempts = 0;  // 0: retry forever
  BackoffOptions backoff;
  std::chrono::milliseconds poll_interval{1000};  // safety net beside inotify
  std::vector<std::shared_ptr<LogLineConsumer>> consumers;
};

class LogShipper {
 public:
  // `target` may be null: nothing is shipped, only the consumers are fed.
  LogShipper(std::function<ContainerSnapshot()> containers, std::unique_ptr<LogPushTarget> target,
             LogShipperOptions options);
  ~LogShipper();  // Stop()s
  LogShipper(const LogShipper&) = delete;
  LogShipper& operator=(const LogShipper&) = delete;

  void Start();
  // Stops reading, lets the sender finish the batch in flight (bounded by the push timeout), saves
  // the positions. Idempotent.
  void Stop();

  // Tells the reader that the catalog changed, so a new container is followed at once rather than
  // at the next poll (a container that floods its log rotates files away within a second).
  void ContainersChanged();
  // Tells the reader of one container the catalog added, changed or removed, and wakes it: a
  // container that came and went between two looks at the catalog's snapshot is still followed
  // (its log read to the end) under the name and labels it had.
  void Announce(const ContainerInfo& container);

  // swarmwatch_loki_* and swarmwatch_log_* metrics.
  std::shared_ptr<prometheus::Collectable> metrics() const { return metrics_; }

  // For the status page: the last push error ("" when the last push succeeded).
  std::string last_error() const;

  // For /ready and the status page: why the last save of the positions file failed ("" when it
  // worked, or nothing was saved yet).
  std::string positions_save_error() const;

  // Per followed container id: bytes of its log not yet accepted by Loki (unread or in flight),
  // as of its last read.
  std::map<std::string, std::uint64_t> Lags() const;

  // For the status page: unread bytes of rotated or deleted files held open, as of the last look.
  std::uint64_t held_bytes() const { return held_bytes_.load(std::memory_order_relaxed); }

  // The positions committed so far (what the positions file holds after the next save).
  std::map<std::string, FilePosition> committed() const;

  // Whether a container's logs are shipped: json-file and not opted out with the label
  // swarmwatch.logs=false.
  static bool Ships(const ContainerInfo& container);

 private:
  struct Followed;
  struct Lane;
  void ReadLoop();
  void SendLoop();
  // Follows new containers (marking them dirty), notes which are gone from the catalog, and
  // relabels renamed ones. `announced`: containers the catalog reported since the last call, which
  // may be gone from `containers` already.
  void Reconcile(const ContainerMap& containers, const ContainerMap& announced,
                 std::set<std::string, std::less<>>& dirty);
  // Starts following `container` (in the catalog's snapshot or not).
  void Follow(const ContainerInfo& container, bool in_catalog,
              std::set<std::string, std::less<>>& dirty);
  // The labels, stream identities and consumers' sinks of `followed`, from `container`.
  void Label(Followed& followed, const ContainerInfo& container);
  // Log files opened the moment they are created, before the catalog tells whose they are.
  void NoticeNewDirectory(const std::string& name);
  void OpenEarly(const std::string& id);
  void ExpireEarly();
  // Reads from one container within the budget: whether it read everything there was, stopped at
  // its slice with more to read, or could not read for the read-ahead budget.
  enum class ReadState : std::uint8_t { kDone, kMore, kBlocked };
  ReadState ReadContainer(Followed& followed);
  void Emit(Followed& followed, LogStream stream, std::int64_t time_ns, std::string_view line,
            bool truncated);
  // Where the lines read so far from a container become safe to resume after: its batch, or at
  // once for a container that is not shipped.
  void MarkRead(Followed& followed);
  // Seals the open batch of each lane once it is due (or at once when `force`), for the sender.
  void CloseBatchIfDue(bool force);
  void CloseLaneBatch(Lane& lane);
  // Moves a container between the shared lane and the floods' lane as it starts or stops
  // flooding; `flooding`: its last read stopped at its slice with more to read.
  void PlaceInLane(Followed& followed, bool flooding);
  std::shared_ptr<Lane> SharedLane() const { return lanes_.at("shared"); }
  std::shared_ptr<Lane> FloodLane() const { return lanes_.at("floods"); }
  // The sender's next batch: the next lane in turn whose backoff is over. Caller holds mu_.
  std::shared_ptr<Lane> NextReadyLaneLocked(std::chrono::steady_clock::time_point now);
  // When the first lane waiting out a backoff may push again. Caller holds mu_.
  std::optional<std::chrono::steady_clock::time_point> NextRetryLocked() const;
  // Bytes the floods' lane may hold.
  std::size_t FloodLaneBytes() const;
  // After Loki answered (or the batch was dropped): commits each container up to its first
  // batch not yet answered.
  void FinishBatchLocked(const LokiBatch& batch);
  void UpdateLag(Followed& followed);
  // Counts a batch's lines Loki accepted, by container.
  void CountSentByContainer(const LokiBatch& batch);
  // Removed before it ever had a log file (created, never started): nothing will come.
  bool NeverHadALog(const Followed& followed) const;
  // Adds the follower's newly counted losses to swarmwatch_log_rotated_away_total.
  void CountLosses(Followed& followed);
  // Keeps the held rotated files within held_logs_bytes (oldest given up first) and counts it.
  void ReleaseOverHeldBudget();
  // Counts a batch Loki answered 4xx to: what it refused as dropped (by reason), the rest as sent.
  void CountRefused(const LokiBatch& batch, const PushResult& result);
  // Bytes read from files and not yet accepted or dropped. Caller holds mu_.
  std::size_t ReadAheadLocked() const;
  void SavePositions(bool sync);
  std::string HostLogPath(const std::string& engine_path) const;

  std::function<ContainerSnapshot()> containers_;
  std::unique_ptr<LogPushTarget> target_;
  LogShipperOptions options_;

  // Reader-thread state.
  ContainerSnapshot reconciled_;  // the catalog's snapshot the followed set was last made from
  std::map<std::string, std::unique_ptr<Followed>, std::less<>> followed_;
  FileWatcher watcher_;                   // Wait() on the reader thread; Wake() from anywhere
  std::size_t unbatched_file_bytes_ = 0;  // read, in no batch yet (pieces being rejoined)
  std::string spare_arena_;  // the last sealed batch's line storage, for the next batch
  std::string scratch_;
  struct EarlyLog {
    int fd = -1;  // the container's first log file, once created
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, EarlyLog, std::less<>> early_;  // by container id, not yet followed

  std::mutex announced_mu_;
  ContainerMap announced_;  // reported by the catalog since the reader last looked

  // Shared between the threads.
  mutable std::mutex mu_;
  std::condition_variable sender_wake_;  // a batch queued, or stop
  // "shared" and "floods", made at construction (the map for the sender's round robin).
  std::map<std::string, std::shared_ptr<Lane>> lanes_;
  std::string last_lane_served_;     // the sender's round robin
  std::uint64_t next_sequence_ = 0;  // numbers the sealed batches
  std::size_t buffered_bytes_ = 0;   // lines read but not yet committed or dropped
  std::map<std::string, FilePosition> committed_;
  struct PendingCommit {
    std::uint64_t sequence;  // of the batch
    FilePosition position;
    bool answered = false;
  };
  // Per container, its sealed batches not yet all answered, in the order they were read: the
  // position commits up to the first one unanswered.
  std::map<std::string, std::deque<PendingCommit>> pending_;
  std::map<std::string, FilePosition> saved_;  // what the positions file holds
  bool saved_synced_ = true;
  std::chrono::steady_clock::time_point last_save_;
  std::string save_error_;  // why the last save failed; "" once one works
  std::uint64_t failed_saves_ = 0;
  std::string last_error_;
  bool stopping_ = false;
  std::atomic<bool> started_{false};
  std::atomic<std::uint64_t> held_bytes_{0};
  std::thread reader_;
  std::thread sender_;

  // Self-metrics.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& entries_sent_;
  prometheus::Counter& bytes_sent_;
  prometheus::Counter& batches_sent_;
  prometheus::Counter& retries_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Histogram& push_duration_;
  prometheus::Counter& lines_read_;
  prometheus::Counter& bytes_read_;
  prometheus::Counter& decode_errors_;
  prometheus::Counter& lost_starts_;
  prometheus::Counter& truncated_lines_;
  prometheus::Gauge& buffered_gauge_;
  prometheus::Gauge& followed_gauge_;
  prometheus::Gauge& held_gauge_;
  prometheus::Counter& held_dropped_bytes_;
  std::shared_ptr<LogLagMetrics> lag_;
  prometheus::Counter& save_errors_;
  prometheus::Family<prometheus::Counter>& sent_by_container_;  // guarded by mu_
  std::shared_ptr<prometheus::Collectable> metrics_;            // registry_ and lag_
};

}  // namespace swarmwatch
