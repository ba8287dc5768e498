#include "shippers/log_shipper.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "agent/log.h"
#include "shippers/held_logs_budget.h"
#include "shippers/json_file_decoder.h"
#include "shippers/loki_refusal.h"
#include "shippers/partial_line_joiner.h"
#include "shippers/positions_file.h"

namespace swarmwatch {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kLogsLabel = "swarmwatch.logs";
// Positions are written after every accepted batch, and fsynced at most this often (and at stop).
constexpr std::chrono::seconds kSaveInterval{1};
// One read of one container takes at most this much before the reader moves on, so that a
// flooding container does not starve the others.
constexpr std::size_t kReadSlice = 256 << 10;
// A container whose read stopped at its slice with more to read is flooding, and stays in the
// floods' lane until it has not for this long (a flood that pauses between bursts stays apart).
constexpr std::chrono::seconds kFloodMemory{5};
// An unchanged catalog is looked at again this often (a log that could not be opened).
constexpr std::chrono::seconds kReconcileInterval{30};
// Docker writes lines of at most 16 KiB (longer ones in pieces), about 17 KiB as JSON.
constexpr std::size_t kLineReserve = 32 << 10;
// A log file opened when it was created waits this long for the catalog to say whose it is
// (an engine's event, then an inspect), and at most this many wait at once.
constexpr std::chrono::seconds kEarlyLogWait{60};
constexpr std::size_t kMaxEarlyLogs = 1024;

// The shipper's registry and the lag gauges rendered at scrape time, as one source.
class ShipperMetrics : public prometheus::Collectable {
 public:
  ShipperMetrics(std::shared_ptr<prometheus::Registry> registry, std::shared_ptr<LogLagMetrics> lag)
      : registry_(std::move(registry)), lag_(std::move(lag)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families = registry_->Collect();
    for (auto& family : lag_->Collect())
      families.push_back(std::move(family));
    return families;
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<LogLagMetrics> lag_;
};

// Loki refuses a stream whose label value is longer than this (max_label_value_length's
// default): a value is cut to it, at a character boundary, rather than lose the stream's lines.
constexpr std::size_t kMaxLabelValueBytes = 2048;

std::string_view CapLabelValue(std::string_view value) {
  if (value.size() <= kMaxLabelValueBytes)
    return value;
  std::size_t end = kMaxLabelValueBytes;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80)
    --end;  // not inside a UTF-8 sequence
  return value.substr(0, end);
}

bool IsContainerId(std::string_view name) {
  return name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// A unit of batching and sending: the shared lane or the floods' (see the header).
struct LogShipper::Lane {
  Lane(std::string name_in, bool floods_in, int max_attempts, BackoffOptions backoff)
      : name(std::move(name_in)), floods(floods_in), retry(max_attempts, backoff) {}
  const std::string name;
  const bool floods;
  // Reader thread only.
  std::unique_ptr<LokiBatch> open;
  // Under mu_.
  std::deque<std::unique_ptr<LokiBatch>> queue;
  std::size_t sealed_bytes = 0;  // file bytes of its queued and in-flight batches
  bool in_flight = false;
  Clock::time_point retry_at{};
  // Sender thread only: this lane's attempts and backoff.
  RetryPolicy retry;
};

// One followed container: its file, the joiner of Docker's partial lines, its streams' identities.
struct LogShipper::Followed {
  std::string id;
  std::string name;
  LogFileFollower follower;
  PartialLineJoiner joiner;
  std::shared_ptr<const StreamIdentity> streams[2];  // stdout, stderr
  // Position after the last line read, and before the first piece of a line still being rejoined:
  // a restart must resume there, or that line's first pieces would be lost.
  FilePosition after_last_line;
  std::optional<FilePosition> pending_start;
  bool ships = true;                                // to Loki; else only the sinks are fed
  std::vector<std::unique_ptr<LogLineSink>> sinks;  // consumers of this container's lines
  bool in_catalog = true;
  bool running = true;
  bool gone = false;
  std::uint64_t losses_counted = 0;  // the follower's lost_starts already in the metric
  std::shared_ptr<Lane> lane;        // where its lines are batched (when shipped)
  Clock::time_point flooding_until{};
  // The label sets of its swarmwatch_log_lines_sent_total series (one per name it had).
  std::vector<prometheus::Labels> sent_series;

  Followed(std::string id_in, const std::string& path, FollowerOptions options,
           std::size_t max_line)
      : id(std::move(id_in)), follower(path, options), joiner(max_line) {}

  // What this container may commit once every line emitted so far is accepted.
  FilePosition SafePosition() const { return pending_start.value_or(after_last_line); }
};

bool LogShipper::Ships(const ContainerInfo& container) {
  return container.log_driver == "json-file" && container.Label(kLogsLabel) != "false";
}

LogShipper::LogShipper(std::function<ContainerSnapshot()> containers,
                       std::unique_ptr<LogPushTarget> target, LogShipperOptions options)
    : containers_(std::move(containers)),
      target_(std::move(target)),
      options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      entries_sent_(prometheus::BuildCounter()
                        .Name("swarmwatch_loki_entries_sent_total")
                        .Help("Log lines Loki accepted")
                        .Register(*registry_)
                        .Add({})),
      bytes_sent_(prometheus::BuildCounter()
                      .Name("swarmwatch_loki_bytes_sent_total")
                      .Help("Bytes of log lines Loki accepted")
                      .Register(*registry_)
                      .Add({})),
      batches_sent_(prometheus::BuildCounter()
                        .Name("swarmwatch_loki_batches_sent_total")
                        .Help("Batches Loki accepted")
                        .Register(*registry_)
                        .Add({})),
      retries_(prometheus::BuildCounter()
                   .Name("swarmwatch_loki_retries_total")
                   .Help("Pushes that failed and were retried (429, 5xx, timeouts, no connection)")
                   .Register(*registry_)
                   .Add({})),
      dropped_(prometheus::BuildCounter()
                   .Name("swarmwatch_loki_entries_dropped_total")
                   .Help("Log lines Loki did not store, by reason: what its 400 named "
                         "(too_old, too_new, line_too_long, out_of_order, invalid_labels, "
                         "structured_metadata_too_large, structured_metadata_too_many), "
                         "rejected (another 4xx, or an answer "
                         "not understood), retries_exhausted (loki_max_retries reached), "
                         "held_budget (never sent: in a held rotated file given up over "
                         "held_logs_bytes)")
                   .Register(*registry_)),
      push_duration_(
          prometheus::BuildHistogram()
              .Name("swarmwatch_loki_push_duration_seconds")
              .Help("Time of one push to Loki, successful or not")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                               0.5, 1, 2.5, 5, 10})),
      lines_read_(prometheus::BuildCounter()
                      .Name("swarmwatch_log_lines_read_total")
                      .Help("Log lines read from containers' json-file logs")
                      .Register(*registry_)
                      .Add({})),
      bytes_read_(prometheus::BuildCounter()
                      .Name("swarmwatch_log_bytes_read_total")
                      .Help("Bytes read from containers' json-file logs")
                      .Register(*registry_)
                      .Add({})),
      decode_errors_(prometheus::BuildCounter()
                         .Name("swarmwatch_log_decode_errors_total")
                         .Help("json-file lines that did not decode; shipped as text, in pieces "
                               "of at most max_line_bytes")
                         .Register(*registry_)
                         .Add({})),
      lost_starts_(
          prometheus::BuildCounter()
              .Name("swarmwatch_log_rotated_away_total")
              .Help(
                  "Log files rotated away unread (while the agent was down or fell behind by more "
                  "than max-file rotations): lines lost")
              .Register(*registry_)
              .Add({})),
      truncated_lines_(prometheus::BuildCounter()
                           .Name("swarmwatch_log_truncated_lines_total")
                           .Help("Lines longer than max_line_bytes, cut and marked truncated")
                           .Register(*registry_)
                           .Add({})),
      buffered_gauge_(prometheus::BuildGauge()
                          .Name("swarmwatch_log_read_ahead_bytes")
                          .Help("Bytes read but not yet accepted by Loki (bounded by "
                                "read_ahead_bytes)")
                          .Register(*registry_)
                          .Add({})),
      followed_gauge_(prometheus::BuildGauge()
                          .Name("swarmwatch_log_followed_containers")
                          .Help("Containers whose log files are followed")
                          .Register(*registry_)
                          .Add({})),
      held_gauge_(prometheus::BuildGauge()
                      .Name("swarmwatch_log_held_bytes")
                      .Help("Unread bytes of rotated or deleted log files held open until they "
                            "are read (bounded by held_logs_bytes)")
                      .Register(*registry_)
                      .Add({})),
      held_dropped_bytes_(prometheus::BuildCounter()
                              .Name("swarmwatch_log_dropped_bytes_total")
                              .Help("Bytes of log files given up unread, by reason: held_budget "
                                    "(the oldest held rotated file, over held_logs_bytes)")
                              .Register(*registry_)
                              .Add({{"reason", "held_budget"}})),
      lag_(std::make_shared<LogLagMetrics>()),
      save_errors_(prometheus::BuildCounter()
                       .Name("swarmwatch_positions_save_errors_total")
                       .Help("Saves of the positions file that failed (/ready answers 503 while "
                             "the last one did)")
                       .Register(*registry_)
                       .Add({})),
      sent_by_container_(prometheus::BuildCounter()
                             .Name("swarmwatch_log_lines_sent_total")
                             .Help("Log lines Loki accepted (2xx), by container and Swarm service "
                                   "(series of a removed container go with it)")
                             .Register(*registry_)),
      metrics_(std::make_shared<ShipperMetrics>(registry_, lag_)) {
  for (const bool floods : {false, true}) {
    const std::string name = floods ? "floods" : "shared";
    lanes_.emplace(name,
                   std::make_shared<Lane>(name, floods, options_.max_attempts, options_.backoff));
  }
  for (const char* reason :
       {"rejected", "retries_exhausted", "too_old", "too_new", "line_too_long", "held_budget"})
    dropped_.Add({{"reason", reason}});
  if (!options_.positions_file.empty()) {
    std::vector<std::string> skipped;
    auto loaded = PositionsFile::Load(options_.positions_file, &skipped);
    for (const std::string& message : skipped)
      log::Warn("log shipper: {}: {}", options_.positions_file, message);
    if (loaded.ok()) {
      committed_ = std::move(loaded).value();
      saved_ = committed_;
      log::Info("log shipper: resuming {} containers from {}", committed_.size(),
                options_.positions_file);
    } else {
      log::Error("log shipper: {}; starting without saved positions", loaded.error().message);
    }
  }
}

