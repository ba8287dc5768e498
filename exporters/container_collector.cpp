#include "exporters/container_collector.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <initializer_list>
#include <optional>
#include <span>
#include <utility>

#include "exporters/text_format.h"

namespace swarmwatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Every family this collector emits, in exposition order. Names, help and types are cAdvisor's.
enum Family : std::size_t {
  kCpuUsage,
  kCpuUser,
  kCpuSystem,
  kCfsPeriods,
  kCfsThrottledPeriods,
  kCfsThrottledSeconds,
  kMemoryUsage,
  kMemoryWorkingSet,
  kMemoryRss,
  kMemoryCache,
  kMemorySwap,
  kMemoryMappedFile,
  kMemoryMaxUsage,
  kMemoryFailcnt,
  kMemoryFailures,
  kOomEvents,
  kNetReceiveBytes,
  kNetReceivePackets,
  kNetReceiveErrors,
  kNetReceiveDropped,
  kNetTransmitBytes,
  kNetTransmitPackets,
  kNetTransmitErrors,
  kNetTransmitDropped,
  kFsReadsBytes,
  kFsWritesBytes,
  kFsReads,
  kFsWrites,
  kProcesses,
  kThreads,
  kTasksState,
  kSpecCpuQuota,
  kSpecCpuPeriod,
  kSpecCpuShares,
  kSpecMemoryLimit,
  kStartTime,
  kLastSeen,
  kPressureCpuWaiting,
  kPressureCpuStalled,
  kPressureMemoryWaiting,
  kPressureMemoryStalled,
  kPressureIoWaiting,
  kPressureIoStalled,
  kMachineCpuCores,
  kMachineMemory,
  kFamilyCount
};

// Limits change only with `docker update`; cAdvisor reads them once per container.
constexpr double kSpecRefreshSeconds = 60;

// Whether what was read at `read_at` is due to be read again. A clock set back (a VM resumed, a
// step of NTP) makes it due too, rather than kept until the clock is past `read_at` again.
bool Due(double read_at, double now) {
  return now - read_at >= kSpecRefreshSeconds || now < read_at;
}

// A memory limit below what the kernel reports for none (v1: 2^63 rounded down to a page, v2: 2^64
// - 1), or an unknown one.
bool HasMemoryLimit(const SpecStats& spec) {
  constexpr double kUnlimited = 4611686018427387904.0;  // 2^62
  return !spec.memory_limit_bytes || *spec.memory_limit_bytes < kUnlimited;
}

static_assert(kFamilyCount <= 64, "ContainerCollector::text_bodies_ holds 64 families");

struct FamilySpec {
  std::string_view name;  // its length known: appended to every sample line
  std::string_view help;
  MetricType type;
};

