// The host's metrics under node_exporter's names, types, labels and help texts (node_*), read when
// Prometheus scrapes: what node_exporter's cpu, stat, loadavg, meminfo, vmstat, filesystem,
// diskstats, netdev, netclass, pressure, time, uname and os collectors export of them, so that
// dashboards and alerts written for node_exporter work unchanged; plus swarm_node_meta, which joins
// the node's series to its Swarm node.
//
// Sources, below two roots so that the agent can run in a container with the host's / mounted at
// host_root (proc_root is the host's procfs, usually <host_root>/proc):
// - <proc_root>/{stat,loadavg,meminfo,vmstat,diskstats,pressure/*}, held open and pread (see
//   KernelFileReader); <proc_root>/1/net/dev, the host's network namespace (pid 1's);
// - <proc_root>/1/mountinfo: the host's mounts as its init sees them, so mount points read as on
//   the host. Read again only when poll() says the mount table changed, filtered again only when
//   its text did (regexes are slow), then statfs of <host_root><mount point> off the scrape's
//   thread (see FilesystemStats);
// - <host_root>/sys/class/net/<device>/{operstate,address,broadcast,duplex,ifalias};
// - <host_root>/etc/os-release, else <host_root>/usr/lib/os-release, read once a minute;
// - uname(2), whose nodename in a container is the container's: the engine's name is the host's
//   (see NodeCollectorOptions::host_name).
// A source that fails (a file missing) sets node_scrape_collector_success{collector} to 0 and the
// scrape goes on with the others.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/result.h"
#include "exporters/filesystem_stats.h"
#include "exporters/text_format.h"

namespace swarmwatch {

// What uname(2) answers, the labels of node_uname_info.
struct UnameInfo {
  std::string sysname, nodename, release, version, machine, domainname;
};
UnameInfo SystemUname();

struct NodeCollectorOptions {
  std::string proc_root = "/proc";
  std::string host_root = "/";
  // Regexes (ECMAScript), searched in the name as node_exporter's are; the config's defaults are
  // node_exporter's. Empty: nothing excluded.
  std::string mount_points_exclude;
  std::string fs_types_exclude;
  std::string diskstats_device_exclude;
  std::string netdev_device_exclude;
  std::chrono::milliseconds statfs_timeout{1000};
  StatfsFunction statfs = SystemStatfs;
  std::function<UnameInfo()> uname = SystemUname;
  // The host's name as its engine reports it, for node_uname_info's nodename (empty: unknown, then
  // uname's). In a container uname(2) answers the container's UTS namespace, and so does
  // <proc_root>/sys/kernel/hostname, whichever procfs it is read through: the kernel answers the
  // reader's namespace. The engine runs in the host's, and its /info Name is the host's hostname.
  std::function<std::string()> host_name;
  // The engine's Swarm node id (empty outside a Swarm) and the agent's node name, for
  // swarm_node_meta{node_id,node_name} (absent without a node id).
  std::function<std::string()> swarm_node_id;
  std::function<std::string()> node_name;
  // Seconds since the epoch (node_time_seconds); replaceable for tests.
  std::function<double()> now;
};

class NodeCollector : public prometheus::Collectable, public TextExposable {
 public:
  // Fails when a regex does not compile, naming the option.
  static Result<std::shared_ptr<NodeCollector>> Create(NodeCollectorOptions options);
  ~NodeCollector() override;

  std::vector<prometheus::MetricFamily> Collect() const override;
  void WriteText(std::string& out) const override;

  class Sink;    // where a scrape's samples go (text or MetricFamily objects)
  struct State;  // files held open, caches

 private:
  explicit NodeCollector(std::unique_ptr<State> state);
  void CollectInto(Sink& out) const;

  std::unique_ptr<State> state_;
  mutable std::mutex mu_;  // one scrape at a time: the readers keep files open, share a buffer
};

}  // namespace swarmwatch