LogShipper::~LogShipper() {
  Stop();
  for (auto& [id, early] : early_) {
    if (early.fd >= 0)
      ::close(early.fd);
  }
}

void LogShipper::ContainersChanged() {
  watcher_.Wake();
}

void LogShipper::Announce(const ContainerInfo& container) {
  {
    std::lock_guard lock(announced_mu_);
    announced_.insert_or_assign(container.id, container);
  }
  watcher_.Wake();
}

void LogShipper::Start() {
  if (started_.exchange(true))
    return;
  const std::string containers = options_.docker_root + "/containers";
  if (Status watched = watcher_.WatchRoot(containers); !watched.ok()) {
    log::Warn("log shipper: {}; a container removed before the catalog reports it may go unread",
              watched.message());
  }
  reader_ = std::thread([this] { ReadLoop(); });
  sender_ = std::thread([this] { SendLoop(); });
}

void LogShipper::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_)
      return;
    stopping_ = true;
  }
  watcher_.Wake();
  sender_wake_.notify_all();
  if (reader_.joinable())
    reader_.join();
  if (sender_.joinable())
    sender_.join();
  SavePositions(/*sync=*/true);
}

std::string LogShipper::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

std::string LogShipper::positions_save_error() const {
  std::lock_guard lock(mu_);
  return save_error_;
}

