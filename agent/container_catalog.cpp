#include "agent/container_catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <string_view>

#include "agent/log.h"
#include "agent/proc_cgroup.h"

namespace swarmwatch {
namespace {

bool SameContainer(const ContainerInfo& a, const ContainerInfo& b) {
  return a.id == b.id && a.name == b.name && a.image == b.image && a.labels == b.labels &&
         a.running == b.running && a.pid == b.pid && a.created_at == b.created_at &&
         a.started_at == b.started_at && a.cgroup_parent == b.cgroup_parent &&
         a.cgroup_path == b.cgroup_path && a.log_path == b.log_path &&
         a.log_driver == b.log_driver && a.resources == b.resources;
}

// "exec_start: sh -c ..." and "health_status: healthy" carry details after the colon.
std::string_view BaseAction(std::string_view action) {
  return action.substr(0, action.find(':'));
}

bool OneOf(std::string_view action, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), action) != set.end();
}

// Attributes Docker adds to a container event besides the container's labels.
bool IsEventDetail(std::string_view key) {
  return OneOf(key, {"name", "image", "exitCode", "signal", "oldName", "execID", "execDuration"});
}

}  // namespace

ContainerInfo ContainerFromEvent(const DockerEvent& event) {
  ContainerInfo c;
  c.id = event.id;
  if (auto name = event.attributes.find("name"); name != event.attributes.end())
    c.name = name->second;
  if (auto image = event.attributes.find("image"); image != event.attributes.end())
    c.image = image->second;
  for (const auto& [key, value] : event.attributes) {
    if (!IsEventDetail(key))
      c.labels.emplace(key, value);
  }
  const std::string_view action = BaseAction(event.action);
  c.running = OneOf(action, {"start", "restart", "unpause"});
  c.created_at = static_cast<double>(event.time_nano) / 1e9;
  if (c.running)
    c.started_at = c.created_at;
  // The log driver is not in the event: left empty (unknown), the shipper follows the container
  // only if its json-file log exists or was caught when it was created.
  return c;
}

ContainerCatalog::ContainerCatalog(std::shared_ptr<DockerApi> api, Options options)
    : api_(std::move(api)),
      options_(std::move(options)),
      snapshot_(std::make_shared<const ContainerMap>()) {}

ContainerCatalog::~ContainerCatalog() {
  Stop();
}

void ContainerCatalog::Start() {
  if (thread_.joinable()) {
    return;
  }
  stop_.store(false);
  thread_ = std::thread([this] { Run(); });
}

void ContainerCatalog::Stop() {
  {
    const std::lock_guard lock(wait_mu_);
    stop_.store(true);
  }
  wait_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  ready_.store(false);
}

ContainerSnapshot ContainerCatalog::Snapshot() const {
  const std::lock_guard lock(snapshot_mu_);
  return snapshot_;
}

std::optional<EngineInfo> ContainerCatalog::Engine() const {
  const std::lock_guard lock(snapshot_mu_);
  return engine_;
}

Result<std::optional<SwarmState>> ContainerCatalog::Swarm(std::chrono::milliseconds max_age) {
  const auto engine = Engine();
  if (!engine || !engine->swarm_manager)
    return std::optional<SwarmState>();
  std::lock_guard lock(swarm_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!swarm_ || now - swarm_read_at_ >= max_age) {
    auto state = api_->ReadSwarmState();
    if (state.ok()) {
      swarm_ = std::optional<SwarmState>(std::move(state).value());
    } else {
      api_errors_.fetch_add(1);
      swarm_ = Result<std::optional<SwarmState>>(state.error());
    }
    swarm_read_at_ = now;
  }
  return *swarm_;
}

ContainerCatalog::Counters ContainerCatalog::counters() const {
  Counters c;
  c.resyncs = resyncs_.load();
  c.event_stream_failures = stream_failures_.load();
  c.docker_api_errors = api_errors_.load();
  c.events_handled = events_.load();
  return c;
}

