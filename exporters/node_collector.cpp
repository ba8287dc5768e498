#include "exporters/node_collector.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <regex>
#include <span>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "exporters/cgroup_parsers.h"
#include "exporters/kernel_file_reader.h"
#include "exporters/node_parsers.h"
#include "exporters/proc_reader.h"

namespace swarmwatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Clock = std::chrono::steady_clock;

// os-release changes with an upgrade of the OS: read again once a minute, not at every scrape.
constexpr auto kOsReleaseRefresh = std::chrono::seconds(60);
// Device names and mount points seen, each with whether its regex excludes it; veths and
// containers' mounts come and go, so the memo is emptied when it grows past this.
constexpr std::size_t kMaxMemo = 4096;

struct LabelView {
  std::string_view name;
  std::string_view value;
};

// A regex of names to leave out, with the answer for each name it was asked about: std::regex
// takes microseconds per search, and the same few names come at every scrape.
class ExcludeRegex {
 public:
  explicit ExcludeRegex(const std::string& pattern) : empty_(pattern.empty()) {
    if (!empty_)
      regex_ = std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  }

  bool Excludes(std::string_view name) {
    if (empty_)
      return false;
    if (auto it = memo_.find(name); it != memo_.end())
      return it->second;
    if (memo_.size() >= kMaxMemo)
      memo_.clear();
    const bool excluded = std::regex_search(name.begin(), name.end(), regex_);
    memo_.emplace(std::string(name), excluded);
    return excluded;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  bool empty_;
  std::regex regex_;
  std::unordered_map<std::string, bool, Hash, std::equal_to<>> memo_;
};

// The whole file behind `fd`, read from offset 0 into `out`; false on a read error.
bool PreadAll(int fd, std::string& out) {
  out.resize(std::max<std::size_t>(out.capacity(), 16384));
  std::size_t used = 0;
  while (true) {
    if (out.size() - used < 4096)
      out.resize(out.size() * 2);
    const ssize_t got = ::pread(fd, out.data() + used, out.size() - used, static_cast<off_t>(used));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return false;
    if (got == 0)
      break;
    used += static_cast<std::size_t>(got);
  }
  out.resize(used);
  return true;
}

std::string_view TrimNewline(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  return text;
}

// A mount as node_filesystem_* labels it, and whether it is read-only.
struct Mount {
  std::string device, fstype, mount_point;
  bool read_only = false;
};

}  // namespace

class NodeCollector::Sink {
 public:
  virtual ~Sink() = default;
  // The samples that follow are of this family; a family without samples is not written.
  virtual void Family(std::string_view name, std::string_view help, MetricType type) = 0;
  virtual void Sample(double value, std::span<const LabelView> labels) = 0;
  void Sample(double value, std::initializer_list<LabelView> labels = {}) {
    Sample(value, std::span<const LabelView>(labels.begin(), labels.size()));
  }
};

namespace {

// Writes the exposition text straight into the answer.
class TextSink : public NodeCollector::Sink {
 public:
  explicit TextSink(std::string& out) : out_(out) {}

  void Family(std::string_view name, std::string_view help, MetricType type) override {
    name_.assign(name);
    help_.assign(help);
    type_ = type;
    header_written_ = false;
  }

  void Sample(double value, std::span<const LabelView> labels) override {
    if (!header_written_) {
      AppendFamilyHeader(name_, help_, type_, out_);
      header_written_ = true;
    }
    out_ += name_;
    if (!labels.empty()) {
      out_.push_back('{');
      for (const LabelView& label : labels) {
        out_ += label.name;
        out_ += "=\"";
        AppendLabelValue(label.value, out_);
        out_ += "\",";
      }
      out_.back() = '}';
    }
    out_.push_back(' ');
    AppendValue(value, out_);
    out_.push_back('\n');
  }