constexpr std::array<FamilySpec, kFamilyCount> kFamilies = {{
    {"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.",
     MetricType::Counter},
    {"container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.",
     MetricType::Counter},
    {"container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.",
     MetricType::Counter},
    {"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.",
     MetricType::Counter},
    {"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.",
     MetricType::Counter},
    {"container_cpu_cfs_throttled_seconds_total",
     "Total time duration the container has been throttled.", MetricType::Counter},
    {"container_memory_usage_bytes",
     "Current memory usage in bytes, including all memory regardless of when it was accessed",
     MetricType::Gauge},
    {"container_memory_working_set_bytes", "Current working set in bytes.", MetricType::Gauge},
    {"container_memory_rss", "Size of RSS in bytes.", MetricType::Gauge},
    {"container_memory_cache", "Number of bytes of page cache memory.", MetricType::Gauge},
    {"container_memory_swap", "Container swap usage in bytes.", MetricType::Gauge},
    {"container_memory_mapped_file", "Size of memory mapped files in bytes.", MetricType::Gauge},
    {"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes",
     MetricType::Gauge},
    {"container_memory_failcnt", "Number of memory usage hits limits", MetricType::Counter},
    {"container_memory_failures_total", "Cumulative count of memory allocation failures.",
     MetricType::Counter},
    {"container_oom_events_total", "Count of out of memory events observed for the container",
     MetricType::Counter},
    {"container_network_receive_bytes_total", "Cumulative count of bytes received",
     MetricType::Counter},
    {"container_network_receive_packets_total", "Cumulative count of packets received",
     MetricType::Counter},
    {"container_network_receive_errors_total",
     "Cumulative count of errors encountered while receiving", MetricType::Counter},
    {"container_network_receive_packets_dropped_total",
     "Cumulative count of packets dropped while receiving", MetricType::Counter},
    {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted",
     MetricType::Counter},
    {"container_network_transmit_packets_total", "Cumulative count of packets transmitted",
     MetricType::Counter},
    {"container_network_transmit_errors_total",
     "Cumulative count of errors encountered while transmitting", MetricType::Counter},
    {"container_network_transmit_packets_dropped_total",
     "Cumulative count of packets dropped while transmitting", MetricType::Counter},
    {"container_fs_reads_bytes_total", "Cumulative count of bytes read", MetricType::Counter},
    {"container_fs_writes_bytes_total", "Cumulative count of bytes written", MetricType::Counter},
    {"container_fs_reads_total", "Cumulative count of reads completed", MetricType::Counter},
    {"container_fs_writes_total", "Cumulative count of writes completed", MetricType::Counter},
    {"container_processes", "Number of processes running inside the container.", MetricType::Gauge},
    {"container_threads", "Number of threads running inside the container", MetricType::Gauge},
    {"container_tasks_state", "Number of tasks in given state", MetricType::Gauge},
    {"container_spec_cpu_quota", "CPU quota of the container.", MetricType::Gauge},
    {"container_spec_cpu_period", "CPU period of the container.", MetricType::Gauge},
    {"container_spec_cpu_shares", "CPU share of the container.", MetricType::Gauge},
    {"container_spec_memory_limit_bytes", "Memory limit for the container.", MetricType::Gauge},
    {"container_start_time_seconds", "Start time of the container since unix epoch in seconds.",
     MetricType::Gauge},
    {"container_last_seen", "Last time a container was seen by the exporter", MetricType::Gauge},
    {"container_pressure_cpu_waiting_seconds_total",
     "Total time duration tasks in the container have waited due to CPU pressure.",
     MetricType::Counter},
    {"container_pressure_cpu_stalled_seconds_total",
     "Total time duration no tasks in the container could make progress due to CPU congestion.",
     MetricType::Counter},
    {"container_pressure_memory_waiting_seconds_total",
     "Total time duration tasks in the container have waited due to memory pressure.",
     MetricType::Counter},
    {"container_pressure_memory_stalled_seconds_total",
     "Total time duration no tasks in the container could make progress due to memory "
     "congestion.",
     MetricType::Counter},
    {"container_pressure_io_waiting_seconds_total",
     "Total time duration tasks in the container have waited due to IO pressure.",
     MetricType::Counter},
    {"container_pressure_io_stalled_seconds_total",
     "Total time duration no tasks in the container could make progress due to IO congestion.",
     MetricType::Counter},
    {"machine_cpu_cores", "Number of logical CPU cores.", MetricType::Gauge},
    {"machine_memory_bytes", "Amount of memory installed on the machine.", MetricType::Gauge},
}};

template <class T>
std::optional<double> AsDouble(const std::optional<T>& value) {
  if (!value)
    return std::nullopt;
  return static_cast<double>(*value);
}

// The families that are one optional number of CgroupStats per container, without extra labels.
struct ScalarRow {
  Family family;
  std::optional<double> (*get)(const CgroupStats&);
};