void ContainerCatalog::Subscribe(Listener listener) {
  const std::lock_guard lock(listeners_mu_);
  listeners_.push_back(std::move(listener));
}

void ContainerCatalog::SubscribeEvents(EventListener listener) {
  const std::lock_guard lock(listeners_mu_);
  event_listeners_.push_back(std::move(listener));
}

void ContainerCatalog::Notify(const ContainerInfo& c, bool removed) {
  std::vector<Listener> listeners;
  {
    const std::lock_guard lock(listeners_mu_);
    listeners = listeners_;
  }
  for (const auto& l : listeners) {
    l(c, removed);
  }
}

void ContainerCatalog::Publish(std::shared_ptr<const ContainerMap> next) {
  const std::lock_guard lock(snapshot_mu_);
  snapshot_ = std::move(next);
}

void ContainerCatalog::FillCgroupPath(ContainerInfo& c) const {
  if (c.running && c.pid > 0) {
    auto path = ReadContainerCgroupPath(options_.proc_root, c.pid);
    if (path) {
      c.cgroup_path = std::move(*path);
      return;
    }
    log::Debug("container {}: {}; deriving the cgroup path", c.id, path.error().message);
  }
  std::string driver;
  {
    const std::lock_guard lock(snapshot_mu_);
    if (engine_) {
      driver = engine_->cgroup_driver;
    }
  }
  c.cgroup_path = DeriveCgroupPath(driver, c.cgroup_parent, c.id);
}

Result<ContainerInfo> ContainerCatalog::Load(const std::string& id) {
  auto c = api_->InspectContainer(id);
  if (!c) {
    api_errors_.fetch_add(1);
    return c.error();
  }
  FillCgroupPath(*c);
  return c;
}

Status ContainerCatalog::SyncOnce() {
  const std::lock_guard update(update_mu_);
  auto info = api_->Info();
  if (!info) {
    api_errors_.fetch_add(1);
    return Error{info.error().message};
  }
  {
    const std::lock_guard lock(snapshot_mu_);
    engine_ = std::move(*info);
  }
  auto ids = api_->ListContainerIds();
  if (!ids) {
    api_errors_.fetch_add(1);
    return Error{ids.error().message};
  }
  auto next = std::make_shared<ContainerMap>();
  for (const auto& id : *ids) {
    auto c = Load(id);
    if (!c) {
      // Removed between list and inspect, most likely; its destroy event will follow anyway.
      log::Debug("sync: inspect {}: {}", id, c.error().message);
      continue;
    }
    next->insert_or_assign(c->id, std::move(*c));
  }
  const ContainerSnapshot previous = Snapshot();
  Publish(next);
  resyncs_.fetch_add(1);
  for (const auto& [id, old] : *previous) {
    if (!next->contains(id)) {
      Notify(old, /*removed=*/true);
    }
  }
  for (const auto& [id, c] : *next) {
    auto it = previous->find(id);
    if (it == previous->end() || !SameContainer(it->second, c)) {
      Notify(c, /*removed=*/false);
    }
  }
  return {};
}

