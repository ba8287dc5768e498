// Datagrams built as the kernel lays them out (linux/netlink.h, linux/rtnetlink.h).
#include "exporters/rtnetlink_parsers.h"

#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <string>

namespace swarmwatch {
namespace {

// Appends `value` padded to the netlink alignment.
void AppendAligned(std::string& out, const void* value, std::size_t size) {
  out.append(static_cast<const char*>(value), size);
  out.resize(NLMSG_ALIGN(out.size()), '\0');
}

std::string Attribute(std::uint16_t type, const void* value, std::size_t size) {
  nlattr header{};
  header.nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + size);
  header.nla_type = type;
  std::string out(reinterpret_cast<const char*>(&header), sizeof header);
  AppendAligned(out, value, size);
  return out;
}

std::string Message(std::uint16_t type, const std::string& payload) {
  nlmsghdr header{};
  header.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + payload.size());
  header.nlmsg_type = type;
  std::string out(reinterpret_cast<const char*>(&header), sizeof header);
  AppendAligned(out, payload.data(), payload.size());
  return out;
}

std::string Link(int index, const std::string& name) {
  ifinfomsg info{};
  info.ifi_index = index;
  std::string payload;
  AppendAligned(payload, &info, sizeof info);
  const std::uint32_t mtu = 1500;
  payload += Attribute(IFLA_MTU, &mtu, sizeof mtu);
  payload += Attribute(IFLA_IFNAME, name.c_str(), name.size() + 1);
  return Message(RTM_NEWLINK, payload);
}

std::string Done() {
  const int zero = 0;
  return Message(NLMSG_DONE, std::string(reinterpret_cast<const char*>(&zero), sizeof zero));
}

std::string StatsAnswer(const rtnl_link_stats64& stats) {
  if_stats_msg header{};
  std::string payload;
  AppendAligned(payload, &header, sizeof header);
  payload += Attribute(IFLA_STATS_LINK_64, &stats, sizeof stats);
  return Message(RTM_NEWSTATS, payload);
}

TEST(ParseLinkDump, NamesInTheKernelsOrderUntilDone) {
  std::vector<LinkName> links;
  EXPECT_EQ(ParseLinkDump(Link(1, "lo") + Link(2, "eth0"), links), DumpProgress::kMore);
  EXPECT_EQ(ParseLinkDump(Link(7, "br-1a2b") + Done(), links), DumpProgress::kDone);
  ASSERT_EQ(links.size(), 3u);
  EXPECT_EQ(links[1].index, 2);
  EXPECT_EQ(links[1].name, "eth0");
  EXPECT_EQ(links[2].name, "br-1a2b");
}

TEST(ParseLinkDump, ErrorsAndMalformedMessagesEndIt) {
  std::vector<LinkName> links;
  const int error = -ENOBUFS;
  EXPECT_EQ(ParseLinkDump(Message(NLMSG_ERROR,
                                  std::string(reinterpret_cast<const char*>(&error), sizeof error)),
                          links),
            DumpProgress::kError);
  std::string cut = Link(2, "eth0");
  cut.resize(cut.size() - 8);  // the message says it is longer than the datagram
  EXPECT_EQ(ParseLinkDump(cut, links), DumpProgress::kError);
  ifinfomsg info{};
  std::string nameless;
  AppendAligned(nameless, &info, sizeof info);
  EXPECT_EQ(ParseLinkDump(Message(RTM_NEWLINK, nameless), links), DumpProgress::kError);
  EXPECT_TRUE(links.empty());
}

TEST(ParseLinkStats, CountsAsProcNetDev) {
  rtnl_link_stats64 stats{};
  stats.rx_bytes = 104299638;
  stats.rx_packets = 2184;
  stats.rx_errors = 1;
  stats.rx_dropped = 2;
  stats.rx_missed_errors = 5;  // net/dev's receive drops include them
  stats.tx_bytes = 67401;
  stats.tx_packets = 883;
  stats.tx_errors = 3;
  stats.tx_dropped = 4;
  const auto eth0 = ParseLinkStats(StatsAnswer(stats), "eth0");
  ASSERT_TRUE(eth0);
  EXPECT_EQ(eth0->name, "eth0");
  EXPECT_EQ(eth0->rx_bytes, 104299638u);
  EXPECT_EQ(eth0->rx_packets, 2184u);
  EXPECT_EQ(eth0->rx_errors, 1u);
  EXPECT_EQ(eth0->rx_dropped, 7u);
  EXPECT_EQ(eth0->tx_bytes, 67401u);
  EXPECT_EQ(eth0->tx_packets, 883u);
  EXPECT_EQ(eth0->tx_errors, 3u);
  EXPECT_EQ(eth0->tx_dropped, 4u);
}

TEST(ParseLinkStats, AnErrorOrATruncatedAnswerIsNone) {
  const int error = -ENODEV;
  EXPECT_FALSE(ParseLinkStats(
      Message(NLMSG_ERROR, std::string(reinterpret_cast<const char*>(&error), sizeof error)),
      "eth0"));
  std::string cut = StatsAnswer(rtnl_link_stats64{});
  cut.resize(cut.size() - 16);
  EXPECT_FALSE(ParseLinkStats(cut, "eth0"));
  EXPECT_FALSE(ParseLinkStats("", "eth0"));
}

}  // namespace
}  // namespace swarmwatch