 private:
  std::string& out_;
  std::string name_, help_;
  MetricType type_ = MetricType::Untyped;
  bool header_written_ = true;
};

// Builds prometheus-cpp objects, for Collectable::Collect().
class MetricFamilySink : public NodeCollector::Sink {
 public:
  void Family(std::string_view name, std::string_view help, MetricType type) override {
    MetricFamily& family = families_.emplace_back();
    family.name = std::string(name);
    family.help = std::string(help);
    family.type = type;
  }

  void Sample(double value, std::span<const LabelView> labels) override {
    MetricFamily& family = families_.back();
    ClientMetric& metric = family.metric.emplace_back();
    for (const LabelView& label : labels)
      metric.label.push_back({std::string(label.name), std::string(label.value)});
    switch (family.type) {
      case MetricType::Counter:
        metric.counter.value = value;
        break;
      case MetricType::Gauge:
        metric.gauge.value = value;
        break;
      default:
        metric.untyped.value = value;
    }
  }

  std::vector<MetricFamily> Finish() && {
    std::vector<MetricFamily> result;
    for (MetricFamily& family : families_) {
      if (!family.metric.empty())
        result.push_back(std::move(family));
    }
    return result;
  }

 private:
  std::vector<MetricFamily> families_;
};

// node_exporter's default --collector.vmstat.fields, ^(oom_kill|pgpg|pswp|pg.*fault).*
bool IsDefaultVmstatField(std::string_view name) {
  return name.starts_with("oom_kill") || name.starts_with("pgpg") || name.starts_with("pswp") ||
         (name.starts_with("pg") && name.find("fault", 2) != std::string_view::npos);
}

// node_exporter's major.minor of VERSION_ID (^[0-9]+\.?[0-9]*), 0 when it has none.
double OsVersion(std::string_view version_id) {
  std::size_t end = 0;
  while (end < version_id.size() && version_id[end] >= '0' && version_id[end] <= '9')
    ++end;
  if (end == 0)
    return 0;
  if (end < version_id.size() && version_id[end] == '.') {
    ++end;
    while (end < version_id.size() && version_id[end] >= '0' && version_id[end] <= '9')
      ++end;
  }
  double value = 0;
  std::from_chars(version_id.data(), version_id.data() + end, value);
  return value;
}

struct DiskRow {
  std::string_view name;
  std::string_view help;
  MetricType type;
  double (*get)(const DiskStats&);
};

// Sectors are 512 bytes and times milliseconds, whatever the device (node_exporter's factors).
constexpr double kSectorBytes = 512;
constexpr double kSecondsPerMs = 0.001;

const DiskRow kDiskRows[] = {
    {"node_disk_reads_completed_total", "The total number of reads completed successfully.",
     MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.reads_completed); }},
    {"node_disk_reads_merged_total", "The total number of reads merged.", MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.reads_merged); }},
    {"node_disk_read_bytes_total", "The total number of bytes read successfully.",
     MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.sectors_read) * kSectorBytes; }},
    {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
     MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.read_time_ms) * kSecondsPerMs; }},
    {"node_disk_writes_completed_total", "The total number of writes completed successfully.",
     MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.writes_completed); }},
    {"node_disk_writes_merged_total", "The number of writes merged.", MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.writes_merged); }},
    {"node_disk_written_bytes_total", "The total number of bytes written successfully.",
     MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.sectors_written) * kSectorBytes; }},
    {"node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes.", MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.write_time_ms) * kSecondsPerMs; }},
    {"node_disk_io_now", "The number of I/Os currently in progress.", MetricType::Gauge,
     [](const DiskStats& d) { return static_cast<double>(d.io_in_progress); }},
    {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.io_time_ms) * kSecondsPerMs; }},
    {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
     MetricType::Counter,
     [](const DiskStats& d) { return static_cast<double>(d.weighted_io_time_ms) * kSecondsPerMs; }},
};

struct NetRow {
  std::string_view name;
  std::string_view help;
  std::uint64_t NetInterfaceStats::*field;
};

