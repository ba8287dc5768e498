#include "agent/daemon/agent.h"

#include <fmt/format.h>

#include "agent/build_info.h"
#include "agent/container_catalog.h"
#include "agent/curl_docker_api.h"
#include "agent/daemon/http_server.h"
#include "agent/daemon/metrics_endpoint.h"
#include "agent/daemon/self_metrics.h"
#include "agent/daemon/status_page.h"
#include "agent/daemon/status_sampler.h"
#include "agent/log.h"
#include "agent/url_userinfo.h"
#include "exporters/container_collector.h"
#include "exporters/node_collector.h"
#include "exporters/request_metrics.h"
#include "exporters/swarm_collector.h"
#include "exporters/task_oom_events.h"
#include "shippers/log_shipper.h"

namespace swarmwatch {

// Declared in the order they start; destroyed in reverse, so the HTTP server stops first.
struct Agent::Parts {
  std::shared_ptr<ContainerCatalog> catalog;
  std::shared_ptr<SelfMetrics> self;
  std::shared_ptr<ContainerCollector> containers;
  std::shared_ptr<SwarmCollector> swarm;
  std::shared_ptr<TaskOomEvents> task_ooms;
  std::shared_ptr<NodeCollector> node;  // null unless host_metrics
  std::shared_ptr<RequestMetrics> requests;
  std::unique_ptr<LogShipper> shipper;
  std::shared_ptr<StatusHistory> history;
  std::unique_ptr<StatusSampler> sampler;
  std::unique_ptr<MetricsEndpoint> metrics;
  std::unique_ptr<HttpServer> http;
};

namespace {

// One field of the engine's /info as last synced; empty before the first sync.
std::function<std::string()> EngineField(std::shared_ptr<ContainerCatalog> catalog,
                                         std::string EngineInfo::*field) {
  return [catalog = std::move(catalog), field] {
    auto engine = catalog->Engine();
    return engine ? (*engine).*field : std::string();
  };
}

std::function<std::string()> NodeName(const Config& config,
                                      std::shared_ptr<ContainerCatalog> catalog) {
  return [engine_name = EngineField(std::move(catalog), &EngineInfo::name),
          name = config.node_name] { return name.empty() ? engine_name() : name; };
}

Result<std::shared_ptr<RequestMetrics>> MakeRequestMetrics(
    const Config& config, std::shared_ptr<ContainerCatalog> catalog) {
  RequestMetricsOptions options;
  for (const std::string& format : config.access_log_formats) {
    // name=syntax:definition, checked by the config.
    const std::size_t eq = format.find('=');
    const std::size_t colon = format.find(':', eq);
    options.formats.push_back({format.substr(0, eq),
                               format.compare(eq + 1, colon - eq - 1, "nginx") == 0
                                   ? AccessLogSyntax::kNginx
                                   : AccessLogSyntax::kApache,
                               format.substr(colon + 1)});
  }
  options.routes = config.access_log_routes;
  options.duration_buckets = config.access_log_duration_buckets;
  options.size_buckets = config.access_log_size_buckets;
  options.node_name = NodeName(config, std::move(catalog));
  options.not_before_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  auto metrics = RequestMetrics::Create(std::move(options));
  if (!metrics.ok()) {
    const std::string& message = metrics.error().message;
    return Error{fmt::format(
        "{}: {}", message.starts_with("route pattern") ? "access_log_routes" : "access_log_formats",
        message)};
  }
  return metrics;
}

// Without loki_url the shipper ships nothing and follows only the containers whose lines the
// consumers want.
Result<std::unique_ptr<LogShipper>> MakeShipper(
    const Config& config, const std::shared_ptr<ContainerCatalog>& catalog,
    std::vector<std::shared_ptr<LogLineConsumer>> consumers) {
  // LoadConfig read the password and token files, and refused a URL with user:password@ given
  // together with loki_username or a password: the client takes the URL's when these are empty.
  LokiClientOptions client;
  client.url = config.loki_url;
  client.tenant = config.loki_tenant;
  client.basic_auth_user = config.loki_username;
  client.basic_auth_password = config.loki_password;
  client.bearer_token = config.loki_bearer_token;
  client.tls_ca_file = config.loki_ca_file;
  client.tls_cert_file = config.loki_cert_file;
  client.tls_key_file = config.loki_key_file;
  client.timeout = config.loki_timeout;
  client.format = config.loki_format == "json" ? LokiFormat::kJson : LokiFormat::kProtobuf;

  LogShipperOptions options;
  options.docker_root = config.docker_root;
  options.positions_file = config.positions_file;
  options.node_name = NodeName(config, catalog);
  options.consumers = std::move(consumers);
  options.job = config.loki_job;
  for (const std::string& label : config.loki_labels) {
    const std::size_t eq = label.find('=');
    options.static_labels.emplace_back(label.substr(0, eq), label.substr(eq + 1));
  }
  options.batch_bytes = config.loki_batch_bytes;
  options.batch_wait = config.loki_batch_wait;
  options.read_ahead_bytes = config.read_ahead_bytes;
  options.held_logs_bytes = config.held_logs_bytes;
  options.max_line_bytes = config.max_line_bytes;
  options.start = config.start_position == "end" ? StartAt::kEnd : StartAt::kOldest;
  options.max_attempts = config.loki_max_retries;
  std::unique_ptr<LogPushTarget> target;
  if (!config.loki_url.empty())
    target = std::make_unique<LokiPushTarget>(std::move(client));
  return std::make_unique<LogShipper>([catalog] { return catalog->Snapshot(); }, std::move(target),
                                      std::move(options));
}

Result<std::shared_ptr<NodeCollector>> MakeNodeCollector(
    const Config& config, const std::shared_ptr<ContainerCatalog>& catalog) {
  NodeCollectorOptions options;
  options.proc_root = config.proc_root;
  options.host_root = config.host_root;
  options.mount_points_exclude = config.filesystem_mount_points_exclude;
  options.fs_types_exclude = config.filesystem_fs_types_exclude;
  options.diskstats_device_exclude = config.diskstats_device_exclude;
  options.netdev_device_exclude = config.netdev_device_exclude;
  options.statfs_timeout = config.statfs_timeout;
  options.host_name = EngineField(catalog, &EngineInfo::name);
  options.swarm_node_id = EngineField(catalog, &EngineInfo::swarm_node_id);
  options.node_name = NodeName(config, catalog);
  return NodeCollector::Create(std::move(options));
}

Result<CgroupVersion> ChooseCgroupVersion(const Config& config) {
  if (config.cgroup_version == "1")
    return CgroupVersion::kV1;
  if (config.cgroup_version == "2")
    return CgroupVersion::kV2;
  return DetectCgroupVersion(config.cgroup_root);
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::Start(const Config& config) {
  auto parts = std::make_unique<Parts>();

  auto version = ChooseCgroupVersion(config);
  if (!version.ok())
    return Error{fmt::format("cgroup_root: {}", version.error().message)};
  auto listen = ParseListenAddress(config.listen_address);
  if (!listen.ok())
    return Error{fmt::format("listen_address: {}", listen.error().message)};
  auto docker = CurlDockerApi::Create(config.docker_host);
  if (!docker.ok())
    return Error{fmt::format("docker_host: {}", docker.error().message)};

  ContainerCatalogOptions catalog_options;
  catalog_options.proc_root = config.proc_root;
  parts->catalog = std::make_shared<ContainerCatalog>(std::move(docker).value(), catalog_options);
  // Subscribed before the first event can arrive. The counter holds the catalog (it reads its
  // snapshot); the catalog holds the counter weakly, so the two make no cycle.
  parts->task_ooms =
      std::make_shared<TaskOomEvents>([catalog = parts->catalog] { return catalog->Snapshot(); });
  parts->catalog->SubscribeEvents([ooms = std::weak_ptr(parts->task_ooms)](const DockerEvent& e) {
    if (auto counter = ooms.lock())
      counter->OnEvent(e);
  });
  parts->catalog->Start();
  parts->self = std::make_shared<SelfMetrics>(parts->catalog);

  ContainerCollectorOptions collector_options;
  collector_options.container_labels = config.container_labels;
  collector_options.on_error = [self = parts->self.get()](std::string_view source) {
    self->CountError(source);
  };
  collector_options.on_vanished = [self = parts->self.get()] { self->CountVanishedContainer(); };
  parts->history = std::make_shared<StatusHistory>();
  collector_options.on_sample = [history = parts->history.get()](const ContainerInfo& c, double now,
                                                                 const CgroupStats& stats) {
    history->RecordContainer(
        c.id, now, stats.cpu.usage_seconds,
        stats.memory.working_set_bytes
            ? std::optional<double>(static_cast<double>(*stats.memory.working_set_bytes))
            : std::nullopt,
        stats.spec.memory_limit_bytes);
  };
  parts->containers = std::make_shared<ContainerCollector>(
      [catalog = parts->catalog] { return catalog->Snapshot(); },
      CgroupReader(config.cgroup_root, *version), ProcReader(config.proc_root),
      std::move(collector_options));
  // Scrapes every few seconds from each Prometheus: one read of the cluster serves them all.
  parts->swarm = std::make_shared<SwarmCollector>(
      [catalog = parts->catalog] { return catalog->Swarm(std::chrono::seconds(5)); },
      [self = parts->self.get()](std::string_view source) { self->CountError(source); });
  std::vector<std::shared_ptr<prometheus::Collectable>> sources{parts->containers, parts->swarm,
                                                                parts->task_ooms, parts->self};
  if (config.host_metrics) {
    auto node = MakeNodeCollector(config, parts->catalog);
    if (!node.ok())
      return node.error();
    parts->node = std::move(node).value();
    sources.push_back(parts->node);
    log::Info("host metrics (node_*) from {} with the host's / at {}", config.proc_root,
              config.host_root);
    // The procfs is the host's but / is the agent's own: in a container, statfs, os-release and
    // /sys/class/net would then describe the container, not the host.
    if (config.host_root == "/" && config.proc_root != "/proc") {
      log::Warn(
          "proc_root is {} but host_root is /: node_filesystem_*, node_os_* and node_network_info "
          "describe this agent's own root; mount the host's / (e.g. /:/host:ro,rslave) and set "
          "host_root",
          config.proc_root);
    }
  } else {
    log::Info("host_metrics is false: no node_* metrics");
  }
  auto requests = MakeRequestMetrics(config, parts->catalog);
  if (!requests.ok())
    return requests.error();
  parts->requests = std::move(requests).value();
  sources.push_back(parts->requests->metrics());
  auto shipper = MakeShipper(config, parts->catalog, {parts->requests});
  if (!shipper.ok())
    return shipper.error();
  parts->shipper = std::move(shipper).value();
  sources.push_back(parts->shipper->metrics());
  parts->catalog->Subscribe(
      [shipper = parts->shipper.get()](const ContainerInfo& c, bool) { shipper->Announce(c); });
  parts->shipper->Start();
  if (config.loki_url.empty()) {
    log::Info(
        "no loki_url: container logs are not shipped (access logs still give request "
        "metrics)");
  } else {
    log::Info("shipping container logs to {}", RedactUrl(config.loki_url));
  }
  parts->metrics = std::make_unique<MetricsEndpoint>(std::move(sources), *parts->self);

  StatusSamplerSources sampled;
  sampled.read_containers = [containers = parts->containers] { (void)containers->Collect(); };
  sampled.request_totals = [requests = parts->requests] { return requests->TotalsByService(); };
  sampled.container_ids = [catalog = parts->catalog] {
    std::vector<std::string> ids;
    for (const auto& [id, c] : *catalog->Snapshot())
      ids.push_back(id);
    return ids;
  };
  sampled.now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  parts->sampler =
      std::make_unique<StatusSampler>(parts->history, std::move(sampled), std::chrono::seconds(10));

  const ContainerCatalog* catalog = parts->catalog.get();
  const MetricsEndpoint* metrics = parts->metrics.get();
  const std::string docker_host = config.docker_host;
  const std::string node_name = config.node_name;
  auto http = HttpServer::Start(
      *listen,
      {
          {"/metrics",
           [metrics, sampler = parts->sampler.get()] {
             HttpResponse response = metrics->Serve();
             sampler->AfterScrape();
             return response;
           }},
          {"/healthz",
           [] {
             return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
           }},
          {"/ready",
           [catalog, docker_host, shipper = parts->shipper.get()] {
             if (!catalog->Ready()) {
               return HttpResponse{
                   503, "text/plain; charset=utf-8",
                   fmt::format("not ready: not synced with the Docker engine at {}\n",
                               docker_host)};
             }
             // Delivered lines whose positions cannot be kept would be sent again by a restart.
             if (std::string error = shipper->positions_save_error(); !error.empty()) {
               return HttpResponse{
                   503, "text/plain; charset=utf-8",
                   fmt::format("not ready: cannot save log positions: {}\n", error)};
             }
             return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"};
           }},
          {"/",
           [parts = parts.get(), node_name, loki_url = config.loki_url] {
             parts->sampler->BeforePageView();
             StatusPageData data;
             data.engine = parts->catalog->Engine();
             data.node = !node_name.empty() ? node_name : data.engine ? data.engine->name : "";
             data.version = Version();
             data.ready = parts->catalog->Ready();
             data.containers = parts->catalog->Snapshot();
             data.history = parts->history.get();
             data.loki_url = loki_url;
             data.loki_error = parts->shipper->last_error();
             data.positions_error = parts->shipper->positions_save_error();
             if (!loki_url.empty()) {
               data.log_lag = parts->shipper->Lags();
               data.held_log_bytes = parts->shipper->held_bytes();
             }
             data.request_rates = parts->history->RequestRates();
             data.request_totals = parts->requests->TotalsByService();
             return RenderStatusPage(data);
           }},
      });
  if (!http.ok())
    return Error{fmt::format("listen_address: {}", http.error().message)};
  parts->http = std::move(http).value();

  const auto ports = parts->http->ListeningPorts();
  log::Info("listening on http://{}/metrics (cgroup v{}, docker {})",
            listen->HostPort(ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front())),
            *version == CgroupVersion::kV1 ? 1 : 2, config.docker_host);
  return std::unique_ptr<Agent>(new Agent(std::move(parts)));
}

Agent::Agent(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Agent::~Agent() {
  parts_->http.reset();
  parts_->shipper->Stop();
  parts_->catalog->Stop();
}

std::vector<int> Agent::ListeningPorts() const {
  return parts_->http->ListeningPorts();
}

}  // namespace swarmwatch
