// The host's network counters (the root cgroup's container_network_*) from rtnetlink, for an
// agent that runs in the host's network namespace. <proc_root>/1/net/dev lists every interface,
// each container's veth among them, and costs ~0.2-0.4 ms a read at 100 containers, growing with
// them; asked by index, the few interfaces that count (not lo, veth*, docker*: see
// IsIgnoredInterface) cost ~15 us each. The list of links is taken again when the kernel announces
// a link added, removed or changed (RTNLGRP_LINK), that is when containers come and go.
// Not thread-safe: one scrape at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporters/proc_reader.h"
#include "exporters/rtnetlink_parsers.h"

namespace swarmwatch {

class HostLinkStats {
 public:
  // Null when the agent is not in the network namespace of <proc_root>/1 (in a container of its
  // own, or with a procfs of another host), or netlink is unavailable: read its net/dev instead.
  static std::unique_ptr<HostLinkStats> OpenInHostNamespace(const std::string& proc_root);

  ~HostLinkStats();
  HostLinkStats(const HostLinkStats&) = delete;
  HostLinkStats& operator=(const HostLinkStats&) = delete;

  // The counters of the interfaces cAdvisor does not ignore, in the kernel's order (net/dev's);
  // nullopt when netlink failed.
  std::optional<std::vector<NetInterfaceStats>> Read();

 private:
  HostLinkStats(int requests, int announcements)
      : requests_(requests), announcements_(announcements) {}
  // Reads `fd` empty: true when it held anything. Of the announcements, a link changed since the
  // last call; of the requests, answers left unread after a failure are dropped.
  static bool Drain(int fd);
  // Sends one request of `type` whose body follows the header.
  template <class Body>
  bool Send(std::uint16_t type, std::uint16_t flags, const Body& body);
  // The next answer datagram, valid until the next call.
  std::optional<std::string_view> Receive();
  bool ListLinks();
  std::optional<NetInterfaceStats> Stats(const LinkName& link);

  int requests_;
  int announcements_;
  std::uint32_t sequence_ = 0;
  bool listed_ = false;
  std::vector<LinkName> links_;  // those not ignored
  std::vector<char> buffer_;
};

}  // namespace swarmwatch
