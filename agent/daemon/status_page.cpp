#include "agent/daemon/status_page.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "agent/url_userinfo.h"

namespace swarmwatch {
namespace {

std::string Bytes(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024)
    return fmt::format("{:.1f} GiB", bytes / (1024.0 * 1024 * 1024));
  if (bytes >= 1024.0 * 1024)
    return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024));
  if (bytes >= 1024.0)
    return fmt::format("{:.1f} KiB", bytes / 1024.0);
  return fmt::format("{:.0f} B", bytes);
}

// A Swarm task's container is named <service>.<slot>.<task id>: the id only makes it long.
std::string ShortName(const ContainerInfo& c) {
  const std::string_view name = c.name;
  const std::string_view service = c.Label(kSwarmServiceName);
  if (service.empty() || !name.starts_with(service) || name.size() <= service.size() + 1)
    return c.name;
  const std::size_t dot = name.find('.', service.size() + 1);
  return std::string(name.substr(0, dot));
}

// cAdvisor reports "no limit" as a huge number; anything beyond 2^60 is no limit.
bool IsLimit(std::optional<double> limit) {
  return limit && *limit > 0 && *limit < 1.15e18;
}

constexpr std::string_view kStyle = R"(
:root{color-scheme:light dark;--muted:#888;--line:#8884}
body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;max-width:1100px}
h1{font-size:1.3em;margin:0 0 4px}h2{font-size:1.1em;margin:18px 0 6px}
.meta{color:var(--muted);margin:0 0 8px;display:flex;flex-wrap:wrap;gap:2px 14px}
.meta>span{overflow-wrap:anywhere}
.bad{color:#d33}.ok{color:#2a2}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:middle}
th{font-size:.85em;color:var(--muted);font-weight:600}td.n{text-align:right;white-space:nowrap}
svg{display:block;margin-top:2px}polyline{fill:none;stroke:currentColor;stroke-width:1.5}
td small{display:block}td:first-child{overflow-wrap:anywhere;max-width:50vw}
.cpu{color:#3b82f6}.mem{color:#a855f7}small{color:var(--muted)}
@media (max-width:600px){.wide{display:none}body{padding:8px}th,td{padding:4px 3px}}
)";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(ch);
    }
  }
  return out;
}

std::string Sparkline(std::span<const double> values, int width, int height) {
  if (values.size() < 2)
    return "";
  const double top = std::max(*std::max_element(values.begin(), values.end()), 1e-12);
  std::string points;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double x = static_cast<double>(i) * width / static_cast<double>(values.size() - 1);
    const double y = height - 1 - std::clamp(values[i] / top, 0.0, 1.0) * (height - 2);
    points += fmt::format("{}{:.1f},{:.1f}", i == 0 ? "" : " ", x, y);
  }
  return fmt::format(
      R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img"><polyline points="{2}"/></svg>)",
      width, height, points);
}

