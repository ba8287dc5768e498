#include "exporters/cgroup_parsers.h"

#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace swarmwatch {
namespace {

TEST(ParseSingleUint, NumbersAndMax) {
  EXPECT_EQ(ParseSingleUint("123\n"), 123u);
  EXPECT_EQ(ParseSingleUint("0"), 0u);
  EXPECT_EQ(ParseSingleUint("max\n"), kCgroupUnlimited);
  EXPECT_EQ(ParseSingleUint("18446744073709551615\n"), kCgroupUnlimited);
}

TEST(ParseSingleUint, GarbageIsEmpty) {
  EXPECT_EQ(ParseSingleUint(""), std::nullopt);
  EXPECT_EQ(ParseSingleUint("\n"), std::nullopt);
  EXPECT_EQ(ParseSingleUint("-1\n"), std::nullopt);
  EXPECT_EQ(ParseSingleUint("12ab\n"), std::nullopt);
  EXPECT_EQ(ParseSingleUint("1 2\n"), std::nullopt);
  EXPECT_EQ(ParseSingleUint("18446744073709551616"), std::nullopt);  // overflow
  EXPECT_EQ(ParseSingleUint("ma"), std::nullopt);
}

TEST(ParseSingleInt, Negative) {
  EXPECT_EQ(ParseSingleInt("-1\n"), -1);
  EXPECT_EQ(ParseSingleInt("50000\n"), 50000);
  EXPECT_EQ(ParseSingleInt("max\n"), std::nullopt);
}

TEST(ParseFlatKeyed, FillsWantedKeys) {
  std::optional<std::uint64_t> anon, file, missing;
  const KeyedField fields[] = {{"anon", &anon}, {"file", &file}, {"nope", &missing}};
  ParseFlatKeyed("anon 10\nfile_mapped 3\nfile 20\nkernel 4\n", fields);
  EXPECT_EQ(anon, 10u);
  EXPECT_EQ(file, 20u);  // not confused with file_mapped
  EXPECT_EQ(missing, std::nullopt);
}

TEST(ParseFlatKeyed, GarbageValueLeavesThatKeyEmpty) {
  std::optional<std::uint64_t> a, b, c;
  const KeyedField fields[] = {{"a", &a}, {"b", &b}, {"c", &c}};
  ParseFlatKeyed("a x1\nb 2\nc 3 4\n\n\x01\x02 junk", fields);
  EXPECT_EQ(a, std::nullopt);
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(c, std::nullopt);
}

TEST(ParseFlatKeyed, KeysOfAWantedLengthAreStillCompared) {
  std::optional<std::uint64_t> rss, long_key;
  const std::string long_name(70, 'k');
  const KeyedField fields[] = {{"total_rss", &rss}, {long_name, &long_key}};
  ParseFlatKeyed("total_swp 1\ntotal_rss 2\n" + std::string(64, 'k') + " 3\n" + long_name + " 4\n",
                 fields);
  EXPECT_EQ(rss, 2u);
  EXPECT_EQ(long_key, 4u);  // not the 64-character key before it
}

// Three wanted keys of a memory.stat-like file, parsed through one layout.
struct LaidOut {
  std::optional<std::uint64_t> rss, cache, swap;
  FlatKeyedLayout layout;
  const KeyedField fields[3] = {
      {"total_rss", &rss}, {"total_cache", &cache}, {"total_swap", &swap}};
  // Parses `text` through the layout, after checking it gives what a whole parse gives.
  void Parse(const std::string& text) {
    std::optional<std::uint64_t> whole_rss, whole_cache, whole_swap;
    const KeyedField whole[] = {
        {"total_rss", &whole_rss}, {"total_cache", &whole_cache}, {"total_swap", &whole_swap}};
    ParseFlatKeyed(text, whole);
    rss = cache = swap = std::nullopt;
    ParseFlatKeyed(text, fields, layout);
    EXPECT_EQ(rss, whole_rss) << text;
    EXPECT_EQ(cache, whole_cache) << text;
    EXPECT_EQ(swap, whole_swap) << text;
  }
};

TEST(FlatKeyedLayout, AFileLaidOutAsTheLastSplitsOnlyTheWantedLines) {
  LaidOut parse;
  const std::string stat =
      "cache 1\nrss 2\ntotal_cache 30\ntotal_rss 40\ntotal_swap 0\npgfault 5\n";
  EXPECT_FALSE(parse.layout.ParseAsLaidOut(stat, parse.fields));  // no layout yet
  parse.Parse(stat);
  EXPECT_EQ(parse.rss, 40u);
  EXPECT_EQ(parse.swap, 0u);
  // New values, of other lengths, on the same lines.
  const std::string moved =
      "cache 1000\nrss 2\ntotal_cache 3\ntotal_rss 4000000\ntotal_swap 12\npgfault 5\n";
  std::optional<std::uint64_t> rss, cache, swap;
  const KeyedField fields[] = {{"total_rss", &rss}, {"total_cache", &cache}, {"total_swap", &swap}};
  EXPECT_TRUE(parse.layout.ParseAsLaidOut(moved, fields));
  EXPECT_EQ(rss, 4000000u);
  EXPECT_EQ(cache, 3u);
  EXPECT_EQ(swap, 12u);
  // Without its last newline, the same lines.
  EXPECT_TRUE(parse.layout.ParseAsLaidOut(moved.substr(0, moved.size() - 1), fields));
  // Wanted keys of another order or list: not this layout.
  const KeyedField reordered[] = {
      {"total_cache", &cache}, {"total_rss", &rss}, {"total_swap", &swap}};
  EXPECT_FALSE(parse.layout.ParseAsLaidOut(moved, reordered));
  EXPECT_FALSE(parse.layout.ParseAsLaidOut(moved, std::span(fields).first(2)));
  // A text without one of the keys leaves no layout: the key could stand on any line of the next.
  parse.Parse("cache 1\nrss 2\ntotal_cache 30\ntotal_rss 40\nswap 0\npgfault 5\n");
  EXPECT_FALSE(parse.layout.ParseAsLaidOut(moved, fields));
  parse.Parse(moved);
  EXPECT_EQ(parse.swap, 12u);
}

TEST(FlatKeyedLayout, AFileLaidOutOtherwiseIsParsedWholeAndTeachesItsLayout) {
  LaidOut parse;
  parse.Parse("total_swap 9\ncache 1\ntotal_cache 30\ntotal_rss 40\n");
  const std::string others[] = {
      "total_swap 9\ncache 1\ntotal_cache 30\ntotal_rss 40\ntotal_swap 7\n",      // one line more
      "total_swap 9\ncache 1\ntotal_cache 30\n",                                  // fewer
      "total_swap 9\ntotal_rss 41\ntotal_cache 31\ncache 1\n",                    // another order
      "total_swap 9\ncache 1\ntotal_cache 32\ntotal_rss  42\n",                   // two blanks
      "total_swap 9\ncache 1\ntotal_cache 32\ntotal_rss\t43\n",                   // a tab
      "total_swap 9\ncache 1\ntotal_cache 33\ntotal_rss 44 45\n",                 // not "key value"
      "total_swap 9\ncache 1\ntotal_cache 33\ntotal_rss x\n",                     // not a number
      "total_swap 9\ncache 1\ntotal_cache 33\ntotal_rs 46\n",                     // another key
      "total_swap 9\ncache 1\ntotal_cache 33\ntotal_rss 18446744073709551616\n",  // over 64 bits
      "total_swap 9\ncache 1\ntotal_cache 34\ntotal_rss \n",
      "",
      "\n\n\n",
  };
  for (const std::string& text : others) {
    parse.Parse(text);
    parse.Parse(text);  // through the layout it taught
  }
  parse.Parse("total_swap 9\ncache 1\ntotal_cache 35\ntotal_rss 48\n");
  EXPECT_EQ(parse.rss, 48u);
  EXPECT_EQ(parse.cache, 35u);
}

TEST(FlatKeyedLayout, MoreKeysThanALayoutHoldsAreParsedWhole) {
  std::vector<std::string> keys;
  std::string text;
  for (int i = 0; i < 40; ++i) {
    keys.push_back("key" + std::to_string(i));
    text += keys.back() + " " + std::to_string(i * 10) + "\n";
  }
  std::vector<std::optional<std::uint64_t>> values(keys.size());
  std::vector<KeyedField> fields;
  for (std::size_t i = 0; i < keys.size(); ++i)
    fields.push_back({keys[i], &values[i]});
  FlatKeyedLayout layout;
  for (int pass = 0; pass < 2; ++pass) {
    ParseFlatKeyed(text, fields, layout);
    EXPECT_FALSE(layout.ParseAsLaidOut(text, fields));
    EXPECT_EQ(values[39], 390u);
  }
}

TEST(FlatKeyedValue, ThroughALayout) {
  FlatKeyedLayout layout;
  EXPECT_EQ(FlatKeyedValue("nr_free_pages 5\noom_kill 2\n", "oom_kill", layout), 2u);
  EXPECT_EQ(FlatKeyedValue("nr_free_pages 6\noom_kill 3\n", "oom_kill", layout), 3u);
  EXPECT_EQ(FlatKeyedValue("nr_free_pages 6\n", "oom_kill", layout), std::nullopt);
}

TEST(FlatKeyedValue, OomControl) {
  FlatKeyedLayout layout;
  EXPECT_EQ(FlatKeyedValue("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n", "oom_kill", layout),
            4u);
  EXPECT_EQ(FlatKeyedValue("oom_kill_disable 0\n", "oom_kill", layout), std::nullopt);
  EXPECT_EQ(FlatKeyedValue("", "oom_kill", layout), std::nullopt);
}

TEST(ParseBlkioV1, ReadWritePerDevice) {
  constexpr std::string_view kBytes =
      "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 300\n"
      "8:16 Read 5\n8:16 Write 6\n8:16 Total 11\nTotal 311\n";
  constexpr std::string_view kOps = "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n";
  std::vector<BlkioDeviceStats> devices;
  ASSERT_TRUE(ParseBlkioV1(kBytes, BlkioCounter::kBytes, devices));
  ASSERT_TRUE(ParseBlkioV1(kOps, BlkioCounter::kOps, devices));
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[0].major, 8u);
  EXPECT_EQ(devices[0].minor, 0u);
  EXPECT_EQ(devices[0].read_bytes, 100u);
  EXPECT_EQ(devices[0].write_bytes, 200u);
  EXPECT_EQ(devices[0].reads, 1u);
  EXPECT_EQ(devices[0].writes, 2u);
  EXPECT_EQ(devices[1].minor, 16u);
  EXPECT_EQ(devices[1].read_bytes, 5u);
  EXPECT_EQ(devices[1].write_bytes, 6u);
  EXPECT_EQ(devices[1].reads, 0u);
}