std::map<std::string, FilePosition> LogShipper::committed() const {
  std::lock_guard lock(mu_);
  return committed_;
}

std::string LogShipper::HostLogPath(const std::string& engine_path) const {
  // The engine reports /var/lib/docker/containers/<id>/<id>-json.log under its own data root; the
  // agent may see that root elsewhere (a container with the host's directory mounted).
  const std::string_view path = engine_path;
  const std::size_t containers = path.rfind("/containers/");
  if (containers == std::string_view::npos)
    return engine_path;
  return options_.docker_root + std::string(path.substr(containers));
}

void LogShipper::Reconcile(const ContainerMap& containers, const ContainerMap& announced,
                           std::set<std::string, std::less<>>& dirty) {
  {
    // Containers removed while the agent was down: the engine no longer knows them and their log
    // directory is gone, and with it any use for their positions. One whose directory is still
    // there keeps its position, whatever the engine says.
    std::lock_guard lock(mu_);
    std::erase_if(committed_, [&](const auto& entry) {
      const std::string& id = entry.first;
      if (containers.contains(id) || followed_.contains(id) || announced.contains(id))
        return false;
      std::error_code error;
      const bool gone = !std::filesystem::exists(
                            fmt::format("{}/containers/{}", options_.docker_root, id), error) &&
                        !error;
      if (gone)
        log::Info("log shipper: forgetting the position of removed container {}", id);
      return gone;
    });
  }
  for (auto& [id, followed] : followed_)
    followed->in_catalog = false;
  for (const auto& [id, container] : containers) {
    auto it = followed_.find(id);
    if (it == followed_.end()) {
      Follow(container, /*in_catalog=*/true, dirty);
      continue;
    }
    Followed& followed = *it->second;
    followed.in_catalog = true;
    followed.running = container.running;
    if (followed.name != container.name)
      Label(followed, container);  // renamed: every label follows
  }
  // Containers the catalog reported and no longer lists: gone already, but what they wrote is
  // read to its end under the name they had.
  for (const auto& [id, container] : announced) {
    if (!containers.contains(id) && !followed_.contains(id))
      Follow(container, /*in_catalog=*/false, dirty);
  }
}

void LogShipper::Label(Followed& followed, const ContainerInfo& container) {
  const bool renamed = !followed.name.empty() && followed.name != container.name;
  followed.name = container.name;
  const std::string node = options_.node_name();
  std::vector<LokiLabel> labels = {
      {"job", CapLabelValue(options_.job)},
      {"swarm_stack", CapLabelValue(container.Label(kStackNamespace))},
      {"swarm_service", CapLabelValue(container.Label(kSwarmServiceName))},
      {"node", CapLabelValue(node)},
      {"container", CapLabelValue(container.name)},
  };
  for (const auto& [name, value] : options_.static_labels)
    labels.push_back({name, CapLabelValue(value)});
  std::vector<std::pair<std::string, std::string>> metadata = {{"container_id", container.id}};
  if (auto task = container.Label(kSwarmTaskId); !task.empty()) {
    metadata.emplace_back("task_id", std::string(task));
  }
  const std::string service(container.Label(kSwarmServiceName));
  for (LogStream stream : {LogStream::kStdout, LogStream::kStderr}) {
    auto with_stream = labels;
    with_stream.push_back({"stream", StreamName(stream)});
    followed.streams[static_cast<int>(stream)] =
        MakeStreamIdentity(RenderLabelSet(with_stream), metadata, container.name, service);
  }
  prometheus::Labels series{{"container", container.name}, {"swarm_service", service}};
  if (std::find(followed.sent_series.begin(), followed.sent_series.end(), series) ==
      followed.sent_series.end())
    followed.sent_series.push_back(std::move(series));
  if (renamed) {
    // The consumers label by name where a container has no service: a new sink under the new
    // name (the old name's series go with the old sink, if it was the last one).
    followed.sinks.clear();
    for (const auto& consumer : options_.consumers) {
      if (auto sink = consumer->Attach(container))
        followed.sinks.push_back(std::move(sink));
    }
    lag_->Rename(followed.id, container.name);
    log::Info("log shipper: container {} renamed to {}", followed.id.substr(0, 12), container.name);
  }
}

