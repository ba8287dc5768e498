#include "agent/daemon/agent.h"

#include <fmt/format.h>

#include "agent/container_catalog.h"
#include "agent/curl_docker_api.h"
#include "agent/daemon/http_server.h"
#include "agent/daemon/metrics_endpoint.h"
#include "agent/daemon/self_metrics.h"
#include "agent/daemon/status_page.h"
#include "agent/log.h"
#include "exporters/container_collector.h"

namespace swarmwatch {

// Declared in the order they start; destroyed in reverse, so the HTTP server stops first.
struct Agent::Parts {
  std::shared_ptr<ContainerCatalog> catalog;
  std::shared_ptr<SelfMetrics> self;
  std::shared_ptr<ContainerCollector> containers;
  std::unique_ptr<MetricsEndpoint> metrics;
  std::unique_ptr<HttpServer> http;
};

namespace {

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
  parts->catalog->Start();
  parts->self = std::make_shared<SelfMetrics>(parts->catalog);

  ContainerCollectorOptions collector_options;
  collector_options.container_labels = config.container_labels;
  collector_options.on_error = [self = parts->self.get()](std::string_view source) {
    self->CountError(source);
  };
  collector_options.on_vanished = [self = parts->self.get()] { self->CountVanishedContainer(); };
  parts->containers = std::make_shared<ContainerCollector>(
      [catalog = parts->catalog] { return catalog->Snapshot(); },
      CgroupReader(config.cgroup_root, *version), ProcReader(config.proc_root),
      std::move(collector_options));
  parts->metrics = std::make_unique<MetricsEndpoint>(
      std::vector<std::shared_ptr<prometheus::Collectable>>{parts->containers, parts->self},
      *parts->self);

  const ContainerCatalog* catalog = parts->catalog.get();
  const MetricsEndpoint* metrics = parts->metrics.get();
  const std::string docker_host = config.docker_host;
  const std::string node_name = config.node_name;
  auto http = HttpServer::Start(
      *listen,
      {
          {"/metrics", [metrics] { return metrics->Serve(); }},
          {"/healthz",
           [] {
             return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
           }},
          {"/ready",
           [catalog, docker_host] {
             if (catalog->Ready())
               return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"};
             return HttpResponse{
                 503, "text/plain; charset=utf-8",
                 fmt::format("not ready: not synced with the Docker engine at {}\n", docker_host)};
           }},
          {"/", [catalog, node_name] { return RenderStatusPage(*catalog, node_name); }},
      });
  if (!http.ok())
    return Error{fmt::format("listen_address: {}", http.error().message)};
  parts->http = std::move(http).value();

  const auto ports = parts->http->ListeningPorts();
  const std::string host = listen->host.empty() ? "0.0.0.0" : listen->host;
  log::Info("listening on http://{}:{}/metrics (cgroup v{}, docker {})", host,
            ports.empty() ? 0 : ports.front(), *version == CgroupVersion::kV1 ? 1 : 2,
            config.docker_host);
  return std::unique_ptr<Agent>(new Agent(std::move(parts)));
}

Agent::Agent(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Agent::~Agent() {
  parts_->http.reset();
  parts_->catalog->Stop();
}

std::vector<int> Agent::ListeningPorts() const {
  return parts_->http->ListeningPorts();
}

}  // namespace swarmwatch