TEST(ParseBlkioV1, OnlyTotalMeansNoDevices) {
  std::vector<BlkioDeviceStats> devices;
  EXPECT_TRUE(ParseBlkioV1("Total 0\n", BlkioCounter::kBytes, devices));
  EXPECT_TRUE(devices.empty());
  EXPECT_TRUE(ParseBlkioV1("", BlkioCounter::kBytes, devices));
}

TEST(ParseBlkioV1, MalformedFails) {
  std::vector<BlkioDeviceStats> devices;
  EXPECT_FALSE(ParseBlkioV1("8:0 Read\n", BlkioCounter::kBytes, devices));
  EXPECT_FALSE(ParseBlkioV1("8-0 Read 1\n", BlkioCounter::kBytes, devices));
  EXPECT_FALSE(ParseBlkioV1("8:0 Read 1x\n", BlkioCounter::kBytes, devices));
  EXPECT_FALSE(ParseBlkioV1("Total\n", BlkioCounter::kBytes, devices));
  EXPECT_FALSE(ParseBlkioV1("8:0 Wri", BlkioCounter::kBytes, devices));
}

TEST(ParseIoStatV2, Devices) {
  std::vector<BlkioDeviceStats> devices;
  ASSERT_TRUE(ParseIoStatV2(
      "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n253:1 rbytes=10 wbytes=20 rios=30 "
      "wios=40\n",
      devices));
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[0].major, 8u);
  EXPECT_EQ(devices[0].read_bytes, 1u);
  EXPECT_EQ(devices[0].write_bytes, 2u);
  EXPECT_EQ(devices[0].reads, 3u);
  EXPECT_EQ(devices[0].writes, 4u);
  EXPECT_EQ(devices[1].major, 253u);
  EXPECT_EQ(devices[1].minor, 1u);
  EXPECT_EQ(devices[1].writes, 40u);
}

