#include "exporters/rtnetlink_parsers.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>

namespace swarmwatch {
namespace {

// A copy of the struct at `offset`, or nullopt when `bytes` is too short: netlink buffers carry no
// alignment guarantee a cast could rely on.
template <class T>
std::optional<T> ReadAt(std::string_view bytes, std::size_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T))
    return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Calls `on_message(type, payload)` for each message of `datagram`; false when one is malformed
// or `on_message` returns false.
template <class OnMessage>
bool ForEachMessage(std::string_view datagram, OnMessage on_message) {
  std::size_t offset = 0;
  while (offset < datagram.size()) {
    const auto header = ReadAt<nlmsghdr>(datagram, offset);
    if (!header || header->nlmsg_len < sizeof(nlmsghdr) ||
        header->nlmsg_len > datagram.size() - offset) {
      return false;
    }
    const std::string_view payload =
        datagram.substr(offset + NLMSG_HDRLEN, header->nlmsg_len - NLMSG_HDRLEN);
    if (!on_message(header->nlmsg_type, payload))
      return false;
    offset += NLMSG_ALIGN(header->nlmsg_len);
  }
  return true;
}

// Calls `on_attribute(type, value)` for each attribute from `offset` of `payload`; false when one
// is malformed.
template <class OnAttribute>
bool ForEachAttribute(std::string_view payload, std::size_t offset, OnAttribute on_attribute) {
  while (offset < payload.size()) {
    const auto attribute = ReadAt<nlattr>(payload, offset);
    if (!attribute || attribute->nla_len < NLA_HDRLEN ||
        attribute->nla_len > payload.size() - offset) {
      return false;
    }
    on_attribute(attribute->nla_type & NLA_TYPE_MASK,
                 payload.substr(offset + NLA_HDRLEN, attribute->nla_len - NLA_HDRLEN));
    offset += NLA_ALIGN(attribute->nla_len);
  }
  return true;
}

}  // namespace

DumpProgress ParseLinkDump(std::string_view datagram, std::vector<LinkName>& links) {
  DumpProgress progress = DumpProgress::kMore;
  const bool ok = ForEachMessage(datagram, [&](std::uint16_t type, std::string_view payload) {
    if (type == NLMSG_DONE) {
      progress = DumpProgress::kDone;
      return false;
    }
    if (type == NLMSG_NOOP)
      return true;
    if (type != RTM_NEWLINK)
      return false;  // NLMSG_ERROR, or not what a link dump holds
    const auto info = ReadAt<ifinfomsg>(payload, 0);
    if (!info)
      return false;
    std::optional<std::string> name;
    if (!ForEachAttribute(payload, NLMSG_ALIGN(sizeof(ifinfomsg)),
                          [&](int attribute, std::string_view value) {
                            if (attribute == IFLA_IFNAME)
                              name = std::string(value.substr(0, value.find('\0')));
                          }) ||
        !name || name->empty()) {
      return false;
    }
    links.push_back({info->ifi_index, std::move(*name)});
    return true;
  });
  if (progress == DumpProgress::kDone)
    return progress;
  return ok ? DumpProgress::kMore : DumpProgress::kError;
}

std::optional<NetInterfaceStats> ParseLinkStats(std::string_view datagram,
                                                const std::string& name) {
  std::optional<NetInterfaceStats> stats;
  ForEachMessage(datagram, [&](std::uint16_t type, std::string_view payload) {
    if (type != RTM_NEWSTATS)
      return false;
    ForEachAttribute(payload, NLMSG_ALIGN(sizeof(if_stats_msg)),
                     [&](int attribute, std::string_view value) {
                       if (attribute != IFLA_STATS_LINK_64)
                         return;
                       const auto link = ReadAt<rtnl_link_stats64>(value, 0);
                       if (!link)
                         return;
                       NetInterfaceStats& s = stats.emplace();
                       s.name = name;
                       s.rx_bytes = link->rx_bytes;
                       s.rx_packets = link->rx_packets;
                       s.rx_errors = link->rx_errors;
                       s.rx_dropped = link->rx_dropped + link->rx_missed_errors;
                       s.tx_bytes = link->tx_bytes;
                       s.tx_packets = link->tx_packets;
                       s.tx_errors = link->tx_errors;
                       s.tx_dropped = link->tx_dropped;
                     });
    return false;  // one answer a request
  });
  return stats;
}

}  // namespace swarmwatch