void LogShipper::Follow(const ContainerInfo& container, bool in_catalog,
                        std::set<std::string, std::less<>>& dirty) {
  const std::string& id = container.id;
  auto early = early_.find(id);
  // A container taken from an engine's event alone (gone before it was inspected) has no log
  // driver: followed if its json-file log was caught when it was created, or is there.
  const std::string default_path =
      fmt::format("{}/containers/{}/{}-json.log", options_.docker_root, id, id);
  bool json_file = container.log_driver == "json-file";
  if (container.log_driver.empty()) {
    std::error_code error;
    json_file = (early != early_.end() && early->second.fd >= 0) ||
                std::filesystem::exists(default_path, error);
  }
  // A container not followed after all: the file caught at its creation is of no use.
  const auto release_early = [&] {
    if (early == early_.end())
      return;
    if (early->second.fd >= 0)
      ::close(early->second.fd);
    watcher_.Remove(id);
    early_.erase(early);
  };
  if (!json_file) {
    release_early();
    return;
  }
  const bool ships = target_ != nullptr && container.Label(kLogsLabel) != "false";
  std::vector<std::unique_ptr<LogLineSink>> sinks;
  for (const auto& consumer : options_.consumers) {
    if (auto sink = consumer->Attach(container))
      sinks.push_back(std::move(sink));
  }
  if (!ships && sinks.empty()) {
    release_early();
    return;
  }
  FollowerOptions follower_options;
  follower_options.start = options_.start;
  follower_options.max_line_bytes = options_.max_line_bytes + 1024;
  // The engine reports LogPath only from the first start; the file's place is known before, and
  // following from creation means a container that floods and rotates at once loses nothing.
  const std::string log_path =
      container.log_path.empty() ? default_path : HostLogPath(container.log_path);
  auto followed =
      std::make_unique<Followed>(id, log_path, follower_options, options_.max_line_bytes);
  followed->running = container.running;
  followed->in_catalog = in_catalog;
  followed->ships = ships;
  followed->sinks = std::move(sinks);
  followed->lane = SharedLane();
  std::optional<FilePosition> saved;
  {
    std::lock_guard lock(mu_);
    if (auto s = committed_.find(id); s != committed_.end())
      saved = s->second;
  }
  if (!saved && early != early_.end() && early->second.fd >= 0) {
    // Caught when it was created: all of it is new, even if the container is gone by now.
    followed->follower.Adopt(std::exchange(early->second.fd, -1));
  } else if (Status opened = followed->follower.Open(saved); !opened.ok()) {
    log::Warn("log shipper: cannot follow {}: {}", container.name, opened.message());
    release_early();
    return;
  }
  if (early != early_.end()) {
    if (early->second.fd >= 0)
      ::close(early->second.fd);
    early_.erase(early);  // the watch stays: it is the followed container's now
  }
  if (followed->follower.stats().lost_starts > 0) {
    log::Warn("log shipper: {}: the saved position was rotated away; lines were lost",
              container.name);
  }
  CountLosses(*followed);
  followed->after_last_line = followed->follower.position();
  Label(*followed, container);
  lag_->Set(id, container.name, 0);
  const std::string directory =
      std::filesystem::path(followed->follower.path()).parent_path().string();
  if (Status watched = watcher_.Add(id, directory); !watched.ok()) {
    log::Debug("log shipper: no inotify watch for {} ({}); polling it", container.name,
               watched.message());
  }
  dirty.insert(id);
  {
    std::lock_guard lock(mu_);
    // A container seen the first time commits its starting point at once (with start=end
    // nothing before it is ever wanted); one without a log file yet has nothing to commit.
    if (followed->SafePosition().inode != 0)
      committed_.try_emplace(id, followed->SafePosition());
  }
  followed_.emplace(id, std::move(followed));
}

void LogShipper::NoticeNewDirectory(const std::string& name) {
  if (!IsContainerId(name) || followed_.contains(name) || early_.contains(name))
    return;
  if (early_.size() >= kMaxEarlyLogs)
    return;
  const std::string directory = fmt::format("{}/containers/{}", options_.docker_root, name);
  if (!watcher_.Add(name, directory).ok())
    return;  // gone already
  early_.emplace(name, EarlyLog{-1, Clock::now() + kEarlyLogWait});
  OpenEarly(name);
}