constexpr ScalarRow kScalarRows[] = {
    {kCpuUser, [](const CgroupStats& s) { return s.cpu.user_seconds; }},
    {kCpuSystem, [](const CgroupStats& s) { return s.cpu.system_seconds; }},
    {kCfsPeriods, [](const CgroupStats& s) { return AsDouble(s.cpu.cfs_periods); }},
    {kCfsThrottledPeriods,
     [](const CgroupStats& s) { return AsDouble(s.cpu.cfs_throttled_periods); }},
    {kCfsThrottledSeconds, [](const CgroupStats& s) { return s.cpu.cfs_throttled_seconds; }},
    {kMemoryUsage, [](const CgroupStats& s) { return AsDouble(s.memory.usage_bytes); }},
    {kMemoryWorkingSet, [](const CgroupStats& s) { return AsDouble(s.memory.working_set_bytes); }},
    {kMemoryRss, [](const CgroupStats& s) { return AsDouble(s.memory.rss); }},
    {kMemoryCache, [](const CgroupStats& s) { return AsDouble(s.memory.cache); }},
    {kMemorySwap, [](const CgroupStats& s) { return AsDouble(s.memory.swap); }},
    {kMemoryMappedFile, [](const CgroupStats& s) { return AsDouble(s.memory.mapped_file); }},
    {kMemoryMaxUsage, [](const CgroupStats& s) { return AsDouble(s.memory.max_usage_bytes); }},
    {kMemoryFailcnt, [](const CgroupStats& s) { return AsDouble(s.memory.failcnt); }},
    {kOomEvents, [](const CgroupStats& s) { return AsDouble(s.memory.oom_events); }},
    {kProcesses, [](const CgroupStats& s) { return AsDouble(s.processes); }},
    {kThreads, [](const CgroupStats& s) { return AsDouble(s.threads); }},
    {kSpecCpuQuota, [](const CgroupStats& s) { return AsDouble(s.spec.cpu_quota); }},
    {kSpecCpuPeriod, [](const CgroupStats& s) { return AsDouble(s.spec.cpu_period); }},
    {kSpecCpuShares, [](const CgroupStats& s) { return AsDouble(s.spec.cpu_shares); }},
    {kSpecMemoryLimit, [](const CgroupStats& s) { return s.spec.memory_limit_bytes; }},
    {kPressureCpuWaiting, [](const CgroupStats& s) { return s.cpu_pressure.waiting_seconds; }},
    {kPressureCpuStalled, [](const CgroupStats& s) { return s.cpu_pressure.stalled_seconds; }},
    {kPressureMemoryWaiting,
     [](const CgroupStats& s) { return s.memory_pressure.waiting_seconds; }},
    {kPressureMemoryStalled,
     [](const CgroupStats& s) { return s.memory_pressure.stalled_seconds; }},
    {kPressureIoWaiting, [](const CgroupStats& s) { return s.io_pressure.waiting_seconds; }},
    {kPressureIoStalled, [](const CgroupStats& s) { return s.io_pressure.stalled_seconds; }},
};

// One label of a sample, viewing strings that outlive the call.
struct LabelView {
  std::string_view name;
  std::string_view value;
};
using LabelList = std::initializer_list<LabelView>;

}  // namespace

// Where the collector puts the samples of one scrape. Samples of a family arrive spread over the
// containers; each sink groups them by family, in kFamilies order.
class ContainerCollector::SampleSink {
 public:
  virtual ~SampleSink() = default;
  // The labels of the samples that follow (one container's), valid until the next call.
  virtual void SetLabels(const std::vector<LabelView>& labels) = 0;
  // As SetLabels, for labels that stay as they were at an earlier scrape: `kept` is what this sink
  // made of them then (empty the first time, or after they changed), kept for the next one, and
  // `labels` builds them when needed.
  virtual void SetKeptLabels(const std::function<const std::vector<LabelView>&()>& labels,
                             std::string& kept) {
    (void)kept;
    SetLabels(labels());
  }
  virtual void Add(Family family, double value, LabelList extra = {}) = 0;
};

namespace {

// Builds prometheus-cpp MetricFamily objects, for Collectable::Collect().
class MetricFamilySink : public ContainerCollector::SampleSink {
 public:
  MetricFamilySink() {
    for (std::size_t i = 0; i < kFamilyCount; ++i) {
      families_[i].name = std::string(kFamilies[i].name);
      families_[i].help = std::string(kFamilies[i].help);
      families_[i].type = kFamilies[i].type;
    }
  }