TEST(ParseIoStatV2, MalformedFails) {
  std::vector<BlkioDeviceStats> devices;
  EXPECT_FALSE(ParseIoStatV2("8:0 rbytes\n", devices));
  EXPECT_FALSE(ParseIoStatV2("8:0 rbytes=\n", devices));
  EXPECT_FALSE(ParseIoStatV2("x rbytes=1\n", devices));
  EXPECT_TRUE(ParseIoStatV2("", devices));
}

TEST(ParsePressure, SomeAndFull) {
  const auto p = ParsePressure(
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=123\n"
      "full avg10=1.00 avg60=0.00 avg300=0.00 total=45\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->some_us, 123u);
  EXPECT_EQ(p->full_us, 45u);
}

TEST(ParsePressure, SomeOnly) {
  const auto p = ParsePressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->some_us, 7u);
  EXPECT_EQ(p->full_us, std::nullopt);
}

TEST(ParsePressure, TruncatedOrGarbage) {
  EXPECT_FALSE(ParsePressure(""));
  EXPECT_FALSE(ParsePressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=123\nfull avg10=0.0"));
  EXPECT_FALSE(ParsePressure("some total=abc\n"));
  EXPECT_FALSE(ParsePressure("hello world\n"));
}

TEST(ParseCpuMax, QuotaAndMax) {
  const auto limited = ParseCpuMax("50000 100000\n");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->quota_us, 50000);
  EXPECT_EQ(limited->period_us, 100000u);
  const auto unlimited = ParseCpuMax("max 100000\n");
  ASSERT_TRUE(unlimited);
  EXPECT_EQ(unlimited->quota_us, std::nullopt);
  EXPECT_EQ(unlimited->period_us, 100000u);
}