void LogShipper::OpenEarly(const std::string& id) {
  auto it = early_.find(id);
  if (it == early_.end() || it->second.fd >= 0)
    return;
  const std::string path =
      fmt::format("{}/containers/{}/{}-json.log", options_.docker_root, id, id);
  it->second.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

void LogShipper::ExpireEarly() {
  const auto now = Clock::now();
  for (auto it = early_.begin(); it != early_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    // Nobody claimed it: not a container of this engine, or one the catalog never reported.
    if (it->second.fd >= 0)
      ::close(it->second.fd);
    if (!followed_.contains(it->first))
      watcher_.Remove(it->first);
    it = early_.erase(it);
  }
}

void LogShipper::Emit(Followed& followed, LogStream stream, std::int64_t time_ns,
                      std::string_view line, bool truncated) {
  for (const auto& sink : followed.sinks)
    sink->Consume(stream, time_ns, line);
  if (truncated)
    truncated_lines_.Increment();
  if (!followed.ships)
    return;
  std::unique_ptr<LokiBatch>& batch = followed.lane->open;
  if (!batch)
    batch = std::make_unique<LokiBatch>(options_.batch_bytes + (64 << 10), std::move(spare_arena_));
  batch->AddLine(followed.streams[static_cast<int>(stream)], time_ns, line, truncated);
  batch->AddFileBytes(std::exchange(unbatched_file_bytes_, 0));
}

void LogShipper::MarkRead(Followed& followed) {
  if (!followed.ships) {
    std::lock_guard lock(mu_);
    committed_[followed.id] = followed.SafePosition();
    return;
  }
  std::unique_ptr<LokiBatch>& batch = followed.lane->open;
  if (!batch)
    batch = std::make_unique<LokiBatch>(options_.batch_bytes + (64 << 10), std::move(spare_arena_));
  batch->AddFileBytes(std::exchange(unbatched_file_bytes_, 0));
  batch->SetCommit(followed.id, followed.SafePosition());
}

void LogShipper::PlaceInLane(Followed& followed, bool flooding) {
  const auto now = Clock::now();
  if (flooding)
    followed.flooding_until = now + kFloodMemory;
  if (flooding == followed.lane->floods || (!flooding && now < followed.flooding_until))
    return;
  // What it read so far is sealed in the lane it leaves, so that its batches are sealed in the
  // order they were read: its position commits in that order (FinishBatchLocked).
  if (followed.lane->open && followed.lane->open->commits().contains(followed.id))
    CloseLaneBatch(*followed.lane);
  followed.lane = flooding ? FloodLane() : SharedLane();
  log::Debug("log shipper: {} {}", followed.name,
             flooding ? "floods its log: batched in the floods' lane"
                      : "no longer floods: back in the shared lane");
}

LogShipper::ReadState LogShipper::ReadContainer(Followed& followed) {
  // A container that is not shipped holds nothing once read: only the slice bounds it.
  // A flood found before its lines enter the shared lane's batch, where Loki's 429 to them
  // would hold back the other containers' lines until it took them.
  if (followed.ships && !followed.lane->floods && followed.follower.UnreadHeldBytes() > kReadSlice)
    PlaceInLane(followed, /*flooding=*/true);
  std::size_t budget = kReadSlice;
  bool blocked = false;
  if (followed.ships) {
    std::lock_guard lock(mu_);
    // The follower may hand out one line past its budget: keep a line's worth in reserve.
    const std::size_t used = ReadAheadLocked() + kLineReserve;
    blocked = used >= options_.read_ahead_bytes;
    if (!blocked)
      budget = std::min(options_.read_ahead_bytes - used, kReadSlice);
    if (const Lane& lane = *followed.lane; !blocked && lane.floods) {
      const std::size_t lane_used =
          lane.sealed_bytes + (lane.open ? lane.open->file_bytes() : 0) + kLineReserve;
      const std::size_t share = FloodLaneBytes();
      blocked = lane_used >= share;
      if (!blocked)
        budget = std::min(budget, share - lane_used);
    }
  }
  if (blocked) {
    // Nothing can be read, but a rotation must still be seen, or Docker deletes the rotated file
    // unread: the follower opens it and holds it until there is room.
    followed.follower.NoticeRotations();
    // Nothing more fits: the floods' batch goes out now rather than after batch_wait (when their
    // share filled below batch_bytes, it waited out batch_wait each time: 44k lines/s, not 500k).
    if (Lane& lane = *followed.lane; lane.floods && lane.open && !lane.open->empty())
      CloseLaneBatch(lane);
    return ReadState::kBlocked;
  }
  DecodedLine decoded;
  std::vector<std::string_view> undecodable;
  const ReadResult result =
      followed.follower.ReadLines(budget, [&](std::string_view line, FilePosition after) {
        const FilePosition before = followed.after_last_line;
        followed.after_last_line = after;
        if (followed.ships)
          unbatched_file_bytes_ += line.size() + 1;
        if (!DecodeJsonFileLine(line, decoded, scratch_).ok()) {
          // Not what Docker writes; shipped rather than lost, as UTF-8 text in pieces Loki takes.
          decode_errors_.Increment();
          UndecodableLinePieces(line, options_.max_line_bytes, scratch_, undecodable);
          for (const std::string_view piece : undecodable)
            Emit(followed, LogStream::kStdout, NowNanos(), piece, false);
        } else if (!decoded.partial && !followed.joiner.Pending(decoded.stream)) {
          Emit(followed, decoded.stream, decoded.time_ns, decoded.log, false);  // the usual case
        } else {
          if (!followed.pending_start && decoded.partial)
            followed.pending_start = before;
          if (auto record = followed.joiner.Feed(decoded, before.offset)) {
            Emit(followed, record->stream, record->time_ns, record->line, record->truncated);
          }
          if (!followed.joiner.Pending())
            followed.pending_start.reset();
        }
        if (followed.ships && followed.lane->open &&
            followed.lane->open->bytes() >= options_.batch_bytes) {
          followed.lane->open->SetCommit(followed.id, followed.SafePosition());
          CloseLaneBatch(*followed.lane);
        }
      });
  lines_read_.Increment(static_cast<double>(result.lines));
  bytes_read_.Increment(static_cast<double>(result.bytes));
  // Lines that made no record (pieces of a line still being rejoined) still count.
  if (result.lines > 0)
    MarkRead(followed);
  if (result.gone)
    followed.gone = true;
  // A container that stopped (or whose log went away) in the middle of a line never finishes it:
  // ship what there is, so that its next start does not glue a new line onto it.
  if ((!followed.running || followed.gone) && !result.more && followed.joiner.Pending()) {
    for (LogStream stream : {LogStream::kStdout, LogStream::kStderr}) {
      if (auto record = followed.joiner.Flush(stream)) {
        Emit(followed, record->stream, record->time_ns, record->line, record->truncated);
      }
    }
    followed.pending_start.reset();
    MarkRead(followed);
  }
  // A read cut short by the read-ahead budget says nothing of the container's pace.
  if (followed.ships && (!result.more || budget == kReadSlice))
    PlaceInLane(followed, result.more);
  return result.more ? ReadState::kMore : ReadState::kDone;
}

void LogShipper::CountLosses(Followed& followed) {
  // At Open (a saved position rotated away while the agent was down) and while following (more
  // rotations between two reads than Docker keeps files): both are lines deleted unread.
  const std::uint64_t lost = followed.follower.stats().lost_starts;
  if (lost > followed.losses_counted) {
    lost_starts_.Increment(static_cast<double>(lost - followed.losses_counted));
    followed.losses_counted = lost;
  }
}

void LogShipper::ReleaseOverHeldBudget() {
  std::vector<LogFileFollower*> followers;
  followers.reserve(followed_.size());
  for (auto& [id, followed] : followed_)
    followers.push_back(&followed->follower);
  const HeldBudgetOutcome outcome = EnforceHeldBudget(followers, options_.held_logs_bytes);
  if (outcome.released_files > 0) {
    held_dropped_bytes_.Increment(static_cast<double>(outcome.released_bytes));
    dropped_.Add({{"reason", "held_budget"}})
        .Increment(static_cast<double>(outcome.released_lines));
  }
  held_gauge_.Set(static_cast<double>(outcome.held_bytes));
  held_bytes_.store(outcome.held_bytes, std::memory_order_relaxed);
}

void LogShipper::UpdateLag(Followed& followed) {
  // Unread bytes, plus those read and not yet accepted. Bytes in flight from a file that has
  // since rotated away are left out: the position cannot tell them.
  std::uint64_t lag = followed.follower.Lag();
  std::lock_guard lock(mu_);
  const FilePosition read = followed.SafePosition();
  if (auto committed = committed_.find(followed.id); committed != committed_.end() &&
                                                     committed->second.inode == read.inode &&
                                                     read.offset > committed->second.offset) {
    lag += read.offset - committed->second.offset;
  }
  lag_->Set(followed.id, followed.name, lag);
}

std::map<std::string, std::uint64_t> LogShipper::Lags() const {
  return lag_->ById();
}

std::size_t LogShipper::ReadAheadLocked() const {
  std::size_t open = 0;
  for (const auto& [id, lane] : lanes_)
    open += lane->open ? lane->open->file_bytes() : 0;
  return buffered_bytes_ + unbatched_file_bytes_ + open;
}

std::size_t LogShipper::FloodLaneBytes() const {
  // A quarter of the read-ahead stays for the shared lane; the floods' lane may hold at least a
  // batch and the lines being read into the next.
  return std::max(options_.read_ahead_bytes - options_.read_ahead_bytes / 4,
                  options_.batch_bytes + 2 * kLineReserve);
}

void LogShipper::CloseBatchIfDue(bool force) {
  for (const auto& [id, lane] : lanes_) {
    if (lane->open && !lane->open->empty() &&
        (force || Clock::now() - lane->open->opened() >= options_.batch_wait))
      CloseLaneBatch(*lane);
  }
}

void LogShipper::CloseLaneBatch(Lane& lane) {
  if (!lane.open)
    return;
  if (lane.open->empty()) {
    if (!lane.floods)
      return;  // waits for lines
    // Only positions and bytes (pieces of a line still being rejoined): nothing to push, and the
    // floods may have stopped; they go on in the shared lane's batch, which always goes out. A
    // container's commit already there is the later one.
    std::unique_ptr<LokiBatch> empty = std::move(lane.open);
    std::unique_ptr<LokiBatch>& shared = SharedLane()->open;
    if (!shared)
      shared =
          std::make_unique<LokiBatch>(options_.batch_bytes + (64 << 10), std::move(spare_arena_));
    shared->AddFileBytes(empty->file_bytes());
    for (const auto& [id, position] : empty->commits()) {
      if (!shared->commits().contains(id))
        shared->SetCommit(id, position);
    }
    return;
  }
  std::unique_ptr<LokiBatch> batch = std::move(lane.open);
  batch->Seal(target_->Encode(batch->Streams()));
  spare_arena_ = batch->TakeArena();
  {
    std::lock_guard lock(mu_);
    batch->SetSequence(next_sequence_++);
    buffered_bytes_ += batch->file_bytes();
    buffered_gauge_.Set(static_cast<double>(buffered_bytes_));
    for (const auto& [id, position] : batch->commits())
      pending_[id].push_back(PendingCommit{batch->sequence(), position});
    lane.sealed_bytes += batch->file_bytes();
    lane.queue.push_back(std::move(batch));
  }
  sender_wake_.notify_one();
}

void LogShipper::ReadLoop() {
  // Containers to read at the next turn: those inotify reported, those that stopped at their
  // budget, all of them at the safety-net poll.
  std::set<std::string, std::less<>> dirty;
  auto next_full_scan = Clock::now();
  auto next_reconcile = Clock::now();
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_)
        break;
    }
    // The catalog hands out a new snapshot at each change: an unchanged one has nothing new to
    // follow (a node with no labelled container and no Loki then costs nothing between scrapes).
    // Now and then it is looked at again, for a log that could not be opened.
    const ContainerSnapshot snapshot = containers_();
    ContainerMap announced;
    {
      std::lock_guard lock(announced_mu_);
      announced.swap(announced_);
    }
    if (snapshot &&
        (snapshot != reconciled_ || !announced.empty() || Clock::now() >= next_reconcile)) {
      Reconcile(*snapshot, announced, dirty);
      reconciled_ = snapshot;
      next_reconcile = Clock::now() + kReconcileInterval;
    }
    ExpireEarly();
    const bool full_scan = Clock::now() >= next_full_scan;
    if (full_scan)
      next_full_scan = Clock::now() + options_.poll_interval;
    bool readable = false;  // a container stopped at its slice, not at a budget: read on at once
    for (auto it = followed_.begin(); it != followed_.end();) {
      Followed& followed = *it->second;
      if (full_scan || dirty.contains(followed.id)) {
        dirty.erase(followed.id);
        const ReadState state = ReadContainer(followed);
        if (state != ReadState::kDone)
          dirty.insert(followed.id);
        readable = readable || state == ReadState::kMore;
        UpdateLag(followed);
        CountLosses(followed);
      }
      // A removed container whose file is read to its end and whose lines are all accepted is
      // forgotten, and so is its saved position; so is one removed before it ever had a file.
      if (!followed.in_catalog && (followed.gone || NeverHadALog(followed))) {
        const bool in_open_batch = std::any_of(lanes_.begin(), lanes_.end(), [&](const auto& lane) {
          return lane.second->open && lane.second->open->commits().contains(followed.id);
        });
        std::lock_guard lock(mu_);
        if (!in_open_batch && !pending_.contains(followed.id)) {
          committed_.erase(followed.id);
          lag_->Forget(followed.id);
          watcher_.Remove(followed.id);
          for (const prometheus::Labels& series : followed.sent_series) {
            if (sent_by_container_.Has(series))
              sent_by_container_.Remove(&sent_by_container_.Add(series));
          }
          it = followed_.erase(it);
          continue;
        }
      }
      ++it;
    }
    followed_gauge_.Set(static_cast<double>(followed_.size()));
    ReleaseOverHeldBudget();
    CloseBatchIfDue(false);
    if (Lane& floods = *FloodLane(); floods.open && floods.open->empty())
      CloseLaneBatch(floods);  // positions alone, with no flood to carry them out

    std::chrono::milliseconds wait = options_.poll_interval;
    {
      std::lock_guard lock(mu_);
      if (stopping_)
        break;
      const bool over_budget = ReadAheadLocked() + kLineReserve >= options_.read_ahead_bytes;
      if (readable && !over_budget) {
        // More to read right now and room for it: go on without sleeping, but look at what
        // inotify saw meanwhile (a new container's log is to be opened before it can go away).
        wait = std::chrono::milliseconds(0);
      } else {
        // Rounded up: a wait rounded down to 0 ms wakes at once, again and again until the
        // fraction of a millisecond has passed.
        for (const auto& [id, lane] : lanes_) {
          if (!lane->open || lane->open->empty())
            continue;
          const auto due = std::chrono::ceil<std::chrono::milliseconds>(
              lane->open->opened() + options_.batch_wait - Clock::now());
          wait = std::max(std::chrono::milliseconds(1), std::min(wait, due));
        }
        const auto until_scan =
            std::chrono::ceil<std::chrono::milliseconds>(next_full_scan - Clock::now());
        wait = std::max(std::chrono::milliseconds(1), std::min(wait, until_scan));
      }
    }
    // Sleeps until a log changes, the sender frees budget (Wake), a batch is due or the poll.
    const FileWatcher::Events& events = watcher_.Wait(wait);
    if (events.overflow)
      next_full_scan = Clock::now();
    for (const std::string& name : events.new_directories)
      NoticeNewDirectory(name);
    for (const std::string& id : events.ids) {
      if (early_.contains(id))
        OpenEarly(id);
      else
        dirty.insert(id);
    }
  }
  // Hand over what was read so the sender can try it once more before stopping.
  CloseBatchIfDue(true);
}