  void SetLabels(const std::vector<LabelView>& labels) override {
    labels_.clear();
    for (const LabelView& label : labels) {
      labels_.push_back({std::string(label.name), std::string(label.value)});
    }
  }

  void Add(Family family, double value, LabelList extra) override {
    ClientMetric& metric = families_[family].metric.emplace_back();
    metric.label.reserve(labels_.size() + extra.size());
    metric.label = labels_;
    for (const LabelView& label : extra) {
      metric.label.push_back({std::string(label.name), std::string(label.value)});
    }
    if (kFamilies[family].type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
  }

  // Families without samples are left out: an empty family is noise in the exposition.
  std::vector<MetricFamily> Finish() && {
    std::vector<MetricFamily> result;
    result.reserve(kFamilyCount);
    for (MetricFamily& family : families_) {
      if (!family.metric.empty())
        result.push_back(std::move(family));
    }
    return result;
  }

 private:
  std::array<MetricFamily, kFamilyCount> families_;
  Labels labels_;
};

// Writes the exposition text directly: one growing string per family, the container's labels
// rendered once for all its samples. No object per sample.
class TextSink : public ContainerCollector::SampleSink {
 public:
  // Writes into `bodies` (one string per family), emptied first: kept from scrape to scrape, they
  // are allocated once rather than at every scrape.
  explicit TextSink(std::span<std::string> bodies) : bodies_(bodies) {
    for (std::string& body : bodies_)
      body.clear();
  }

  void SetLabels(const std::vector<LabelView>& labels) override {
    labels_.clear();
    for (const LabelView& label : labels)
      AppendLabel(label, labels_);
    current_labels_ = labels_;
  }

  // Kept rendered: no escaping of every value at every scrape.
  void SetKeptLabels(const std::function<const std::vector<LabelView>&()>& labels,
                     std::string& kept) override {
    if (kept.empty()) {
      for (const LabelView& label : labels())
        AppendLabel(label, kept);
    }
    current_labels_ = kept;
  }

  void Add(Family family, double value, LabelList extra) override {
    std::string& out = bodies_[family];
    out += kFamilies[family].name;
    if (!current_labels_.empty() || extra.size() > 0) {
      out.push_back('{');
      out += current_labels_;
      for (const LabelView& label : extra)
        AppendLabel(label, out);
      out.back() = '}';  // replaces the trailing comma
    }
    out.push_back(' ');
    AppendValue(value, out);
    out.push_back('\n');
  }

  // Appends every family with samples to `out`.
  void Finish(std::string& out) {
    std::size_t total = 0;
    for (const std::string& body : bodies_)
      total += body.size() + 256;
    out.reserve(out.size() + total);
    for (std::size_t i = 0; i < kFamilyCount; ++i) {
      if (bodies_[i].empty())
        continue;
      AppendFamilyHeader(kFamilies[i].name, kFamilies[i].help, kFamilies[i].type, out);
      out += bodies_[i];
    }
  }

 private:
  // name="value", (always followed by a comma; Add turns the last one into the closing brace)
  static void AppendLabel(const LabelView& label, std::string& out) {
    out += label.name;
    out += "=\"";
    AppendLabelValue(label.value, out);
    out += "\",";
  }

