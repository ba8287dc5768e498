// Decoding of the rtnetlink answers the agent asks the kernel for: the host's links (RTM_GETLINK
// dump) and one link's counters (RTM_GETSTATS with IFLA_STATS_LINK_64). Messages are taken as
// they come, checked against their own lengths: a short or malformed one ends the decoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporters/proc_reader.h"

namespace swarmwatch {

struct LinkName {
  int index = 0;
  std::string name;
};

enum class DumpProgress { kMore, kDone, kError };

// Appends the index and name of each RTM_NEWLINK message in `datagram` (one recv of a dump), in
// the kernel's order; kDone at NLMSG_DONE, kError at NLMSG_ERROR or a malformed message.
DumpProgress ParseLinkDump(std::string_view datagram, std::vector<LinkName>& links);

// The counters of the RTM_NEWSTATS answer in `datagram`, named `name`, as /proc/net/dev counts
// them (its receive drops include the missed errors); nullopt for an error answer or a malformed
// one.
std::optional<NetInterfaceStats> ParseLinkStats(std::string_view datagram, const std::string& name);

}  // namespace swarmwatch
