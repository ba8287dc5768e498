// Container metrics under cAdvisor's names, read from cgroups and procfs when Prometheus scrapes,
// for exactly the containers the catalog lists (plus the root cgroup as id="/").
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/container_info.h"
#include "exporters/cgroup_reader.h"
#include "exporters/proc_reader.h"
#include "exporters/text_format.h"

namespace swarmwatch {

struct ContainerCollectorOptions {
  // Docker labels exported as container_label_<name with [^a-zA-Z0-9_] replaced by _>.
  std::vector<std::string> container_labels;
  // Told of each failed read, by source ("cgroup", "proc"), and of containers gone mid-scrape.
  std::function<void(std::string_view source)> on_error = [](std::string_view) {};
  std::function<void()> on_vanished = [] {};
  // Told of each container's cgroup figures as a scrape reads them (the status page's history).
  std::function<void(const ContainerInfo&, double now, const CgroupStats&)> on_sample;
  // Seconds since the epoch; replaceable so tests get a fixed container_last_seen.
  std::function<double()> now;
};

class ContainerCollector : public prometheus::Collectable, public TextExposable {
 public:
  ContainerCollector(std::function<ContainerSnapshot()> containers, CgroupReader cgroups,
                     ProcReader proc, ContainerCollectorOptions options);

  std::vector<prometheus::MetricFamily> Collect() const override;
  // The same samples as Collect(), as exposition text, without an object per sample.
  void WriteText(std::string& out) const override;

  class SampleSink;  // defined in the .cpp: where one scrape's samples go

 private:
  void CollectInto(SampleSink& out) const;

  std::function<ContainerSnapshot()> containers_;
  CgroupReader cgroups_;
  ProcReader proc_;
  ContainerCollectorOptions options_;
  std::vector<std::string> label_names_;  // container_label_* for each allowlisted label
  // Scrapes run one at a time: the readers keep files open and share one buffer.
  mutable std::mutex scrape_mu_;
  mutable std::optional<MachineInfo> machine_;  // read once: cores and memory do not change
  // Each container's limits, re-read once a minute (or when the engine's change) rather than at
  // every scrape, and the counters that cannot move without them (see CgroupReadOptions).
  struct CachedSpec {
    SpecStats spec;
    double read_at = 0;
    bool seen = false;
    std::int64_t pid = 0;          // another one: the container restarted, in a new cgroup
    ContainerResources resources;  // the engine's, when `spec` was read
    std::optional<std::uint64_t> cfs_periods, cfs_throttled_periods, failcnt, oom_events;
    std::optional<double> cfs_throttled_seconds;
    BlkioMemo blkio;
    // What the last read of the tasks' states saw, and the CPU time and processes it went with.
    std::optional<ProcReader::Tasks> tasks;
    double tasks_read_at = 0;
    IdleMemo idle;
    // The pressure totals last read, and when the memo was last emptied (see PressureMemo).
    PressureMemo pressure;
    double pressure_emptied_at = 0;
    // What the sample sink made of the container's labels, and the name they had.
    std::string labels;
    std::string labels_name;
  };
  mutable std::map<std::string, CachedSpec, std::less<>> specs_;
  // The host's OOM kill count at the last scrape: while it stays, no cgroup's can have moved.
  mutable std::optional<std::uint64_t> host_oom_kills_;
  mutable std::mutex text_mu_;
  mutable std::array<std::string, 64> text_bodies_;  // WriteText's text per family, kept for reuse
};

// "com.docker.swarm.service.name" -> "container_label_com_docker_swarm_service_name".
std::string ContainerLabelName(std::string_view docker_label);

}  // namespace swarmwatch