TEST(ParseCpuMax, Garbage) {
  EXPECT_FALSE(ParseCpuMax(""));
  EXPECT_FALSE(ParseCpuMax("max\n"));
  EXPECT_FALSE(ParseCpuMax("max 100000 7\n"));
  EXPECT_FALSE(ParseCpuMax("x 100000\n"));
  EXPECT_FALSE(ParseCpuMax("50000 max\n"));
}

TEST(CpuWeightToShares, CadvisorFormula) {
  // 2 + ((weight - 1) * 262142) / 9999
  EXPECT_EQ(CpuWeightToShares(1), 2u);
  EXPECT_EQ(CpuWeightToShares(100), 2597u);  // 2 + 25951958 / 9999 = 2 + 2595
  EXPECT_EQ(CpuWeightToShares(10000), 262144u);
  EXPECT_EQ(CpuWeightToShares(0), std::nullopt);
  EXPECT_EQ(CpuWeightToShares(10001), std::nullopt);
}

constexpr std::string_view kNetDev =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:       5       1    0    0    0     0          0         0        5       1    0    "
    "0    0     0       0          0\n"
    "  eth0: 104299638    2184    1    2    0     0          0         0    67401     883    3    "
    "4    0     0       0          0\n";

TEST(ParseNetDev, AllInterfaces) {
  const auto interfaces = ParseNetDev(kNetDev);
  ASSERT_TRUE(interfaces);
  ASSERT_EQ(interfaces->size(), 2u);
  EXPECT_EQ((*interfaces)[0].name, "lo");
  const NetInterfaceStats& eth0 = (*interfaces)[1];
  EXPECT_EQ(eth0.name, "eth0");
  EXPECT_EQ(eth0.rx_bytes, 104299638u);
  EXPECT_EQ(eth0.rx_packets, 2184u);
  EXPECT_EQ(eth0.rx_errors, 1u);
  EXPECT_EQ(eth0.rx_dropped, 2u);
  EXPECT_EQ(eth0.tx_bytes, 67401u);
  EXPECT_EQ(eth0.tx_packets, 883u);
  EXPECT_EQ(eth0.tx_errors, 3u);
  EXPECT_EQ(eth0.tx_dropped, 4u);
}

