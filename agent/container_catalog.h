// The one place that knows this engine's containers: filled by a full list at start (and after
// every reconnect) and kept current from the /events stream. Readers get immutable snapshots.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/container_info.h"
#include "agent/docker_api.h"
#include "agent/result.h"

namespace swarmwatch {

struct ContainerCatalogOptions {
  std::string proc_root = "/proc";               // where /proc/<pid>/cgroup is read
  std::chrono::milliseconds backoff_min{100};    // first retry after an engine failure
  std::chrono::milliseconds backoff_max{10000};  // cap of the exponential backoff
};

// Self-metrics; monotonically increasing.
struct ContainerCatalogCounters {
  std::uint64_t resyncs = 0;                // full list+inspect syncs that succeeded
  std::uint64_t event_stream_failures = 0;  // event streams that ended with an error
  std::uint64_t docker_api_errors = 0;      // failed Info/List/Inspect calls
  std::uint64_t events_handled = 0;         // container events received
};

// What a container event alone tells of its container (Actor.Attributes: name, image and the
// container's labels), for a container that is gone before it could be inspected.
ContainerInfo ContainerFromEvent(const DockerEvent& event);

class ContainerCatalog {
 public:
  using Options = ContainerCatalogOptions;
  using Counters = ContainerCatalogCounters;
  // Called after each change with the container's new state, or its last state and removed=true.
  // Runs on the catalog's thread while it holds its update lock: keep it short, and do not call
  // SyncOnce() from it (Snapshot(), Ready() and Engine() are fine).
  using Listener = std::function<void(const ContainerInfo&, bool removed)>;
  // Called with every container event as the engine sent it, before the catalog acts on it: for
  // what only the event tells (an OOM kill of a container that is gone by the time it could be
  // read). Same thread and rules as a Listener; events a reconnect replays come again.
  using EventListener = std::function<void(const DockerEvent&)>;

  explicit ContainerCatalog(std::shared_ptr<DockerApi> api, Options options = {});
  ~ContainerCatalog();  // Stop()s
  ContainerCatalog(const ContainerCatalog&) = delete;
  ContainerCatalog& operator=(const ContainerCatalog&) = delete;

  // Spawns the sync thread: sync, stream events, and on failure back off and sync again.
  void Start();
  // Ends the thread promptly (the event stream watches the stop flag). Idempotent.
  void Stop();

  // Never null; empty until the first sync.
  ContainerSnapshot Snapshot() const;
  // True while synced with the engine and following its events.
  bool Ready() const { return ready_.load(); }
  // The engine's /info from the last successful sync.
  std::optional<EngineInfo> Engine() const;
  Counters counters() const;
  void Subscribe(Listener listener);
  void SubscribeEvents(EventListener listener);

  // The Swarm's services, tasks and nodes when this engine is a manager, nullopt otherwise. Read
  // from the engine at most once per `max_age` (scrapes in between get the same answer), on the
  // caller's thread.
  Result<std::optional<SwarmState>> Swarm(std::chrono::milliseconds max_age);

  // Info, list and inspect every container, then replace the whole map: containers that vanished
  // are dropped (and reported removed). Public for tests; the thread calls it on every (re)connect.
  Status SyncOnce();

 private:
  void Run();
  void HandleEvent(const DockerEvent& event);
  // Inspects `id` and fills in its cgroup path.
  Result<ContainerInfo> Load(const std::string& id);
  void FillCgroupPath(ContainerInfo& c) const;
  // Replace the published map and tell the listeners. Caller holds update_mu_.
  void Publish(std::shared_ptr<const ContainerMap> next);
  void Notify(const ContainerInfo& c, bool removed);
  // Waits the next backoff delay, or less when stopped. Returns false when stopped.
  bool WaitBackoff(int attempt);

  const std::shared_ptr<DockerApi> api_;
  const Options options_;

  mutable std::mutex snapshot_mu_;  // guards snapshot_ and engine_ (held only to copy/swap)
  ContainerSnapshot snapshot_;
  std::optional<EngineInfo> engine_;

  std::mutex update_mu_;  // serialises writers (the thread, SyncOnce from tests)

  std::mutex listeners_mu_;
  std::vector<Listener> listeners_;
  std::vector<EventListener> event_listeners_;

  std::mutex swarm_mu_;
  std::chrono::steady_clock::time_point swarm_read_at_;
  std::optional<Result<std::optional<SwarmState>>> swarm_;

  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::thread thread_;

  std::atomic<std::uint64_t> resyncs_{0};
  std::atomic<std::uint64_t> stream_failures_{0};
  std::atomic<std::uint64_t> api_errors_{0};
  std::atomic<std::uint64_t> events_{0};
};

}  // namespace swarmwatch