void LogShipper::CountRefused(const LokiBatch& batch, const PushResult& result) {
  // Loki stores the valid entries of a push it answers 400 to: only what it names is dropped.
  std::vector<PushedStream> streams;
  streams.reserve(batch.stream_counts().size());
  for (const LokiBatch::StreamCount& stream : batch.stream_counts())
    streams.push_back(PushedStream{stream.identity->labels, stream.entries});
  const auto refused = swarmwatch::CountRefused(result.status, result.answer, streams);
  std::size_t dropped = 0;
  std::string reasons;
  for (const auto& [reason, count] : refused) {
    dropped_.Add({{"reason", reason}}).Increment(static_cast<double>(count));
    dropped += count;
    reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", count, reason);
  }
  const std::size_t stored = batch.entries() - std::min(dropped, batch.entries());
  entries_sent_.Increment(static_cast<double>(stored));
  if (stored > 0)
    batches_sent_.Increment();
  log::Error("loki refused {} of {} lines of a batch ({}); {} stored: {}", dropped, batch.entries(),
             reasons, stored, result.reason);
}

bool LogShipper::NeverHadALog(const Followed& followed) const {
  if (followed.follower.position().inode != 0)
    return false;
  std::error_code error;
  const auto directory = std::filesystem::path(followed.follower.path()).parent_path();
  return !std::filesystem::exists(directory, error) && !error;
}

