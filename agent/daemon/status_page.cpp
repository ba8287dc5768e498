#include "agent/daemon/status_page.h"

#include <fmt/format.h>

#include "agent/build_info.h"

namespace swarmwatch {

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

HttpResponse RenderStatusPage(const ContainerCatalog& catalog, const std::string& node_name) {
  const auto engine = catalog.Engine();
  const std::string node = !node_name.empty() ? node_name : engine ? engine->name : "";
  std::string rows;
  for (const auto& [id, c] : *catalog.Snapshot()) {
    rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        HtmlEscape(c.name), HtmlEscape(c.Label(kSwarmServiceName)),
                        HtmlEscape(c.image), c.running ? "running" : "stopped");
  }
  std::string body = fmt::format(
      R"(<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>swarmwatch {node}</title>
<style>body{{font-family:sans-serif;margin:1em}}td,th{{padding:2px 8px;text-align:left}}</style>
</head><body>
<h1>swarmwatch on {node}</h1>
<p>version {version} &middot; engine {engine} &middot; {ready}</p>
<p><a href="/metrics">/metrics</a> &middot; <a href="/healthz">/healthz</a> &middot; <a href="/ready">/ready</a></p>
<table><tr><th>container</th><th>service</th><th>image</th><th>state</th></tr>
{rows}</table>
</body></html>
)",
      fmt::arg("node", HtmlEscape(node)), fmt::arg("version", Version()),
      fmt::arg("engine", HtmlEscape(engine ? engine->server_version : "not connected")),
      fmt::arg("ready", catalog.Ready() ? "synced" : "not synced"), fmt::arg("rows", rows));
  return HttpResponse{200, "text/html; charset=utf-8", std::move(body), true};
}

}  // namespace swarmwatch
