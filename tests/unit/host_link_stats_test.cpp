// Against this machine's kernel: the host's counters from rtnetlink are those /proc/net/dev shows.
#include "exporters/host_link_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "exporters/cgroup_parsers.h"

namespace swarmwatch {
namespace {

const std::string kTestdata = SWARMWATCH_TESTDATA;

std::map<std::string, NetInterfaceStats> ProcNetDev() {
  std::ifstream in("/proc/1/net/dev");
  std::stringstream text;
  text << in.rdbuf();
  std::map<std::string, NetInterfaceStats> out;
  const auto interfaces = ParseNetDev(text.str());
  EXPECT_TRUE(interfaces);
  if (!interfaces)
    return out;
  for (const NetInterfaceStats& s : *interfaces) {
    if (!IsIgnoredInterface(s.name))
      out[s.name] = s;
  }
  return out;
}

TEST(HostLinkStats, CountersAreBetweenTwoReadsOfProcNetDev) {
  auto links = HostLinkStats::OpenInHostNamespace("/proc");
  if (!links)
    GTEST_SKIP() << "not in pid 1's network namespace";
  ASSERT_TRUE(links->Read());  // lists the links
  const auto before = ProcNetDev();
  const auto read = links->Read();
  const auto after = ProcNetDev();
  ASSERT_TRUE(read);
  // Links present in both reads of net/dev: another test may add one meanwhile.
  std::size_t compared = 0;
  for (const auto& [name, stats] : before) {
    if (after.contains(name)) {
      EXPECT_TRUE(std::any_of(read->begin(), read->end(), [&name](const NetInterfaceStats& s) {
        return s.name == name;
      })) << name;
    }
  }
  for (const NetInterfaceStats& s : *read) {
    EXPECT_FALSE(IsIgnoredInterface(s.name)) << s.name;
    if (!before.contains(s.name) || !after.contains(s.name))
      continue;
    ++compared;
    const NetInterfaceStats& a = before.at(s.name);
    const NetInterfaceStats& b = after.at(s.name);
    for (auto field : {&NetInterfaceStats::rx_bytes, &NetInterfaceStats::rx_packets,
                       &NetInterfaceStats::rx_errors, &NetInterfaceStats::rx_dropped,
                       &NetInterfaceStats::tx_bytes, &NetInterfaceStats::tx_packets,
                       &NetInterfaceStats::tx_errors, &NetInterfaceStats::tx_dropped}) {
      EXPECT_LE(a.*field, s.*field) << s.name;
      EXPECT_LE(s.*field, b.*field) << s.name;
    }
  }
  if (compared == 0)
    GTEST_SKIP() << "the host has no interface that counts (all lo, veth*, docker*)";
}

TEST(HostLinkStats, ALinkAddedOrRemovedShowsAtTheNextRead) {
  auto links = HostLinkStats::OpenInHostNamespace("/proc");
  if (!links)
    GTEST_SKIP() << "not in pid 1's network namespace";
  ASSERT_TRUE(links->Read());
  if (std::system("ip link add swtest0 type bridge 2>/dev/null") != 0)
    GTEST_SKIP() << "cannot add a bridge (needs root and the bridge module)";
  const auto added = links->Read();
  std::system("ip link del swtest0");
  ASSERT_TRUE(added);
  EXPECT_TRUE(std::any_of(added->begin(), added->end(),
                          [](const NetInterfaceStats& s) { return s.name == "swtest0"; }));
  const auto removed = links->Read();
  ASSERT_TRUE(removed);
  EXPECT_FALSE(std::any_of(removed->begin(), removed->end(),
                           [](const NetInterfaceStats& s) { return s.name == "swtest0"; }));
}

TEST(HostLinkStats, AnotherProcfsIsNotThisNamespace) {
  EXPECT_EQ(HostLinkStats::OpenInHostNamespace(kTestdata + "/proc"), nullptr);
}

}  // namespace
}  // namespace swarmwatch