HttpResponse RenderStatusPage(const StatusPageData& data) {
  std::string containers;
  int running = 0;
  for (const auto& [id, c] : *data.containers) {
    running += c.running ? 1 : 0;
    std::string figures;  // data-* attributes, for scripts and tests
    std::string cpu = "–";
    std::string cpu_line;
    std::string memory = "–";
    std::string memory_line;
    if (data.history != nullptr && c.running) {
      if (auto series = data.history->Container(id)) {
        const std::vector<double> cores = series->CpuCores();
        if (!cores.empty()) {
          cpu = fmt::format("{:.3f}", cores.back());
          figures += fmt::format(R"( data-cpu="{:.4f}")", cores.back());
        }
        cpu_line = Sparkline(cores, 90, 22);
        if (!series->points.empty()) {
          memory = Bytes(series->points.back().memory_bytes);
          figures += fmt::format(R"( data-memory="{:.0f}")", series->points.back().memory_bytes);
          if (IsLimit(series->memory_limit_bytes))
            memory += "<small>of " + Bytes(*series->memory_limit_bytes) + "</small>";
        }
        std::vector<double> bytes;
        for (const auto& point : series->points)
          bytes.push_back(point.memory_bytes);
        memory_line = Sparkline(bytes, 90, 22);
      }
    }
    std::string lag = "<small>–</small>";
    if (auto it = data.log_lag.find(id); it != data.log_lag.end()) {
      lag = Bytes(static_cast<double>(it->second));
      figures += fmt::format(R"( data-lag="{}")", it->second);
    }
    std::string service(c.Label(kSwarmServiceName));
    containers += fmt::format(
        R"(<tr data-id="{id}" data-name="{name}" data-state="{state}"{figures}><td title="{name}">{short_name}<small>{service}{stopped}</small><small class="wide">{image}</small></td><td class="cpu">{cpu}{cpu_line}</td><td class="mem">{memory}{memory_line}</td><td class="n">{lag}</td></tr>
)",
        fmt::arg("id", HtmlEscape(id)), fmt::arg("name", HtmlEscape(c.name)),
        fmt::arg("short_name", HtmlEscape(ShortName(c))), fmt::arg("image", HtmlEscape(c.image)),
        fmt::arg("service", service.empty() ? "" : "service " + HtmlEscape(service)),
        fmt::arg("state", c.running ? "running" : "stopped"),
        fmt::arg("stopped", c.running ? "" : R"(<span class="bad"> stopped</span>)"),
        fmt::arg("cpu", cpu), fmt::arg("cpu_line", cpu_line), fmt::arg("memory", memory),
        fmt::arg("memory_line", memory_line), fmt::arg("lag", lag), fmt::arg("figures", figures));
  }

  std::string web;
  for (const auto& [service, total] : data.request_totals) {
    auto rate = data.request_rates.find(service);
    web += fmt::format(
        R"(<tr data-service="{0}"{3}><td>{0}</td><td class="n">{1}</td><td class="n">{2:.0f}</td></tr>
)",
        HtmlEscape(service),
        rate == data.request_rates.end() ? std::string("<small>–</small>")
                                         : fmt::format("{:.2f}", rate->second),
        total,
        rate == data.request_rates.end() ? std::string()
                                         : fmt::format(R"( data-rate="{:.3f}")", rate->second));
  }
  if (web.empty()) {
    web =
        R"(<tr><td colspan="3"><small>No container is labelled swarmwatch.access_log.</small></td></tr>)";
  }

  // The page has no authentication: Loki's URL without its user:password@, and the error too.
  const std::string loki_url = RedactUrl(data.loki_url);
  std::string shipping;
  if (data.loki_url.empty()) {
    shipping = "<span>Loki: <small>not configured (logs are not shipped)</small></span>";
  } else if (data.loki_error.empty()) {
    shipping = fmt::format(R"(<span>Loki: <span class="ok">pushing</span> to {}</span>)",
                           HtmlEscape(loki_url));
  } else {
    shipping = fmt::format(
        R"(<span>Loki: {} <span class="bad" id="loki-error">last error: {}</span></span>)",
        HtmlEscape(loki_url), HtmlEscape(RedactUrlsIn(data.loki_error)));
  }

  if (!data.loki_url.empty()) {
    // Disk taken by deleted files that only the agent keeps open: what an operator looking for
    // where the space went during an outage needs to see.
    shipping += fmt::format(
        R"(<span>Held rotated logs: <span id="held-logs" data-bytes="{}">{}</span></span>)",
        data.held_log_bytes, Bytes(static_cast<double>(data.held_log_bytes)));
  }

  if (!data.positions_error.empty()) {
    shipping += fmt::format(
        R"(<span>Positions: <span class="bad" id="positions-error">not saved: {}</span></span>)",
        HtmlEscape(data.positions_error));
  }

  const std::string engine =
      data.engine ? fmt::format("Docker {}{}", HtmlEscape(data.engine->server_version),
                                data.engine->swarm_node_id.empty() ? ""
                                : data.engine->swarm_manager       ? ", Swarm manager"
                                                                   : ", Swarm worker")
                  : std::string(R"(<span class="bad">Docker engine not connected</span>)");
  std::string body = fmt::format(
      R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<title>swarmwatch · {node}</title>
<style>{style}</style>
</head><body>
<h1>swarmwatch on <span id="node">{node}</span></h1>
<p class="meta"><span>{engine}</span><span>{ready}</span><span>agent {version}</span></p>
<p class="meta">{shipping}</p>
<p class="meta"><span><a href="/metrics">/metrics</a></span><span><a href="/healthz">/healthz</a></span><span><a href="/ready">/ready</a></span><span>refreshes every {refresh} s</span></p>
<h2>Containers <small>({running} running of {count})</small></h2>
<div class="scroll"><table id="containers">
<tr><th>container</th><th>CPU cores</th><th>memory</th><th>log lag</th></tr>
{containers}</table></div>
<h2>Web services</h2>
<div class="scroll"><table id="web">
<tr><th>service</th><th>requests/s</th><th>requests since start</th></tr>
{web}</table></div>
</body></html>
)",
      fmt::arg("refresh", data.refresh_seconds), fmt::arg("node", HtmlEscape(data.node)),
      fmt::arg("style", kStyle), fmt::arg("engine", engine),
      fmt::arg("ready", data.ready ? R"(<span class="ok">synced</span>)"
                                   : R"(<span class="bad">not synced</span>)"),
      fmt::arg("version", HtmlEscape(data.version)), fmt::arg("shipping", shipping),
      fmt::arg("running", running), fmt::arg("count", data.containers->size()),
      fmt::arg("containers", containers), fmt::arg("web", web));
  return HttpResponse{200, "text/html; charset=utf-8", std::move(body), true};
}

}  // namespace swarmwatch
