// The agent's "/" page: one self-contained HTML page (no external assets, readable on a phone,
// refreshing itself) with the node, its engine, each container's service, CPU and memory with a
// sparkline of the agent's own samples, log shipping lag and errors, and web services' request
// rates.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "agent/container_info.h"
#include "agent/daemon/http_server.h"
#include "agent/daemon/status_history.h"
#include "agent/docker_api.h"

namespace swarmwatch {

struct StatusPageData {
  std::string node;
  std::string version;
  std::optional<EngineInfo> engine;
  bool ready = false;
  ContainerSnapshot containers;
  const StatusHistory* history = nullptr;
  std::string loki_url;         // empty: logs are not shipped
  std::string loki_error;       // the last push error, empty when the last push succeeded
  std::string positions_error;  // why the last save of the positions file failed, or empty
  std::map<std::string, std::uint64_t> log_lag;  // by container id
  // Unread bytes of rotated or deleted log files held open (through a Loki outage).
  std::uint64_t held_log_bytes = 0;
  std::map<std::string, double> request_rates;   // by service, requests per second
  std::map<std::string, double> request_totals;  // by service
  int refresh_seconds = 10;
};

HttpResponse RenderStatusPage(const StatusPageData& data);

// An inline SVG polyline of `values` scaled to [0, max(values)], or "" for fewer than two.
std::string Sparkline(std::span<const double> values, int width = 120, int height = 24);

// &, <, >, " and ' as entities.
std::string HtmlEscape(std::string_view text);

}  // namespace swarmwatch
