// Container metrics under cAdvisor's names, read from cgroups and procfs when Prometheus scrapes,
// for exactly the containers the catalog lists (plus the root cgroup as id="/").
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/container_info.h"
#include "exporters/cgroup_reader.h"
#include "exporters/proc_reader.h"

namespace swarmwatch {

struct ContainerCollectorOptions {
  // Docker labels exported as container_label_<name with [^a-zA-Z0-9_] replaced by _>.
  std::vector<std::string> container_labels;
  // Told of each failed read, by source ("cgroup", "proc"), and of containers gone mid-scrape.
  std::function<void(std::string_view source)> on_error = [](std::string_view) {};
  std::function<void()> on_vanished = [] {};
  // Seconds since the epoch; replaceable so tests get a fixed container_last_seen.
  std::function<double()> now;
};

class ContainerCollector : public prometheus::Collectable {
 public:
  ContainerCollector(std::function<ContainerSnapshot()> containers, CgroupReader cgroups,
                     ProcReader proc, ContainerCollectorOptions options);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<ContainerSnapshot()> containers_;
  CgroupReader cgroups_;
  ProcReader proc_;
  ContainerCollectorOptions options_;
  std::vector<std::string> label_names_;  // container_label_* for each allowlisted label
};

// "com.docker.swarm.service.name" -> "container_label_com_docker_swarm_service_name".
std::string ContainerLabelName(std::string_view docker_label);

}  // namespace swarmwatch