std::shared_ptr<LogShipper::Lane> LogShipper::NextReadyLaneLocked(Clock::time_point now) {
  const auto ready = [&](const Lane& lane) {
    return !lane.queue.empty() && !lane.in_flight && lane.retry_at <= now;
  };
  // The lane after the one served last, in turn.
  for (auto it = lanes_.upper_bound(last_lane_served_); it != lanes_.end(); ++it) {
    if (ready(*it->second))
      return it->second;
  }
  for (auto it = lanes_.begin(); it != lanes_.end() && it->first <= last_lane_served_; ++it) {
    if (ready(*it->second))
      return it->second;
  }
  return nullptr;
}

std::optional<Clock::time_point> LogShipper::NextRetryLocked() const {
  std::optional<Clock::time_point> next;
  for (const auto& [id, lane] : lanes_) {
    if (!lane->queue.empty() && !lane->in_flight && (!next || lane->retry_at < *next))
      next = lane->retry_at;
  }
  return next;
}

void LogShipper::SendLoop() {
  while (true) {
    std::shared_ptr<Lane> lane;
    std::unique_ptr<LokiBatch> batch;
    bool save_due = false;
    {
      std::unique_lock lock(mu_);
      while (!(lane = NextReadyLaneLocked(Clock::now())) && !stopping_) {
        // Woken by a new batch, a lane's backoff ending or stop. While saves fail, the file is
        // tried again every kSaveInterval, batches or not, so that the failure (and /ready's 503)
        // ends once the file can be written.
        std::optional<Clock::time_point> until = NextRetryLocked();
        const bool saving = !save_error_.empty();
        if (saving && (!until || *until > Clock::now() + kSaveInterval))
          until = Clock::now() + kSaveInterval;
        if (!until) {
          sender_wake_.wait(lock);
        } else if (sender_wake_.wait_until(lock, *until) == std::cv_status::timeout && saving &&
                   !NextReadyLaneLocked(Clock::now())) {
          save_due = true;
          break;
        }
      }
      if (lane) {
        // While stopping, the batches whose lane is not waiting out a backoff get one more try.
        batch = std::move(lane->queue.front());
        lane->queue.pop_front();
        lane->in_flight = true;
        last_lane_served_ = lane->name;
      }
    }
    if (save_due) {
      SavePositions(/*sync=*/true);
      continue;
    }
    if (!lane)
      break;  // stopping; what is still queued stays uncommitted: it is read again next time
    const auto start = Clock::now();
    const PushResult result = target_->Push(batch->body());
    push_duration_.Observe(std::chrono::duration<double>(Clock::now() - start).count());
    const RetryPolicy::Decision decision = lane->retry.OnResult(result);
    if (decision.action == RetryPolicy::Action::kRetry) {
      retries_.Increment();
      log::Warn("loki push failed ({}), retrying in {} ms", result.reason, decision.delay.count());
      std::lock_guard lock(mu_);
      last_error_ = result.reason;
      lane->in_flight = false;
      lane->retry_at = Clock::now() + decision.delay;
      lane->queue.push_front(std::move(batch));
      continue;
    }
    if (decision.action == RetryPolicy::Action::kCommit) {
      entries_sent_.Increment(static_cast<double>(batch->entries()));
      bytes_sent_.Increment(static_cast<double>(batch->bytes()));
      batches_sent_.Increment();
      CountSentByContainer(*batch);
    } else if (result.kind == PushResult::Kind::kDrop) {
      CountRefused(*batch, result);  // what exactly Loki refused, from its answer
    } else {
      log::Error("loki push failed, batch of {} lines dropped: {}", batch->entries(),
                 decision.reason);  // "gave up after N attempts: ..."
      dropped_.Add({{"reason", "retries_exhausted"}})
          .Increment(static_cast<double>(batch->entries()));
    }
    bool sync = false;
    {
      std::lock_guard lock(mu_);
      last_error_ = result.kind == PushResult::Kind::kOk ? std::string() : result.reason;
      lane->in_flight = false;
      lane->sealed_bytes -= batch->file_bytes();
      FinishBatchLocked(*batch);
      sync = Clock::now() - last_save_ >= kSaveInterval;
    }
    watcher_.Wake();  // budget was freed
    SavePositions(sync);
  }
}

