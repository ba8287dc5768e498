// The agent's "/" page: a short, self-contained HTML view of the node and its containers.
#pragma once

#include <string>
#include <string_view>

#include "agent/container_catalog.h"
#include "agent/daemon/http_server.h"

namespace swarmwatch {

HttpResponse RenderStatusPage(const ContainerCatalog& catalog, const std::string& node_name);

// &, <, >, " and ' as entities.
std::string HtmlEscape(std::string_view text);

}  // namespace swarmwatch