const NetRow kNetRows[] = {
    {"node_network_receive_bytes_total", "Network device statistic receive_bytes.",
     &NetInterfaceStats::rx_bytes},
    {"node_network_receive_drop_total", "Network device statistic receive_drop.",
     &NetInterfaceStats::rx_dropped},
    {"node_network_receive_errs_total", "Network device statistic receive_errs.",
     &NetInterfaceStats::rx_errors},
    {"node_network_receive_packets_total", "Network device statistic receive_packets.",
     &NetInterfaceStats::rx_packets},
    {"node_network_transmit_bytes_total", "Network device statistic transmit_bytes.",
     &NetInterfaceStats::tx_bytes},
    {"node_network_transmit_drop_total", "Network device statistic transmit_drop.",
     &NetInterfaceStats::tx_dropped},
    {"node_network_transmit_errs_total", "Network device statistic transmit_errs.",
     &NetInterfaceStats::tx_errors},
    {"node_network_transmit_packets_total", "Network device statistic transmit_packets.",
     &NetInterfaceStats::tx_packets},
};

// The files of /sys/class/net/<device>/ node_network_info shows, in its labels' order (device
// between broadcast and duplex).
constexpr std::array<std::string_view, 5> kNetClassFiles = {"address", "broadcast", "duplex",
                                                            "ifalias", "operstate"};

// The os-release keys of node_os_info, in its labels' order.
constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kOsInfoLabels = {{
    {"build_id", "BUILD_ID"},
    {"id", "ID"},
    {"id_like", "ID_LIKE"},
    {"image_id", "IMAGE_ID"},
    {"image_version", "IMAGE_VERSION"},
    {"name", "NAME"},
    {"pretty_name", "PRETTY_NAME"},
    {"variant", "VARIANT"},
    {"variant_id", "VARIANT_ID"},
    {"version", "VERSION"},
    {"version_codename", "VERSION_CODENAME"},
    {"version_id", "VERSION_ID"},
}};

}  // namespace

UnameInfo SystemUname() {
  utsname u{};
  if (::uname(&u) != 0)
    return {};
  return UnameInfo{u.sysname, u.nodename, u.release, u.version, u.machine, u.domainname};
}