  std::span<std::string> bodies_;
  std::string labels_;
  std::string_view current_labels_;  // labels_, or what SetKeptLabels was given
};

void AddCgroupStats(ContainerCollector::SampleSink& out, const CgroupStats& stats,
                    const std::map<DeviceNumber, std::string>& devices) {
  if (stats.cpu.usage_seconds)
    out.Add(kCpuUsage, *stats.cpu.usage_seconds, {{"cpu", "total"}});
  for (const ScalarRow& row : kScalarRows) {
    if (auto value = row.get(stats))
      out.Add(row.family, *value);
  }
  const MemoryStats& memory = stats.memory;
  const std::pair<const std::optional<std::uint64_t>*, std::pair<const char*, const char*>>
      failures[] = {
          {&memory.pgfault_container, {"pgfault", "container"}},
          {&memory.pgmajfault_container, {"pgmajfault", "container"}},
          {&memory.pgfault_hierarchy, {"pgfault", "hierarchy"}},
          {&memory.pgmajfault_hierarchy, {"pgmajfault", "hierarchy"}},
      };
  for (const auto& [value, kind] : failures) {
    if (*value) {
      out.Add(kMemoryFailures, static_cast<double>(**value),
              {{"failure_type", kind.first}, {"scope", kind.second}});
    }
  }
  std::string unnamed;
  for (const BlkioDeviceStats& device : stats.blkio) {
    auto name = devices.find({device.major, device.minor});
    if (name == devices.end())
      unnamed = fmt::format("{}:{}", device.major, device.minor);
    const LabelView label{"device", name != devices.end() ? name->second : unnamed};
    out.Add(kFsReadsBytes, static_cast<double>(device.read_bytes), {label});
    out.Add(kFsWritesBytes, static_cast<double>(device.write_bytes), {label});
    out.Add(kFsReads, static_cast<double>(device.reads), {label});
    out.Add(kFsWrites, static_cast<double>(device.writes), {label});
  }
}

void AddNetwork(ContainerCollector::SampleSink& out,
                const std::vector<NetInterfaceStats>& interfaces) {
  for (const NetInterfaceStats& net : interfaces) {
    const LabelView label{"interface", net.name};
    out.Add(kNetReceiveBytes, static_cast<double>(net.rx_bytes), {label});
    out.Add(kNetReceivePackets, static_cast<double>(net.rx_packets), {label});
    out.Add(kNetReceiveErrors, static_cast<double>(net.rx_errors), {label});
    out.Add(kNetReceiveDropped, static_cast<double>(net.rx_dropped), {label});
    out.Add(kNetTransmitBytes, static_cast<double>(net.tx_bytes), {label});
    out.Add(kNetTransmitPackets, static_cast<double>(net.tx_packets), {label});
    out.Add(kNetTransmitErrors, static_cast<double>(net.tx_errors), {label});
    out.Add(kNetTransmitDropped, static_cast<double>(net.tx_dropped), {label});
  }
}

void AddTaskStates(ContainerCollector::SampleSink& out, const TaskStateCounts& states) {
  const std::pair<const char*, std::uint64_t> rows[] = {
      {"sleeping", states.sleeping}, {"running", states.running},
      {"stopped", states.stopped},   {"uninterruptible", states.uninterruptible},
      {"iowait", states.iowait},
  };
  for (const auto& [state, count] : rows) {
    out.Add(kTasksState, static_cast<double>(count), {{"state", state}});
  }
}

}  // namespace

std::string ContainerLabelName(std::string_view docker_label) {
  std::string name = "container_label_";
  name.reserve(name.size() + docker_label.size());
  for (char ch : docker_label) {
    const bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_';
    name.push_back(keep ? ch : '_');
  }
  return name;
}

ContainerCollector::ContainerCollector(std::function<ContainerSnapshot()> containers,
                                       CgroupReader cgroups, ProcReader proc,
                                       ContainerCollectorOptions options)
    : containers_(std::move(containers)),
      cgroups_(std::move(cgroups)),
      proc_(std::move(proc)),
      options_(std::move(options)) {
  if (!options_.now) {
    options_.now = [] {
      return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  for (const std::string& label : options_.container_labels) {
    label_names_.push_back(ContainerLabelName(label));
  }
}

std::vector<MetricFamily> ContainerCollector::Collect() const {
  MetricFamilySink sink;
  CollectInto(sink);
  return std::move(sink).Finish();
}

void ContainerCollector::WriteText(std::string& out) const {
  // One scrape at a time writes the bodies.
  std::lock_guard text_lock(text_mu_);
  TextSink sink(std::span<std::string>(text_bodies_).first(kFamilyCount));
  CollectInto(sink);
  sink.Finish(out);
}

void ContainerCollector::CollectInto(SampleSink& out) const {
  std::lock_guard lock(scrape_mu_);
  const double now = options_.now();
  const auto devices = proc_.BlockDeviceNames();

  // The root cgroup: the host's totals, as cAdvisor's id="/". Its own processes and threads
  // would be those outside every other cgroup (on a systemd host, kernel threads only): the
  // host's thread count is what a host total means, and costs a tiny file rather than a walk of
  // every task under a lock (~1 ms); the host's process count would need a walk of /proc.
  out.SetLabels({{"id", "/"}});
  CgroupReadOptions root_read;
  root_read.processes = false;
  // Read before the containers: a container's pressure file is read only when the host's total
  // moved since (see PressureMemo).
  std::optional<HostPressure> host_pressure;
  if (auto root = cgroups_.Read("/", root_read); root.ok()) {
    host_pressure = HostPressure{root->cpu_pressure, root->memory_pressure, root->io_pressure};
    root->threads = proc_.HostThreads();
    if (!root->memory.usage_bytes && cgroups_.version() == CgroupVersion::kV2) {
      if (const auto host_memory = proc_.HostMemory()) {
        UseHostMemoryForRoot(*host_memory, root->memory);
      }
    }
    AddCgroupStats(out, *root, devices);
  } else {
    options_.on_error("cgroup");
  }
  if (auto net = proc_.HostNetDev(); net.ok()) {
    AddNetwork(out, *net);
  } else {
    options_.on_error("proc");
  }
  out.Add(kLastSeen, now);

  // Read before the containers: an OOM kill after it shows at the next scrape. v2 has the count in
  // memory.events, read anyway for the limit hits: no use for the host's there.
  const bool v2 = cgroups_.version() == CgroupVersion::kV2;
  const std::optional<std::uint64_t> host_oom_kills = v2 ? std::nullopt : proc_.HostOomKills();
  const bool no_oom_kill_since_last_scrape =
      host_oom_kills && host_oom_kills_ && *host_oom_kills == *host_oom_kills_;
  std::vector<LabelView> labels;
  const ContainerSnapshot snapshot = containers_();
  // Both are in id order: walked side by side rather than looked up per container. The entries
  // the walk passes over are of containers gone or stopped.
  auto next_spec = specs_.begin();
  for (const auto& [id, container] : *snapshot) {
    if (!container.running || container.pid <= 0 || container.cgroup_path.empty())
      continue;
    while (next_spec != specs_.end() && next_spec->first < id)
      next_spec = specs_.erase(next_spec);
    if (next_spec == specs_.end() || next_spec->first != id)
      next_spec = specs_.emplace_hint(next_spec, id, CachedSpec{});
    const auto spec = next_spec++;
    CachedSpec& cached = spec->second;
    if (cached.seen && cached.pid != container.pid)
      cached = CachedSpec{};  // restarted: a new cgroup, whose counters start again
    const bool refresh_spec =
        !cached.seen || Due(cached.read_at, now) || cached.resources != container.resources;
    CgroupReadOptions read;
    read.spec = refresh_spec;
    // v2 has these counters in files read anyway: only v1 skips them.
    read.cfs_counters = v2 || refresh_spec || cached.spec.cpu_quota.has_value();
    read.failcnt = v2 || refresh_spec || HasMemoryLimit(cached.spec);
    read.oom_events = v2 || !cached.seen || !no_oom_kill_since_last_scrape;
    read.blkio_memo = &cached.blkio;
    // Taken with the task states (below), and trusted no longer than them.
    const bool idle_memo_fresh = cached.tasks && !Due(cached.tasks_read_at, now);
    read.idle_memo = idle_memo_fresh ? &cached.idle : nullptr;
    if (Due(cached.pressure_emptied_at, now)) {
      cached.pressure = PressureMemo{};
      cached.pressure_emptied_at = now;
    }
    read.host_pressure = host_pressure ? &*host_pressure : nullptr;
    read.pressure_memo = &cached.pressure;
    auto stats = cgroups_.Read(container.cgroup_path, read);
    if (!stats.ok()) {
      specs_.erase(spec);
      options_.on_vanished();
      continue;
    }
    if (refresh_spec) {
      cached.spec = stats->spec;
      cached.read_at = now;
      cached.seen = true;
      cached.pid = container.pid;
      cached.resources = container.resources;
    } else {
      stats->spec = cached.spec;
    }
    CpuStats& cpu = stats->cpu;
    if (read.cfs_counters) {
      cached.cfs_periods = cpu.cfs_periods;
      cached.cfs_throttled_periods = cpu.cfs_throttled_periods;
      cached.cfs_throttled_seconds = cpu.cfs_throttled_seconds;
    } else {
      cpu.cfs_periods = cached.cfs_periods;
      cpu.cfs_throttled_periods = cached.cfs_throttled_periods;
      cpu.cfs_throttled_seconds = cached.cfs_throttled_seconds;
    }
    if (read.failcnt) {
      cached.failcnt = stats->memory.failcnt;
    } else {
      stats->memory.failcnt = cached.failcnt;
    }
    if (read.oom_events) {
      cached.oom_events = stats->memory.oom_events;
    } else {
      stats->memory.oom_events = cached.oom_events;
    }
    // A task's state changes when it runs, or when it is woken (made runnable) from outside.
    // While a container's CPU time and processes stay as they were, its tasks have not run: their
    // states are those read last time, short of a task woken since that has not run yet. The
    // /proc/<pid>/stat of each process, the costliest file of an idle container, is then not read
    // again (up to kSpecRefreshSeconds, for what this rule might not foresee).
    const bool tasks_unchanged = idle_memo_fresh && stats->cpu.usage_seconds &&
                                 cached.idle.cpu_seconds == stats->cpu.usage_seconds &&
                                 cached.idle.process_ids == stats->process_ids;
    if (tasks_unchanged) {
      proc_.KeepTaskFiles(stats->process_ids);
    } else {
      const std::string& cgroup_path = container.cgroup_path;  // a lambda cannot capture a binding
      cached.tasks =
          proc_.TaskStates(stats->process_ids, [&] { return cgroups_.ThreadIds(cgroup_path); });
      cached.tasks_read_at = now;
      cached.idle.cpu_seconds = stats->cpu.usage_seconds;
      cached.idle.process_ids = stats->process_ids;
    }
    cached.idle.max_usage_bytes = stats->memory.max_usage_bytes;
    const ProcReader::Tasks& tasks = *cached.tasks;
    stats->threads = tasks.threads;
    if (options_.on_sample)
      options_.on_sample(container, now, *stats);
    // A container's labels, id and image stay for its life (a new pid reset `cached`); its name
    // changes with a rename.
    if (cached.labels_name != container.name) {
      cached.labels_name = container.name;
      cached.labels.clear();
    }
    const ContainerInfo& info = container;  // a lambda cannot capture a binding
    out.SetKeptLabels(
        [&]() -> const std::vector<LabelView>& {
          labels.clear();
          for (std::size_t i = 0; i < label_names_.size(); ++i) {
            if (auto value = info.Label(options_.container_labels[i]); !value.empty()) {
              labels.push_back({label_names_[i], value});
            }
          }
          labels.push_back({"id", info.cgroup_path});
          labels.push_back({"image", info.image});
          labels.push_back({"name", info.name});
          return labels;
        },
        cached.labels);

    AddCgroupStats(out, *stats, devices);
    if (auto net = proc_.NetDev(container.pid); net.ok()) {
      AddNetwork(out, *net);
    } else {
      options_.on_error("proc");
    }
    AddTaskStates(out, tasks.states);
    if (container.started_at > 0)
      out.Add(kStartTime, container.started_at);
    out.Add(kLastSeen, now);
  }

  if (!machine_) {
    if (auto machine = proc_.Machine(); machine.ok()) {
      machine_ = *machine;
    } else {
      options_.on_error("proc");
    }
  }
  out.SetLabels({});
  if (machine_) {
    out.Add(kMachineCpuCores, static_cast<double>(machine_->cpu_cores));
    out.Add(kMachineMemory, static_cast<double>(machine_->memory_bytes));
  }
  specs_.erase(next_spec, specs_.end());
  host_oom_kills_ = host_oom_kills;
  cgroups_.CloseUnusedFiles();
  proc_.CloseUnusedFiles();
}

}  // namespace swarmwatch