TEST(ParseNetDev, TruncatedFails) {
  const std::string truncated(kNetDev.substr(0, kNetDev.size() - 20));
  EXPECT_FALSE(ParseNetDev(truncated));
  EXPECT_FALSE(ParseNetDev("eth0 1 2 3\n"));
  const auto empty = ParseNetDev("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(ParseNetDev, CountersAreWholeUnsignedNumbers) {
  const std::string zeros = " 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
  const auto max = ParseNetDev("eth0: 18446744073709551615" + zeros);
  ASSERT_TRUE(max);
  EXPECT_EQ(max->at(0).rx_bytes, 18446744073709551615u);
  EXPECT_FALSE(ParseNetDev("eth0: 18446744073709551616" + zeros));  // one more overflows
  EXPECT_FALSE(ParseNetDev("eth0: 12a" + zeros));
  EXPECT_FALSE(ParseNetDev("eth0: -1" + zeros));
  EXPECT_FALSE(ParseNetDev("eth0: +1" + zeros));
  EXPECT_TRUE(ParseNetDev("eth0:\t7\t" + zeros));  // tabs separate as spaces do
}

TEST(IsIgnoredInterface, AsCadvisor) {
  EXPECT_TRUE(IsIgnoredInterface("lo"));
  EXPECT_TRUE(IsIgnoredInterface("veth1f302e3"));
  EXPECT_TRUE(IsIgnoredInterface("docker0"));
  EXPECT_TRUE(IsIgnoredInterface("docker_gwbridge"));
  EXPECT_FALSE(IsIgnoredInterface("eth0"));
  EXPECT_FALSE(IsIgnoredInterface("lo0"));
}

TEST(ParseTaskState, CommWithSpacesAndParens) {
  EXPECT_EQ(ParseTaskState("10139 (sh) S 10118 10139"), 'S');
  EXPECT_EQ(ParseTaskState("1 (a) S (b) D 1 1 1"), 'D');
  EXPECT_EQ(ParseTaskState("1 (my app) R 1"), 'R');
  EXPECT_EQ(ParseTaskState("1 (x)) t 1\n"), 't');
  EXPECT_EQ(ParseTaskState("1 (x) I"), 'I');
}

TEST(ParseTaskStat, StateAndThreadCount) {
  const auto stat = ParseTaskStat(
      "20010 (my d) S 1 20010 20010 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 3 0 31380 2322432 348\n");
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->num_threads, 3u);
  // Cut before num_threads, or a word where it stands: the state alone.
  const auto cut = ParseTaskStat("1 (x) R 1 1 1 0 -1 4194560 100 0 0 0 1 1 0 0 20");
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->state, 'R');
  EXPECT_EQ(cut->num_threads, std::nullopt);
  EXPECT_EQ(ParseTaskStat("1 (x) R 1 1 1 0 -1 4 1 0 0 0 1 1 0 0 20 0 many 0")->num_threads,
            std::nullopt);
  EXPECT_EQ(ParseTaskStat("20007 (trunc"), std::nullopt);
}

TEST(ParseTaskState, Garbage) {
  EXPECT_EQ(ParseTaskState(""), std::nullopt);
  EXPECT_EQ(ParseTaskState("20007 (trunc"), std::nullopt);
  EXPECT_EQ(ParseTaskState("1 (x)"), std::nullopt);
  EXPECT_EQ(ParseTaskState("1 (x) "), std::nullopt);
  EXPECT_EQ(ParseTaskState("1 (x) 5 1"), std::nullopt);
  EXPECT_EQ(ParseTaskState(") S ("), std::nullopt);
  EXPECT_EQ(ParseTaskState("1 (x) SS 1"), std::nullopt);
}

TEST(ParsePartitions, NamesByDevice) {
  const auto names = ParsePartitions(
      "major minor  #blocks  name\n\n 254        0  268435456 vda\n   8        1   1024 sda1\n"
      "garbage line\n");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names.at({254, 0}), "/dev/vda");
  EXPECT_EQ(names.at({8, 1}), "/dev/sda1");
  EXPECT_TRUE(ParsePartitions("").empty());
}