struct NodeCollector::State {
  explicit State(NodeCollectorOptions o)
      : options(std::move(o)),
        mount_points(options.mount_points_exclude),
        fs_types(options.fs_types_exclude),
        disks(options.diskstats_device_exclude),
        netdevs(options.netdev_device_exclude),
        statfs(options.statfs_timeout, options.statfs) {
    const std::string& proc = options.proc_root;
    stat_path = proc + "/stat";
    loadavg_path = proc + "/loadavg";
    meminfo_path = proc + "/meminfo";
    vmstat_path = proc + "/vmstat";
    diskstats_path = proc + "/diskstats";
    netdev_path = proc + "/1/net/dev";
    mountinfo_path = proc + "/1/mountinfo";
    pressure_paths = {proc + "/pressure/cpu", proc + "/pressure/memory", proc + "/pressure/io"};
    // "/" + "/etc/os-release" would do, but mount points are joined to it at every change.
    host_prefix = options.host_root;
    while (!host_prefix.empty() && host_prefix.back() == '/')
      host_prefix.pop_back();
    if (!options.now) {
      options.now = [] {
        return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
    }
  }

  ~State() {
    if (mountinfo_fd >= 0)
      ::close(mountinfo_fd);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  NodeCollectorOptions options;
  ExcludeRegex mount_points, fs_types, disks, netdevs;
  FilesystemStats statfs;
  KernelFileReader files;
  std::string stat_path, loadavg_path, meminfo_path, vmstat_path, diskstats_path, netdev_path,
      mountinfo_path;
  std::array<std::string, 3> pressure_paths;
  std::string host_prefix;  // host_root without its trailing slash ("" for /)

  // The mount table: held open to poll it, read again only when the kernel says it changed.
  int mountinfo_fd = -1;
  bool mountinfo_pollable = false;
  bool mounts_valid = false;
  std::string mountinfo_text, mountinfo_scratch;
  std::vector<Mount> mounts;              // filtered, each label set once
  std::vector<std::string> statfs_paths;  // <host_root><mount point> of each

  // os-release's keys and values, and when they were read.
  std::optional<std::vector<std::pair<std::string, std::string>>> os_release;
  std::optional<Clock::time_point> os_read_at;

  // Reused from scrape to scrape.
  std::optional<ProcStat> proc_stat;
  std::vector<MeminfoField> meminfo;
  std::vector<std::pair<std::string, std::uint64_t>> vmstat;
  std::vector<DiskStats> diskstats;
  std::vector<std::string> net_devices;  // the host's devices not excluded
  std::vector<std::array<std::string, kNetClassFiles.size()>> net_class;
  std::string name, help, dir;

  bool ReadMounts();
  bool ReadOsRelease();
};

bool NodeCollector::State::ReadMounts() {
  if (mountinfo_fd < 0) {
    mountinfo_fd = ::open(mountinfo_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (mountinfo_fd < 0)
      return false;
    // procfs signals a change of the mount table by POLLPRI; a copy in a test's tree cannot.
    struct statfs fs {};
    mountinfo_pollable = ::fstatfs(mountinfo_fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
    mounts_valid = false;
  }
  if (mounts_valid && mountinfo_pollable) {
    pollfd event{mountinfo_fd, POLLPRI, 0};
    if (::poll(&event, 1, 0) == 0)
      return true;  // unchanged: not read, a tenth of a millisecond on a node of 100 containers
  }
  if (!PreadAll(mountinfo_fd, mountinfo_scratch)) {
    ::close(mountinfo_fd);
    mountinfo_fd = -1;
    mounts_valid = false;
    return false;
  }
  if (mounts_valid && mountinfo_scratch == mountinfo_text)
    return true;
  mountinfo_text.swap(mountinfo_scratch);
  std::vector<MountEntry> entries;
  if (!ParseMountinfo(mountinfo_text, entries)) {
    mountinfo_text.clear();
    mounts_valid = false;
    return false;
  }
  mounts.clear();
  statfs_paths.clear();
  for (MountEntry& entry : entries) {
    // The type first: it leaves out most of a Docker host's mounts (overlay, nsfs) by a cheaper
    // memo.
    if (fs_types.Excludes(entry.fstype) || mount_points.Excludes(entry.mount_point))
      continue;
    // A mount point mounted over with the same device and type shows once, as node_exporter's.
    // (A scan: what the excludes leave is a handful of mounts.)
    const bool seen = std::any_of(mounts.begin(), mounts.end(), [&](const Mount& m) {
      return m.mount_point == entry.mount_point && m.device == entry.device &&
             m.fstype == entry.fstype;
    });
    if (seen)
      continue;
    statfs_paths.push_back(host_prefix + entry.mount_point);
    mounts.push_back({std::move(entry.device), std::move(entry.fstype),
                      std::move(entry.mount_point), entry.read_only});
  }
  mounts_valid = true;
  return true;
}

bool NodeCollector::State::ReadOsRelease() {
  const auto now = Clock::now();
  if (os_read_at && now - *os_read_at < kOsReleaseRefresh && now >= *os_read_at)
    return os_release.has_value();
  os_read_at = now;
  os_release.reset();
  for (const char* file : {"/etc/os-release", "/usr/lib/os-release"}) {
    std::string path = host_prefix + file;
    // /etc/os-release is a symlink to ../usr/lib/os-release on most systems; an absolute target
    // names the host's file, which is below host_root here.
    char target[4096];
    const ssize_t length = ::readlink(path.c_str(), target, sizeof target - 1);
    if (length > 0 && target[0] == '/' && !host_prefix.empty())
      path = host_prefix + std::string(target, static_cast<std::size_t>(length));
    const auto slash = path.rfind('/');
    auto text = files.ReadOnce(std::string_view(path).substr(0, slash),
                               std::string_view(path).substr(slash + 1));
    if (text) {
      os_release = ParseOsRelease(*text);
      return true;
    }
  }
  return false;
}

NodeCollector::NodeCollector(std::unique_ptr<State> state) : state_(std::move(state)) {}

NodeCollector::~NodeCollector() = default;

Result<std::shared_ptr<NodeCollector>> NodeCollector::Create(NodeCollectorOptions options) {
  for (const auto& [key, pattern] :
       {std::pair{"filesystem_mount_points_exclude", &options.mount_points_exclude},
        std::pair{"filesystem_fs_types_exclude", &options.fs_types_exclude},
        std::pair{"diskstats_device_exclude", &options.diskstats_device_exclude},
        std::pair{"netdev_device_exclude", &options.netdev_device_exclude}}) {
    try {
      std::regex compiled(*pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Error{
          fmt::format("{}: \"{}\" is not a regular expression: {}", key, *pattern, e.what())};
    }
  }
  return std::shared_ptr<NodeCollector>(
      new NodeCollector(std::make_unique<State>(std::move(options))));
}

std::vector<MetricFamily> NodeCollector::Collect() const {
  MetricFamilySink sink;
  CollectInto(sink);
  return std::move(sink).Finish();
}

void NodeCollector::WriteText(std::string& out) const {
  TextSink sink(out);
  CollectInto(sink);
}

void NodeCollector::CollectInto(Sink& out) const {
  std::lock_guard lock(mu_);
  State& s = *state_;
  struct Outcome {
    std::string_view collector;
    bool success;
    double seconds;
  };
  std::array<Outcome, 13> outcomes{};
  std::size_t collectors = 0;
  const auto run = [&](std::string_view collector, auto&& collect) {
    const auto start = Clock::now();
    const bool success = collect();
    outcomes.at(collectors++) = {collector, success,
                                 std::chrono::duration<double>(Clock::now() - start).count()};
  };

  run("cpu", [&] {
    s.proc_stat.reset();
    if (auto text = s.files.Read(s.stat_path))
      s.proc_stat = ParseProcStat(*text);
    if (!s.proc_stat)
      return false;
    out.Family("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.",
               MetricType::Counter);
    for (const CpuModeSeconds& cpu : s.proc_stat->cpus) {
      for (const auto& [mode, seconds] :
           {std::pair{"idle", cpu.idle}, std::pair{"iowait", cpu.iowait}, std::pair{"irq", cpu.irq},
            std::pair{"nice", cpu.nice}, std::pair{"softirq", cpu.softirq},
            std::pair{"steal", cpu.steal}, std::pair{"system", cpu.system},
            std::pair{"user", cpu.user}}) {
        out.Sample(seconds, {{"cpu", cpu.cpu}, {"mode", mode}});
      }
    }
    return true;
  });

  run("stat", [&] {
    if (!s.proc_stat)
      return false;  // the file the cpu collector read
    const ProcStat& stat = *s.proc_stat;
    const std::tuple<std::string_view, std::string_view, MetricType,
                     const std::optional<std::uint64_t>*>
        rows[] = {
            {"node_boot_time_seconds", "Node boot time, in unixtime.", MetricType::Gauge,
             &stat.boot_time},
            {"node_context_switches_total", "Total number of context switches.",
             MetricType::Counter, &stat.context_switches},
            {"node_forks_total", "Total number of forks.", MetricType::Counter, &stat.forks},
            {"node_intr_total", "Total number of interrupts serviced.", MetricType::Counter,
             &stat.interrupts},
            {"node_procs_blocked", "Number of processes blocked waiting for I/O to complete.",
             MetricType::Gauge, &stat.procs_blocked},
            {"node_procs_running", "Number of processes in runnable state.", MetricType::Gauge,
             &stat.procs_running},
        };
    for (const auto& [name, help, type, value] : rows) {
      if (!*value)
        continue;
      out.Family(name, help, type);
      out.Sample(static_cast<double>(**value));
    }
    return true;
  });

  run("loadavg", [&] {
    auto text = s.files.Read(s.loadavg_path);
    const auto load = text ? ParseLoadAverage(*text) : std::nullopt;
    if (!load)
      return false;
    out.Family("node_load1", "1m load average.", MetricType::Gauge);
    out.Sample(load->load1);
    out.Family("node_load5", "5m load average.", MetricType::Gauge);
    out.Sample(load->load5);
    out.Family("node_load15", "15m load average.", MetricType::Gauge);
    out.Sample(load->load15);
    return true;
  });

  run("meminfo", [&] {
    auto text = s.files.Read(s.meminfo_path);
    if (!text)
      return false;
    s.meminfo.clear();
    const bool parsed = ParseMeminfo(*text, s.meminfo);
    for (const MeminfoField& field : s.meminfo) {
      s.name.assign("node_memory_").append(field.name);
      s.help.assign("Memory information field ").append(field.name).append(".");
      out.Family(s.name, s.help, MetricType::Gauge);
      out.Sample(field.value);
    }
    return parsed && !s.meminfo.empty();
  });

  run("vmstat", [&] {
    auto text = s.files.Read(s.vmstat_path);
    if (!text)
      return false;
    s.vmstat.clear();
    const bool parsed = ParseVmstat(*text, s.vmstat);
    for (const auto& [field, value] : s.vmstat) {
      if (!IsDefaultVmstatField(field))
        continue;
      s.name.assign("node_vmstat_").append(field);
      s.help.assign("/proc/vmstat information field ").append(field).append(".");
      out.Family(s.name, s.help, MetricType::Untyped);
      out.Sample(static_cast<double>(value));
    }
    return parsed && !s.vmstat.empty();
  });

  run("filesystem", [&] {
    if (!s.ReadMounts())
      return false;
    const std::vector<StatfsOutcome> stats = s.statfs.Stat(s.statfs_paths);
    using Usage = double FilesystemUsage::*;
    // node_exporter's families, in its (alphabetical) order; a mount without an answer has only
    // device_error and readonly.
    const std::tuple<std::string_view, std::string_view, Usage> rows[] = {
        {"node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.",
         &FilesystemUsage::avail_bytes},
        {"node_filesystem_device_error",
         "Whether an error occurred while getting statistics for the given device.", nullptr},
        {"node_filesystem_files", "Filesystem total file nodes.", &FilesystemUsage::files},
        {"node_filesystem_files_free", "Filesystem total free file nodes.",
         &FilesystemUsage::files_free},
        {"node_filesystem_free_bytes", "Filesystem free space in bytes.",
         &FilesystemUsage::free_bytes},
        {"node_filesystem_readonly", "Filesystem read-only status.", nullptr},
        {"node_filesystem_size_bytes", "Filesystem size in bytes.", &FilesystemUsage::size_bytes},
    };
    for (const auto& [name, help, usage] : rows) {
      out.Family(name, help, MetricType::Gauge);
      const bool device_error = name == "node_filesystem_device_error";
      for (std::size_t i = 0; i < s.mounts.size(); ++i) {
        const Mount& mount = s.mounts[i];
        const bool answered = stats[i].state == StatfsOutcome::State::kOk;
        double value = 0;
        if (usage != nullptr) {
          if (!answered)
            continue;
          value = stats[i].usage.*usage;
        } else {
          value = device_error ? (answered ? 0 : 1) : (mount.read_only ? 1 : 0);
        }
        out.Sample(value, {{"device", mount.device},
                           {"fstype", mount.fstype},
                           {"mountpoint", mount.mount_point}});
      }
    }
    return true;
  });

  run("diskstats", [&] {
    auto text = s.files.Read(s.diskstats_path);
    if (!text)
      return false;
    s.diskstats.clear();
    const bool parsed = ParseDiskstats(*text, s.diskstats);
    std::erase_if(s.diskstats, [&](const DiskStats& d) { return s.disks.Excludes(d.device); });
    for (const DiskRow& row : kDiskRows) {
      out.Family(row.name, row.help, row.type);
      for (const DiskStats& disk : s.diskstats)
        out.Sample(row.get(disk), {{"device", disk.device}});
    }
    return parsed;
  });

  run("netdev", [&] {
    s.net_devices.clear();
    auto text = s.files.Read(s.netdev_path);
    auto devices = text ? ParseNetDev(*text) : std::nullopt;
    if (!devices)
      return false;
    std::erase_if(*devices, [&](const NetInterfaceStats& d) { return s.netdevs.Excludes(d.name); });
    for (const NetRow& row : kNetRows) {
      out.Family(row.name, row.help, MetricType::Counter);
      for (const NetInterfaceStats& device : *devices)
        out.Sample(static_cast<double>(device.*row.field), {{"device", device.name}});
    }
    for (NetInterfaceStats& device : *devices)
      s.net_devices.push_back(std::move(device.name));
    return true;
  });

  run("netclass", [&] {
    bool success = true;
    s.net_class.resize(s.net_devices.size());
    for (std::size_t i = 0; i < s.net_devices.size(); ++i) {
      const std::string& device = s.net_devices[i];
      s.dir.assign(s.host_prefix).append("/sys/class/net/").append(device);
      s.name.assign("netclass/").append(device);
      KernelFileReader::FileSet& set = s.files.Files(s.name);
      for (std::size_t f = 0; f < kNetClassFiles.size(); ++f) {
        // A value the device does not have (duplex of a virtual one) reads as an error: "".
        auto text = s.files.Read(set, f, s.dir, kNetClassFiles[f]);
        s.net_class[i][f].assign(text ? TrimNewline(*text) : std::string_view());
      }
      if (set.readable() == 0)
        success = false;  // no such device in host_root's /sys: not the host's network?
    }
    out.Family("node_network_info",
               "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
               MetricType::Gauge);
    for (std::size_t i = 0; i < s.net_devices.size(); ++i) {
      const auto& values = s.net_class[i];
      out.Sample(1, {{"address", values[0]},
                     {"broadcast", values[1]},
                     {"device", s.net_devices[i]},
                     {"duplex", values[2]},
                     {"ifalias", values[3]},
                     {"operstate", values[4]}});
    }
    out.Family("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.",
               MetricType::Gauge);
    for (std::size_t i = 0; i < s.net_devices.size(); ++i)
      out.Sample(s.net_class[i][4] == "up" ? 1 : 0, {{"device", s.net_devices[i]}});
    return success;
  });

  run("pressure", [&] {
    std::array<std::optional<PressureTotals>, 3> totals;
    for (std::size_t i = 0; i < totals.size(); ++i) {
      if (auto text = s.files.Read(s.pressure_paths[i]))
        totals[i] = ParsePressure(*text);
    }
    const auto seconds = [](std::optional<std::uint64_t> us) -> std::optional<double> {
      if (!us)
        return std::nullopt;
      return static_cast<double>(*us) / 1000.0 / 1000.0;  // node_exporter's rounding
    };
    const std::tuple<std::string_view, std::string_view, std::optional<double>> rows[] = {
        {"node_pressure_cpu_waiting_seconds_total",
         "Total time in seconds that processes have waited for CPU time",
         totals[0] ? seconds(totals[0]->some_us) : std::nullopt},
        {"node_pressure_io_stalled_seconds_total",
         "Total time in seconds no process could make progress due to IO congestion",
         totals[2] ? seconds(totals[2]->full_us) : std::nullopt},
        {"node_pressure_io_waiting_seconds_total",
         "Total time in seconds that processes have waited due to IO congestion",
         totals[2] ? seconds(totals[2]->some_us) : std::nullopt},
        {"node_pressure_memory_stalled_seconds_total",
         "Total time in seconds no process could make progress due to memory congestion",
         totals[1] ? seconds(totals[1]->full_us) : std::nullopt},
        {"node_pressure_memory_waiting_seconds_total",
         "Total time in seconds that processes have waited for memory",
         totals[1] ? seconds(totals[1]->some_us) : std::nullopt},
    };
    for (const auto& [name, help, value] : rows) {
      if (!value)
        continue;
      out.Family(name, help, MetricType::Counter);
      out.Sample(*value);
    }
    return totals[0] && totals[1] && totals[2];
  });

  run("time", [&] {
    out.Family("node_time_seconds", "System time in seconds since epoch (1970).",
               MetricType::Gauge);
    out.Sample(s.options.now());
    return true;
  });

  run("uname", [&] {
    const UnameInfo uname = s.options.uname();
    if (uname.sysname.empty())
      return false;
    std::string host_name = s.options.host_name ? s.options.host_name() : std::string();
    out.Family("node_uname_info",
               "Labeled system information as provided by the uname system call.",
               MetricType::Gauge);
    out.Sample(1, {{"domainname", uname.domainname},
                   {"machine", uname.machine},
                   {"nodename", host_name.empty() ? uname.nodename : host_name},
                   {"release", uname.release},
                   {"sysname", uname.sysname},
                   {"version", uname.version}});
    return true;
  });

  run("os", [&] {
    if (!s.ReadOsRelease())
      return false;
    const auto value = [&](std::string_view key) -> std::string_view {
      for (const auto& [k, v] : *s.os_release) {
        if (k == key)
          return v;
      }
      return {};
    };
    std::array<LabelView, kOsInfoLabels.size()> labels;
    for (std::size_t i = 0; i < labels.size(); ++i)
      labels[i] = {kOsInfoLabels[i].first, value(kOsInfoLabels[i].second)};
    out.Family("node_os_info",
               "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
               "image_version, name, pretty_name, variant, variant_id, version, "
               "version_codename, version_id.",
               MetricType::Gauge);
    out.Sample(1, labels);
    if (const double version = OsVersion(value("VERSION_ID")); version > 0) {
      out.Family("node_os_version", "Metric containing the major.minor part of the OS version.",
                 MetricType::Gauge);
      out.Sample(version,
                 {{"id", value("ID")}, {"id_like", value("ID_LIKE")}, {"name", value("NAME")}});
    }
    return true;
  });

  if (s.options.swarm_node_id) {
    if (const std::string node_id = s.options.swarm_node_id(); !node_id.empty()) {
      const std::string node_name = s.options.node_name ? s.options.node_name() : std::string();
      out.Family("swarm_node_meta",
                 "The Swarm node this agent's host is, always 1: joins node_* series to Swarm "
                 "nodes by instance.",
                 MetricType::Gauge);
      out.Sample(1, {{"node_id", node_id}, {"node_name", node_name}});
    }
  }

  out.Family("node_scrape_collector_duration_seconds",
             "node_exporter: Duration of a collector scrape.", MetricType::Gauge);
  for (std::size_t i = 0; i < collectors; ++i)
    out.Sample(outcomes[i].seconds, {{"collector", outcomes[i].collector}});
  out.Family("node_scrape_collector_success", "node_exporter: Whether a collector succeeded.",
             MetricType::Gauge);
  for (std::size_t i = 0; i < collectors; ++i)
    out.Sample(outcomes[i].success ? 1 : 0, {{"collector", outcomes[i].collector}});
  s.files.CloseUnused();
}

}  // namespace swarmwatch