void LogShipper::FinishBatchLocked(const LokiBatch& batch) {
  for (const auto& [id, position] : batch.commits()) {
    auto it = pending_.find(id);
    if (it == pending_.end())
      continue;
    std::deque<PendingCommit>& pending = it->second;
    for (PendingCommit& commit : pending) {
      if (commit.sequence == batch.sequence()) {
        commit.answered = true;
        break;
      }
    }
    while (!pending.empty() && pending.front().answered) {
      committed_[id] = pending.front().position;
      pending.pop_front();
    }
    if (pending.empty())
      pending_.erase(it);
  }
  buffered_bytes_ -= batch.file_bytes();
  buffered_gauge_.Set(static_cast<double>(buffered_bytes_));
}

void LogShipper::CountSentByContainer(const LokiBatch& batch) {
  for (const LokiBatch::StreamCount& stream : batch.stream_counts()) {
    sent_by_container_
        .Add({{"container", stream.identity->container},
              {"swarm_service", stream.identity->service}})
        .Increment(static_cast<double>(stream.entries));
  }
}

void LogShipper::SavePositions(bool sync) {
  if (options_.positions_file.empty())
    return;
  std::map<std::string, FilePosition> positions;
  {
    std::lock_guard lock(mu_);
    if (sync)
      last_save_ = Clock::now();
    // After a failed save the file is tried again even if nothing changed since: the failure
    // ends at the first save that works.
    if (committed_ == saved_ && (!sync || saved_synced_) && save_error_.empty())
      return;
    positions = committed_;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options_.positions_file).parent_path(),
                                      ec);
  const Status saved = PositionsFile::Save(options_.positions_file, positions, sync);
  std::uint64_t failures = 0;  // of the episode that this save began or ended
  {
    std::lock_guard lock(mu_);
    if (!saved.ok()) {
      save_errors_.Increment();
      save_error_ = saved.message();
      failures = ++failed_saves_;
    } else {
      failures = std::exchange(failed_saves_, 0);
      save_error_.clear();
      saved_ = std::move(positions);
      saved_synced_ = sync;
    }
  }
  // Once when saving starts to fail and once when it works again, not at every batch: the
  // counter and /ready tell the rest.
  if (!saved.ok() && failures == 1) {
    log::Error(
        "log shipper: cannot save positions: {}; until a save works, a restart would send again "
        "what Loki accepted since the last one (tried again every second; logged once more when "
        "a save works)",
        saved.message());
  } else if (saved.ok() && failures > 0) {
    log::Info("log shipper: positions saved to {} again, after {} failed saves",
              options_.positions_file, failures);
  }
}

}  // namespace swarmwatch