TEST(ParseHostMemoryInUse, TotalLessFreeAsRuncEmulatesTheRootsMemoryCurrent) {
  const auto in_use = ParseHostMemoryInUse(
      "MemTotal:       2014232 kB\nMemFree:         1114112 kB\nMemAvailable:    1620000 kB\n"
      "SwapCached:            0 kB\nSwapTotal:       1048572 kB\nSwapFree:         1048000 kB\n");
  ASSERT_TRUE(in_use);
  EXPECT_EQ(in_use->memory_bytes, (2014232ull - 1114112) * 1024);
  EXPECT_EQ(in_use->swap_bytes, (1048572ull - 1048000) * 1024);
}

TEST(ParseHostMemoryInUse, EmptyWhenAFieldIsMissingOrInconsistent) {
  // SwapCached is not SwapTotal: a key matches whole.
  EXPECT_EQ(ParseHostMemoryInUse("MemTotal: 10 kB\nMemFree: 5 kB\nSwapCached: 0 kB\n"),
            std::nullopt);
  EXPECT_EQ(
      ParseHostMemoryInUse("MemTotal: 10 kB\nMemFree: 11 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"),
      std::nullopt);
  EXPECT_EQ(
      ParseHostMemoryInUse("MemTotal: 10 kB\nMemFree: x kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"),
      std::nullopt);
  EXPECT_EQ(ParseHostMemoryInUse(""), std::nullopt);
}

TEST(ParseMemTotalBytes, KibToBytes) {
  EXPECT_EQ(ParseMemTotalBytes("MemTotal:       24684096 kB\nMemFree: 1 kB\n"), 24684096ull * 1024);
  EXPECT_EQ(ParseMemTotalBytes("MemFree: 1 kB\n"), std::nullopt);
  EXPECT_EQ(ParseMemTotalBytes("MemTotal: 12"), std::nullopt);
  EXPECT_EQ(ParseMemTotalBytes("MemTotal: 18446744073709551615 kB\n"), std::nullopt);
}

TEST(CountCpus, CpuinfoAndStat) {
  EXPECT_EQ(CountCpusInCpuinfo("processor\t: 0\nvendor_id : x\n\nprocessor\t: 1\n"), 2u);
  EXPECT_EQ(CountCpusInCpuinfo("model name : processor x\n"), std::nullopt);
  EXPECT_EQ(CountCpusInProcStat("cpu  1 2 3\ncpu0 1 2\ncpu1 3 4\nintr 5\n"), 2u);
  EXPECT_EQ(CountCpusInProcStat("cpu  1 2 3\n"), std::nullopt);
}

TEST(ParseLoadavgThreads, TheTotalAfterTheSlash) {
  EXPECT_EQ(ParseLoadavgThreads("0.55 1.41 1.74 1/82 5093\n"), 82u);
  EXPECT_EQ(ParseLoadavgThreads("11.61 7.11 4.04 8/1375 23398"), 1375u);
  EXPECT_EQ(ParseLoadavgThreads(""), std::nullopt);
  EXPECT_EQ(ParseLoadavgThreads("0.55 1.41 1.74"), std::nullopt);
  EXPECT_EQ(ParseLoadavgThreads("0.55 1.41 1.74 82 5093"), std::nullopt);
  EXPECT_EQ(ParseLoadavgThreads("0.55 1.41 1.74 1/ 5093"), std::nullopt);
  EXPECT_EQ(ParseLoadavgThreads("0.55 1.41 1.74 x/82 5093"), std::nullopt);
}

TEST(ParseIds, Lines) {
  std::vector<std::int64_t> ids;
  EXPECT_TRUE(ParseIds("1\n2\n3\n", ids));
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 2, 3}));
  ids.clear();
  EXPECT_TRUE(ParseIds("", ids));
  EXPECT_TRUE(ids.empty());
  EXPECT_TRUE(ParseIds("1\n2", ids));
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_FALSE(ParseIds("1\nx\n", ids));
}

}  // namespace
}  // namespace swarmwatch