void ContainerCatalog::HandleEvent(const DockerEvent& event) {
  if (event.type != "container" || event.id.empty()) {
    return;
  }
  events_.fetch_add(1);
  std::vector<EventListener> event_listeners;
  {
    const std::lock_guard lock(listeners_mu_);
    event_listeners = event_listeners_;
  }
  for (const auto& l : event_listeners) {
    l(event);
  }
  const std::string_view action = BaseAction(event.action);
  const bool refresh = OneOf(action, {"create", "start", "restart", "unpause", "rename", "update"});
  const bool stopped = OneOf(action, {"die", "stop", "kill", "pause", "oom"});
  const bool destroyed = action == "destroy";
  if (!refresh && !stopped && !destroyed) {
    return;  // attach, exec_*, health_status, top, resize, ...: nothing the catalog keeps
  }
  const std::lock_guard update(update_mu_);
  const ContainerSnapshot current = Snapshot();
  const auto it = current->find(event.id);
  if (destroyed) {
    if (it == current->end()) {
      return;
    }
    auto next = std::make_shared<ContainerMap>(*current);
    const ContainerInfo gone = it->second;
    next->erase(event.id);
    Publish(std::move(next));
    Notify(gone, /*removed=*/true);
    return;
  }
  auto loaded = Load(event.id);
  ContainerInfo c;
  if (loaded) {
    c = std::move(*loaded);
  } else if (stopped && it != current->end()) {
    // Cannot ask the engine; the event alone says it no longer runs.
    log::Debug("event {} {}: {}; marking it stopped", action, event.id, loaded.error().message);
    c = it->second;
    c.running = false;
    c.pid = 0;
  } else if (it != current->end()) {
    log::Warn("event {} {}: {}", action, event.id, loaded.error().message);
    return;
  } else {
    // Gone already (a `docker run --rm` that was quick, a one-shot task): what the event says
    // is all there is, and enough to ship what the container wrote. Its destroy event follows.
    log::Debug("event {} {}: {}; taking the container from the event", action, event.id,
               loaded.error().message);
    c = ContainerFromEvent(event);
    if (!c.running && stopped)
      c.pid = 0;
  }
  if (it != current->end() && SameContainer(it->second, c)) {
    return;  // duplicate or no-op event (kill before die, replayed events after a reconnect)
  }
  auto next = std::make_shared<ContainerMap>(*current);
  next->insert_or_assign(c.id, c);
  Publish(std::move(next));
  Notify(c, /*removed=*/false);
}

bool ContainerCatalog::WaitBackoff(int attempt) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const auto min = std::max<std::chrono::milliseconds::rep>(1, options_.backoff_min.count());
  const auto max = std::max(min, options_.backoff_max.count());
  auto delay = min;
  for (int i = 0; i < attempt && delay < max; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, max);
  // "Equal jitter": half fixed, half random, so agents of a cluster do not reconnect in lockstep.
  std::uniform_int_distribution<std::chrono::milliseconds::rep> jitter(0, delay / 2);
  const std::chrono::milliseconds wait(delay - delay / 2 + jitter(rng));
  std::unique_lock lock(wait_mu_);
  return !wait_cv_.wait_for(lock, wait, [this] { return stop_.load(); });
}

void ContainerCatalog::Run() {
  int attempt = 0;
  while (!stop_.load()) {
    // Events are asked for from just before the list, so nothing between list and stream is lost.
    // `since` has one-second resolution: one more second covers the truncation. Replays are
    // harmless, handling is idempotent.
    const auto since = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() -
                       1;
    Status synced = SyncOnce();
    if (!synced) {
      ready_.store(false);
      log::Warn("docker sync failed (attempt {}): {}", attempt + 1, synced.message());
      if (!WaitBackoff(attempt++)) {
        break;
      }
      continue;
    }
    ready_.store(true);
    if (attempt > 0) {
      log::Info("docker sync recovered: {} containers", Snapshot()->size());
    }
    const auto stream_start = std::chrono::steady_clock::now();
    Status streamed = api_->StreamEvents(
        since, [this](const DockerEvent& e) { HandleEvent(e); }, stop_);
    if (stop_.load()) {
      break;
    }
    ready_.store(false);
    stream_failures_.fetch_add(1);
    log::Warn("docker event stream ended: {}", streamed.ok() ? "stopped" : streamed.message());
    // A stream that lived a while was a healthy connection: start the backoff over.
    if (std::chrono::steady_clock::now() - stream_start >= options_.backoff_max) {
      attempt = 0;
    }
    if (!WaitBackoff(attempt++)) {
      break;
    }
  }
  ready_.store(false);
}

}  // namespace swarmwatch
