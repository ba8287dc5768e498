// Reads the fixture trees of tests/testdata/cgroup_v{1,2}. Expected values are worked out by hand
// from the fixture files (comments show the sums).
#include "exporters/cgroup_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/pressure_text.h"

namespace swarmwatch {
namespace {

namespace fs = std::filesystem;

const std::string kTestdata = SWARMWATCH_TESTDATA;
const std::string kV1 = kTestdata + "/cgroup_v1/separate";
const std::string kV1Combined = kTestdata + "/cgroup_v1/combined";
const std::string kV2 = kTestdata + "/cgroup_v2";

double Ticks() {
  return static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A writable copy of a fixture tree, removed at the end of the test.
class TreeCopy {
 public:
  explicit TreeCopy(const std::string& from) {
    std::string tmpl = (fs::temp_directory_path() / "swarmwatch-cgroup-XXXXXX").string();
    const char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    dir_ = tmpl;
    fs::copy(from, dir_, fs::copy_options::recursive);
  }
  ~TreeCopy() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  TreeCopy(const TreeCopy&) = delete;
  TreeCopy& operator=(const TreeCopy&) = delete;

  const std::string& dir() const { return dir_; }
  void Write(const std::string& relative, const std::string& text) const {
    std::ofstream(dir_ + "/" + relative, std::ios::trunc) << text;
  }
  void Remove(const std::string& relative) const { fs::remove(dir_ + "/" + relative); }
  // A new file under the old name, as an open file of the old one does not see.
  void Replace(const std::string& relative, const std::string& text) const {
    Write(relative + ".new", text);
    fs::rename(dir_ + "/" + relative + ".new", dir_ + "/" + relative);
  }

 private:
  std::string dir_;
};

void ExpectV1Container(const CgroupStats& s) {
  // cpuacct.usage 37158304 ns; cpuacct.stat user 1, system 2 ticks.
  EXPECT_DOUBLE_EQ(*s.cpu.usage_seconds, 0.037158304);
  EXPECT_DOUBLE_EQ(*s.cpu.user_seconds, 1 / Ticks());
  EXPECT_DOUBLE_EQ(*s.cpu.system_seconds, 2 / Ticks());
  EXPECT_EQ(s.cpu.cfs_periods, 4u);
  EXPECT_EQ(s.cpu.cfs_throttled_periods, 0u);
  EXPECT_DOUBLE_EQ(*s.cpu.cfs_throttled_seconds, 0.0);

  EXPECT_EQ(s.memory.usage_bytes, 8368128u);
  EXPECT_EQ(s.memory.working_set_bytes, 1028096u);  // 8368128 - total_inactive_file 7340032
  EXPECT_EQ(s.memory.rss, 163840u);
  EXPECT_EQ(s.memory.cache, 7340032u);
  EXPECT_EQ(s.memory.mapped_file, 0u);
  EXPECT_EQ(s.memory.swap, 0u);
  EXPECT_EQ(s.memory.max_usage_bytes, 10543104u);
  EXPECT_EQ(s.memory.failcnt, 0u);
  EXPECT_EQ(s.memory.pgfault_container, 1608u);
  EXPECT_EQ(s.memory.pgfault_hierarchy, 1608u);
  EXPECT_EQ(s.memory.pgmajfault_container, 0u);
  EXPECT_EQ(s.memory.pgmajfault_hierarchy, 0u);
  EXPECT_EQ(s.memory.oom_events, 0u);

  ASSERT_EQ(s.blkio.size(), 1u);
  EXPECT_EQ(s.blkio[0].major, 254u);
  EXPECT_EQ(s.blkio[0].minor, 0u);
  EXPECT_EQ(s.blkio[0].read_bytes, 0u);
  EXPECT_EQ(s.blkio[0].write_bytes, 8671232u);
  EXPECT_EQ(s.blkio[0].reads, 0u);
  EXPECT_EQ(s.blkio[0].writes, 12u);

  // unified/docker/abc123/*.pressure, totals in microseconds.
  EXPECT_DOUBLE_EQ(*s.cpu_pressure.waiting_seconds, 0.006225);
  EXPECT_DOUBLE_EQ(*s.cpu_pressure.stalled_seconds, 0.003321);
  EXPECT_DOUBLE_EQ(*s.memory_pressure.waiting_seconds, 0.0);
  EXPECT_DOUBLE_EQ(*s.memory_pressure.stalled_seconds, 0.0);
  EXPECT_DOUBLE_EQ(*s.io_pressure.waiting_seconds, 0.003247);
  EXPECT_DOUBLE_EQ(*s.io_pressure.stalled_seconds, 0.003247);

  EXPECT_EQ(s.spec.cpu_quota, 50000);
  EXPECT_EQ(s.spec.cpu_period, 100000u);
  EXPECT_EQ(s.spec.cpu_shares, 1024u);
  EXPECT_DOUBLE_EQ(*s.spec.memory_limit_bytes, 67108864.0);

  EXPECT_EQ(s.processes, 3u);
  EXPECT_EQ(s.process_ids, (std::vector<std::int64_t>{10139, 10184, 10185}));
  EXPECT_EQ(s.threads, std::nullopt);  // ThreadIds reads them, when needed
}

TEST(DetectCgroupVersion, Fixtures) {
  EXPECT_EQ(*DetectCgroupVersion(kV1), CgroupVersion::kV1);
  EXPECT_EQ(*DetectCgroupVersion(kV1Combined), CgroupVersion::kV1);
  EXPECT_EQ(*DetectCgroupVersion(kV2), CgroupVersion::kV2);
  EXPECT_FALSE(DetectCgroupVersion(kTestdata + "/nowhere").ok());
}

TEST(CgroupReaderV1, Container) {
  const CgroupReader reader(kV1, CgroupVersion::kV1);
  const auto stats = reader.Read("/docker/abc123");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ExpectV1Container(*stats);
  EXPECT_EQ(reader.ThreadIds("/docker/abc123"), (std::vector<std::int64_t>{10139, 10184, 10185}));
}

TEST(CgroupReaderV1, CombinedCpuCpuacctLayout) {
  const CgroupReader reader(kV1Combined, CgroupVersion::kV1);
  const auto stats = reader.Read("/docker/abc123/");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ExpectV1Container(*stats);
  EXPECT_EQ(reader.ThreadIds("/docker/abc123/"),  // cpu,cpuacct/docker/abc123/tasks
            (std::vector<std::int64_t>{10139, 10184, 10185}));
}

TEST(CgroupReaderV1, PidListsOfAHybridHostComeFromTheUnifiedCgroup) {
  const TreeCopy tree(kV1);
  tree.Write("unified/docker/abc123/cgroup.procs", "10139\n");
  tree.Write("unified/docker/abc123/cgroup.threads", "10139\n10140\n");
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  const auto stats = reader.Read("/docker/abc123");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->processes, 1u);
  EXPECT_EQ(stats->process_ids, std::vector<std::int64_t>{10139});
  EXPECT_EQ(reader.ThreadIds("/docker/abc123"), (std::vector<std::int64_t>{10139, 10140}));
}

TEST(CgroupReaderV1, EmptyUnifiedPidListsFallBackToTheV1Ones) {
  // A runtime that creates the unified cgroup without moving the tasks into it.
  const TreeCopy tree(kV1);
  tree.Write("unified/docker/abc123/cgroup.procs", "");
  tree.Write("unified/docker/abc123/cgroup.threads", "");
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  const auto stats = reader.Read("/docker/abc123");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->process_ids, (std::vector<std::int64_t>{10139, 10184, 10185}));
  EXPECT_EQ(reader.ThreadIds("/docker/abc123"), (std::vector<std::int64_t>{10139, 10184, 10185}));
}

TEST(CgroupReaderV1, V1PidListsAreOpenedAtEachRead) {
  // The kernel lends a v1 pid list to the reads of the open file that built it while they come
  // within a second: a file kept open and read that often never showed a new process. Here, a
  // file kept open would go on reading the replaced one.
  const TreeCopy tree(kV1);
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  ASSERT_EQ(reader.Read("/docker/abc123")->processes, 3u);
  ASSERT_EQ(reader.ThreadIds("/docker/abc123")->size(), 3u);
  tree.Replace("cpu/docker/abc123/cgroup.procs", "10139\n");
  tree.Replace("cpu/docker/abc123/tasks", "10139\n");
  EXPECT_EQ(reader.Read("/docker/abc123")->process_ids, std::vector<std::int64_t>{10139});
  EXPECT_EQ(reader.ThreadIds("/docker/abc123"), std::vector<std::int64_t>{10139});
}

TEST(CgroupReaderV1, BlkioBytesAreReReadOnlyWhenTheOperationsMoved) {
  const TreeCopy tree(kV1);
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  BlkioMemo memo;
  CgroupReadOptions options;
  options.blkio_memo = &memo;
  const auto first = reader.Read("/docker/abc123", options);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_EQ(first->blkio.size(), 1u);
  EXPECT_EQ(first->blkio[0].writes, 12u);
  EXPECT_EQ(first->blkio[0].write_bytes, 8671232u);

  // The kernel does not count bytes without an operation: while the operations read the same,
  // the bytes file is not read (here it changed behind the reader's back, which it cannot).
  tree.Write("blkio/docker/abc123/blkio.throttle.io_service_bytes",
             "254:0 Read 0\n254:0 Write 9999\nTotal 9999\n");
  const auto same = reader.Read("/docker/abc123", options);
  ASSERT_EQ(same->blkio.size(), 1u);
  EXPECT_EQ(same->blkio[0].write_bytes, 8671232u);

  tree.Write("blkio/docker/abc123/blkio.throttle.io_serviced",
             "254:0 Read 0\n254:0 Write 13\nTotal 13\n");
  const auto moved = reader.Read("/docker/abc123", options);
  ASSERT_EQ(moved->blkio.size(), 1u);
  EXPECT_EQ(moved->blkio[0].writes, 13u);
  EXPECT_EQ(moved->blkio[0].write_bytes, 9999u);

  // A malformed file empties the list and the memo: the next read reads both again.
  tree.Write("blkio/docker/abc123/blkio.throttle.io_serviced", "254:0 Write x\n");
  EXPECT_TRUE(reader.Read("/docker/abc123", options)->blkio.empty());
  EXPECT_FALSE(memo.valid);
}

TEST(CgroupReaderV1, WhileTheCpuTimeReadsTheSameWhatMovesOnlyByRunningComesFromTheMemo) {
  const TreeCopy tree(kV1);
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  BlkioMemo blkio;
  CgroupReadOptions options;
  options.blkio_memo = &blkio;
  ASSERT_EQ(reader.Read("/docker/abc123", options)->blkio.at(0).writes, 12u);
  // The fixture's CPU time (cpuacct.usage, in ns) with other processes and a higher peak than it
  // lists.
  IdleMemo idle{37158304 / 1e9, {10139, 10184}, 20000000};
  options.idle_memo = &idle;
  tree.Write("blkio/docker/abc123/blkio.throttle.io_serviced", "254:0 Write 13\nTotal 13\n");
  const auto same = reader.Read("/docker/abc123", options);
  EXPECT_EQ(same->process_ids, (std::vector<std::int64_t>{10139, 10184}));
  EXPECT_EQ(same->processes, 2u);
  EXPECT_EQ(same->memory.max_usage_bytes, 20000000u);
  EXPECT_EQ(same->blkio.at(0).writes, 12u);
  EXPECT_EQ(same->memory.usage_bytes, 8368128u);  // the usage is read always

  // A usage above the peak: the peak moved.
  idle.max_usage_bytes = 8000000;
  EXPECT_EQ(reader.Read("/docker/abc123", options)->memory.max_usage_bytes, 10543104u);
  idle.max_usage_bytes = 20000000;

  tree.Write("cpuacct/docker/abc123/cpuacct.usage", "37158305\n");  // one nanosecond more
  const auto moved = reader.Read("/docker/abc123", options);
  EXPECT_EQ(moved->processes, 3u);
  EXPECT_EQ(moved->memory.max_usage_bytes, 10543104u);
  EXPECT_EQ(moved->blkio.at(0).writes, 13u);

  idle.cpu_seconds.reset();  // no CPU time known: all read
  tree.Write("cpuacct/docker/abc123/cpuacct.usage", "37158304\n");
  EXPECT_EQ(reader.Read("/docker/abc123", options)->processes, 3u);
}

TEST(CgroupReaderV1, APressureFileIsReadAgainOnlyOnceTheHostsTotalOfItsResourceMoved) {
  const TreeCopy tree(kV1);
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  HostPressure host;
  host.cpu.waiting_seconds = 10.0;
  host.memory.waiting_seconds = 2.0;
  host.io.waiting_seconds = 3.0;
  PressureMemo memo;
  CgroupReadOptions options;
  options.host_pressure = &host;
  options.pressure_memo = &memo;
  const auto first = reader.Read("/docker/abc123", options);
  EXPECT_DOUBLE_EQ(*first->io_pressure.waiting_seconds, 0.003247);
  EXPECT_EQ(memo.io.host_waiting_seconds, 3.0);
  EXPECT_DOUBLE_EQ(*memo.io.cgroup.stalled_seconds, 0.003247);

  // Files that moved while the host's totals did not cannot be, on a kernel: the memo answers.
  tree.Write("unified/docker/abc123/cpu.pressure", testing::PressureText(7000, 4000));
  tree.Write("unified/docker/abc123/memory.pressure", testing::PressureText(5, 1));
  tree.Write("unified/docker/abc123/io.pressure", testing::PressureText(9000, 8000));
  const auto same = reader.Read("/docker/abc123", options);
  EXPECT_DOUBLE_EQ(*same->cpu_pressure.waiting_seconds, 0.006225);
  EXPECT_DOUBLE_EQ(*same->memory_pressure.waiting_seconds, 0.0);
  EXPECT_DOUBLE_EQ(*same->io_pressure.stalled_seconds, 0.003247);

  // The host's io total moved: the io file alone is read again.
  host.io.waiting_seconds = 3.000001;
  const auto io_moved = reader.Read("/docker/abc123", options);
  EXPECT_DOUBLE_EQ(*io_moved->cpu_pressure.waiting_seconds, 0.006225);
  EXPECT_DOUBLE_EQ(*io_moved->memory_pressure.waiting_seconds, 0.0);
  EXPECT_DOUBLE_EQ(*io_moved->io_pressure.waiting_seconds, 0.009);
  EXPECT_DOUBLE_EQ(*io_moved->io_pressure.stalled_seconds, 0.008);
  EXPECT_EQ(memo.io.host_waiting_seconds, 3.000001);

  // An emptied memo (the caller's bound), or no host total known: read.
  memo.memory = {};
  EXPECT_DOUBLE_EQ(*reader.Read("/docker/abc123", options)->memory_pressure.waiting_seconds,
                   0.000005);
  host.cpu.waiting_seconds.reset();
  EXPECT_DOUBLE_EQ(*reader.Read("/docker/abc123", options)->cpu_pressure.stalled_seconds, 0.004);
  // Without a memo, every file is read.
  tree.Write("unified/docker/abc123/io.pressure", testing::PressureText(9500, 8000));
  options.pressure_memo = nullptr;
  EXPECT_DOUBLE_EQ(*reader.Read("/docker/abc123", options)->io_pressure.waiting_seconds, 0.0095);
}

TEST(CgroupReaderV1, OomControlIsReadOnlyWhenAsked) {
  const TreeCopy tree(kV1);
  tree.Write("memory/docker/abc123/memory.oom_control",
             "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  EXPECT_EQ(reader.Read("/docker/abc123")->memory.oom_events, 2u);
  CgroupReadOptions options;
  options.oom_events = false;
  EXPECT_EQ(reader.Read("/docker/abc123", options)->memory.oom_events, std::nullopt);
}

TEST(CgroupReaderV1, Root) {
  const CgroupReader reader(kV1, CgroupVersion::kV1);
  const auto stats = reader.Read("/");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const CgroupStats& s = *stats;
  EXPECT_DOUBLE_EQ(*s.cpu.usage_seconds, 82.015016495);
  EXPECT_DOUBLE_EQ(*s.cpu.user_seconds, 4236 / Ticks());
  EXPECT_DOUBLE_EQ(*s.cpu.system_seconds, 3963 / Ticks());
  EXPECT_EQ(s.memory.usage_bytes, 655273984u);
  EXPECT_EQ(s.memory.working_set_bytes, 371027968u);  // 655273984 - 284246016
  EXPECT_EQ(s.memory.rss, 57671680u);
  EXPECT_EQ(s.memory.cache, 597708800u);
  EXPECT_EQ(s.memory.mapped_file, 106889216u);
  EXPECT_EQ(s.memory.pgfault_container, 35166u);
  EXPECT_EQ(s.memory.pgfault_hierarchy, 2379555u);
  EXPECT_EQ(s.memory.pgmajfault_container, 0u);
  EXPECT_EQ(s.memory.pgmajfault_hierarchy, 1015u);
  EXPECT_EQ(s.memory.max_usage_bytes, 1898307584u);
  ASSERT_EQ(s.blkio.size(), 1u);
  EXPECT_EQ(s.blkio[0].read_bytes, 3100672u);
  EXPECT_EQ(s.blkio[0].write_bytes, 122880u);
  EXPECT_EQ(s.blkio[0].reads, 97u);
  EXPECT_EQ(s.blkio[0].writes, 36u);
  EXPECT_DOUBLE_EQ(*s.cpu_pressure.waiting_seconds, 9.914603);
  EXPECT_DOUBLE_EQ(*s.io_pressure.stalled_seconds, 27.269571);
  EXPECT_EQ(s.spec.cpu_quota, std::nullopt);  // cfs_quota_us -1
  EXPECT_EQ(s.spec.cpu_period, 100000u);
  EXPECT_DOUBLE_EQ(*s.spec.memory_limit_bytes, 9223372036854771712.0);  // raw, as cAdvisor
  EXPECT_EQ(s.processes, 78u);
  EXPECT_EQ(s.process_ids.size(), 78u);
  EXPECT_EQ(reader.ThreadIds("/")->size(), 134u);
}

TEST(CgroupReaderV1, VanishedCgroupIsAnError) {
  const CgroupReader reader(kV1, CgroupVersion::kV1);
  EXPECT_FALSE(reader.Read("/docker/gone").ok());
}

TEST(CgroupReaderV1, CgroupCreatedAfterAFailedReadIsRead) {
  const TreeCopy tree(kV1);
  const CgroupReader reader(tree.dir(), CgroupVersion::kV1);
  EXPECT_FALSE(reader.Read("/docker/late").ok());
  // The container's cgroup appears (its files are those of abc123): nothing of the failed read
  // is remembered as absent.
  for (const char* controller : {"cpu", "cpuacct", "memory", "blkio", "unified"}) {
    fs::copy(tree.dir() + "/" + controller + "/docker/abc123",
             tree.dir() + "/" + controller + "/docker/late", fs::copy_options::recursive);
  }
  const auto stats = reader.Read("/docker/late");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ExpectV1Container(*stats);
}

TEST(CgroupReaderV1, CpuTimeOfAHybridHostComesFromTheUnifiedCpuStat) {
  const TreeCopy tree(kV1);
  // This machine's unified/docker/<id>/cpu.stat (no cpu controller there: no CFS counters).
  tree.Write("unified/docker/abc123/cpu.stat",
             "usage_usec 33339\nuser_usec 19051\nsystem_usec 14288\nnice_usec 0\n"
             "core_sched.force_idle_usec 0\n");
  const auto stats = CgroupReader(tree.dir(), CgroupVersion::kV1).Read("/docker/abc123");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_DOUBLE_EQ(*stats->cpu.usage_seconds, 0.033339);
  EXPECT_DOUBLE_EQ(*stats->cpu.user_seconds, 0.019051);
  EXPECT_DOUBLE_EQ(*stats->cpu.system_seconds, 0.014288);
  EXPECT_EQ(stats->cpu.cfs_periods, 4u);  // still from the cpu controller's cpu.stat
}

TEST(CgroupReaderV1, UnifiedCgroupWithoutCpuTimeFallsBackToCpuacct) {
  const TreeCopy tree(kV1);
  tree.Write("unified/docker/abc123/cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
  const auto stats = CgroupReader(tree.dir(), CgroupVersion::kV1).Read("/docker/abc123");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ExpectV1Container(*stats);
}

TEST(CgroupReaderV1, MissingFilesLeaveFieldsEmpty) {
  const TreeCopy tree(kV1);
  tree.Remove("memory/docker/abc123/memory.stat");
  tree.Remove("blkio/docker/abc123/blkio.throttle.io_service_bytes");
  tree.Remove("blkio/docker/abc123/blkio.throttle.io_serviced");
  fs::remove_all(tree.dir() + "/unified");
  const auto stats = CgroupReader(tree.dir(), CgroupVersion::kV1).Read("/docker/abc123");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->memory.usage_bytes, 8368128u);
  EXPECT_EQ(stats->memory.working_set_bytes, 8368128u);  // nothing known to subtract
  EXPECT_EQ(stats->memory.rss, std::nullopt);
  EXPECT_EQ(stats->memory.pgfault_container, std::nullopt);
  EXPECT_TRUE(stats->blkio.empty());
  EXPECT_EQ(stats->cpu_pressure.waiting_seconds, std::nullopt);
  EXPECT_DOUBLE_EQ(*stats->cpu.usage_seconds, 0.037158304);
}

TEST(CgroupReaderV1, FallsBackToPlainBlkioFiles) {
  const TreeCopy tree(kV1);
  tree.Remove("blkio/docker/abc123/blkio.throttle.io_service_bytes");
  tree.Remove("blkio/docker/abc123/blkio.throttle.io_serviced");
  tree.Write("blkio/docker/abc123/blkio.io_service_bytes",
             "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n");
  tree.Write("blkio/docker/abc123/blkio.io_serviced", "8:0 Read 1\n8:0 Write 2\nTotal 3\n");
  const auto stats = CgroupReader(tree.dir(), CgroupVersion::kV1).Read("/docker/abc123");
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->blkio.size(), 1u);
  EXPECT_EQ(stats->blkio[0].major, 8u);
  EXPECT_EQ(stats->blkio[0].read_bytes, 4096u);
  EXPECT_EQ(stats->blkio[0].write_bytes, 8192u);
  EXPECT_EQ(stats->blkio[0].reads, 1u);
  EXPECT_EQ(stats->blkio[0].writes, 2u);
}

TEST(CgroupReaderV1, GarbageInOneFileLeavesOnlyThatFieldEmpty) {
  const TreeCopy tree(kV1);
  tree.Write("cpuacct/docker/abc123/cpuacct.usage", "\x01\x02garbage");
  tree.Write("memory/docker/abc123/memory.usage_in_bytes", "83681");          // no newline: fine
  tree.Write("blkio/docker/abc123/blkio.throttle.io_serviced", "254:0 Wri");  // truncated
  tree.Write("unified/docker/abc123/cpu.pressure", "some avg10=0.00 avg60=0.0");
  tree.Write("cpu/docker/abc123/cpu.cfs_quota_us", "-1\n");
  const auto stats = CgroupReader(tree.dir(), CgroupVersion::kV1).Read("/docker/abc123");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->cpu.usage_seconds, std::nullopt);
  EXPECT_DOUBLE_EQ(*stats->cpu.user_seconds, 1 / Ticks());
  EXPECT_EQ(stats->memory.usage_bytes, 83681u);
  EXPECT_EQ(stats->memory.working_set_bytes, 0u);  // 83681 < inactive 7340032: floored
  EXPECT_TRUE(stats->blkio.empty());
  EXPECT_EQ(stats->cpu_pressure.waiting_seconds, std::nullopt);
  EXPECT_DOUBLE_EQ(*stats->io_pressure.waiting_seconds, 0.003247);
  EXPECT_EQ(stats->spec.cpu_quota, std::nullopt);
  EXPECT_EQ(stats->memory.cache, 7340032u);
}

TEST(CgroupReaderV1, SwapIsTotalSwapAsCadvisor) {
  const TreeCopy tree(kV1);
  const std::string stat_path = "memory/docker/abc123/memory.stat";
  std::string stat;
  {
    std::ifstream in(tree.dir() + "/" + stat_path);
    stat.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string from = "total_swap 0\n";
  stat.replace(stat.find(from), from.size(), "total_swap 1048576\n");
  tree.Write(stat_path, stat);
  const auto stats = CgroupReader(tree.dir(), CgroupVersion::kV1).Read("/docker/abc123");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->memory.swap, 1048576u);
}

TEST(CgroupReaderV1, ManyThreadsSpillPastTheStackBuffer) {
  const TreeCopy tree(kV1);
  std::string tasks;
  for (int tid = 100000; tid < 104000; ++tid) {  // 4000 lines of 7 bytes: 28000 bytes
    tasks += std::to_string(tid) + "\n";
  }
  tree.Write("cpu/docker/abc123/tasks", tasks);
  const auto ids = CgroupReader(tree.dir(), CgroupVersion::kV1).ThreadIds("/docker/abc123");
  ASSERT_TRUE(ids.has_value());
  ASSERT_EQ(ids->size(), 4000u);
  EXPECT_EQ(ids->back(), 103999);
}

TEST(CgroupReaderV2, Container) {
  const CgroupReader reader(kV2, CgroupVersion::kV2);
  const auto stats = reader.Read("/system.slice/docker-abc123.scope");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const CgroupStats& s = *stats;
  EXPECT_DOUBLE_EQ(*s.cpu.usage_seconds, 2.345678);
  EXPECT_DOUBLE_EQ(*s.cpu.user_seconds, 1.5);
  EXPECT_DOUBLE_EQ(*s.cpu.system_seconds, 0.845678);
  EXPECT_EQ(s.cpu.cfs_periods, 120u);
  EXPECT_EQ(s.cpu.cfs_throttled_periods, 7u);
  EXPECT_DOUBLE_EQ(*s.cpu.cfs_throttled_seconds, 0.35);

  EXPECT_EQ(s.memory.usage_bytes, 52428800u);
  EXPECT_EQ(s.memory.working_set_bytes, 35651584u);  // 52428800 - inactive_file 16777216
  EXPECT_EQ(s.memory.rss, 20971520u);                // anon
  EXPECT_EQ(s.memory.cache, 29360128u);              // file
  EXPECT_EQ(s.memory.mapped_file, 4194304u);         // file_mapped
  EXPECT_EQ(s.memory.swap, 1048576u);                // memory.swap.current
  EXPECT_EQ(s.memory.max_usage_bytes, 60817408u);    // memory.peak
  EXPECT_EQ(s.memory.failcnt, 5u);                   // memory.events max
  EXPECT_EQ(s.memory.oom_events, 1u);                // memory.events oom_kill
  EXPECT_EQ(s.memory.pgfault_container, 12345u);
  EXPECT_EQ(s.memory.pgfault_hierarchy, 12345u);
  EXPECT_EQ(s.memory.pgmajfault_container, 67u);
  EXPECT_EQ(s.memory.pgmajfault_hierarchy, 67u);

  ASSERT_EQ(s.blkio.size(), 2u);
  EXPECT_EQ(s.blkio[0].major, 8u);
  EXPECT_EQ(s.blkio[0].read_bytes, 1048576u);
  EXPECT_EQ(s.blkio[0].write_bytes, 8671232u);
  EXPECT_EQ(s.blkio[0].reads, 64u);
  EXPECT_EQ(s.blkio[0].writes, 12u);
  EXPECT_EQ(s.blkio[1].major, 253u);
  EXPECT_EQ(s.blkio[1].read_bytes, 4096u);
  EXPECT_EQ(s.blkio[1].reads, 1u);

  EXPECT_DOUBLE_EQ(*s.cpu_pressure.waiting_seconds, 1.234567);
  EXPECT_DOUBLE_EQ(*s.cpu_pressure.stalled_seconds, 0.456789);
  EXPECT_DOUBLE_EQ(*s.memory_pressure.waiting_seconds, 0.002);
  EXPECT_DOUBLE_EQ(*s.memory_pressure.stalled_seconds, 0.001);
  EXPECT_DOUBLE_EQ(*s.io_pressure.waiting_seconds, 0.003247);
  EXPECT_DOUBLE_EQ(*s.io_pressure.stalled_seconds, 0.003);

  EXPECT_EQ(s.spec.cpu_quota, 50000);
  EXPECT_EQ(s.spec.cpu_period, 100000u);
  EXPECT_EQ(s.spec.cpu_shares, 2597u);  // weight 100: 2 + (99 * 262142) / 9999
  EXPECT_DOUBLE_EQ(*s.spec.memory_limit_bytes, 67108864.0);

  EXPECT_EQ(s.processes, 3u);
  EXPECT_EQ(s.process_ids.size(), 3u);
  EXPECT_EQ(reader.ThreadIds("/system.slice/docker-abc123.scope"),
            (std::vector<std::int64_t>{4100, 4150, 4151, 4152}));
}

TEST(CgroupReaderV2, WhileTheCpuTimeReadsTheSameWhatMovesOnlyByRunningComesFromTheMemo) {
  const TreeCopy tree(kV2);
  const CgroupReader reader(tree.dir(), CgroupVersion::kV2);
  IdleMemo idle{2.345678, {7}, 70000000};
  CgroupReadOptions options;
  options.idle_memo = &idle;
  const std::string cgroup = "/system.slice/docker-abc123.scope";
  tree.Write(cgroup.substr(1) + "/io.stat", "8:0 rbytes=0 wbytes=4096 rios=0 wios=1\n");
  const auto same = reader.Read(cgroup, options);
  EXPECT_EQ(same->process_ids, std::vector<std::int64_t>{7});
  EXPECT_EQ(same->memory.max_usage_bytes, 70000000u);
  // v2 counts writeback, by the flusher threads, for the cgroup that dirtied the pages.
  ASSERT_EQ(same->blkio.size(), 1u);
  EXPECT_EQ(same->blkio[0].writes, 1u);

  idle.cpu_seconds = 2.345679;
  const auto moved = reader.Read(cgroup, options);
  EXPECT_EQ(moved->process_ids, (std::vector<std::int64_t>{4100, 4150, 4151}));
  EXPECT_EQ(moved->memory.max_usage_bytes, 60817408u);
}

TEST(CgroupReaderV2, APressureFileIsReadAgainOnlyOnceTheHostsTotalOfItsResourceMoved) {
  const TreeCopy tree(kV2);
  const CgroupReader reader(tree.dir(), CgroupVersion::kV2);
  const auto root = reader.Read("/");
  ASSERT_TRUE(root.ok());
  HostPressure host{root->cpu_pressure, root->memory_pressure, root->io_pressure};
  ASSERT_TRUE(host.memory.waiting_seconds.has_value());
  PressureMemo memo;
  CgroupReadOptions options;
  options.host_pressure = &host;
  options.pressure_memo = &memo;
  const std::string cgroup = "/system.slice/docker-abc123.scope";
  EXPECT_DOUBLE_EQ(*reader.Read(cgroup, options)->memory_pressure.waiting_seconds, 0.002);
  tree.Write(cgroup.substr(1) + "/memory.pressure", testing::PressureText(2500, 1500));
  EXPECT_DOUBLE_EQ(*reader.Read(cgroup, options)->memory_pressure.waiting_seconds, 0.002);
  tree.Write("memory.pressure", testing::PressureText(999999999, 1));
  host.memory = reader.Read("/")->memory_pressure;
  const auto moved = reader.Read(cgroup, options);
  EXPECT_DOUBLE_EQ(*moved->memory_pressure.waiting_seconds, 0.0025);
  EXPECT_DOUBLE_EQ(*moved->memory_pressure.stalled_seconds, 0.0015);
}

TEST(CgroupReaderV2, MaxValues) {
  const CgroupReader reader(kV2, CgroupVersion::kV2);
  const auto stats = reader.Read("system.slice/docker-unlimited.scope");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->spec.cpu_quota, std::nullopt);  // cpu.max "max 100000"
  EXPECT_EQ(stats->spec.cpu_period, 100000u);
  EXPECT_EQ(stats->spec.cpu_shares, 262144u);  // weight 10000
  EXPECT_DOUBLE_EQ(*stats->spec.memory_limit_bytes, 18446744073709551615.0);
  EXPECT_EQ(stats->memory.usage_bytes, 4096u);
  EXPECT_EQ(stats->memory.working_set_bytes, 4096u);       // no memory.stat
  EXPECT_EQ(stats->memory.max_usage_bytes, std::nullopt);  // no memory.peak (kernel < 5.19)
  EXPECT_EQ(stats->processes, 0u);
  EXPECT_EQ(reader.ThreadIds("system.slice/docker-unlimited.scope"), std::vector<std::int64_t>{});
  EXPECT_TRUE(stats->blkio.empty());
}

TEST(CgroupReaderV2, Root) {
  const CgroupReader reader(kV2, CgroupVersion::kV2);
  const auto stats = reader.Read("/");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  const CgroupStats& s = *stats;
  EXPECT_DOUBLE_EQ(*s.cpu.usage_seconds, 987.654321);
  EXPECT_DOUBLE_EQ(*s.cpu.user_seconds, 600.0);
  EXPECT_DOUBLE_EQ(*s.cpu.system_seconds, 387.654321);
  EXPECT_EQ(s.cpu.cfs_periods, std::nullopt);
  EXPECT_EQ(s.memory.usage_bytes, std::nullopt);  // the root has no memory.current
  EXPECT_EQ(s.memory.working_set_bytes, std::nullopt);
  EXPECT_EQ(s.memory.rss, 1073741824u);
  EXPECT_EQ(s.memory.cache, 2147483648u);
  EXPECT_EQ(s.memory.pgfault_container, 98765432u);
  EXPECT_EQ(s.memory.failcnt, std::nullopt);
  EXPECT_EQ(s.spec.cpu_quota, std::nullopt);
  EXPECT_EQ(s.spec.cpu_period, std::nullopt);
  EXPECT_EQ(s.spec.memory_limit_bytes, std::nullopt);
  ASSERT_EQ(s.blkio.size(), 2u);
  EXPECT_EQ(s.blkio[0].write_bytes, 1468006400u);
  EXPECT_DOUBLE_EQ(*s.cpu_pressure.waiting_seconds, 50.0);
  EXPECT_DOUBLE_EQ(*s.io_pressure.stalled_seconds, 6.5);
  EXPECT_EQ(s.processes, 3u);
  EXPECT_EQ(reader.ThreadIds("/")->size(), 5u);
}

TEST(CgroupReaderV2, VanishedCgroupIsAnError) {
  const CgroupReader reader(kV2, CgroupVersion::kV2);
  const auto stats = reader.Read("/system.slice/docker-gone.scope");
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message.find("docker-gone.scope"), std::string::npos);
}

TEST(CgroupReaderV2, GarbageInOneFileLeavesOnlyThatFieldEmpty) {
  const TreeCopy tree(kV2);
  const std::string c = "system.slice/docker-abc123.scope/";
  tree.Write(c + "cpu.max", "garbage\n");
  tree.Write(c + "cpu.weight", "0\n");  // out of [1, 10000]
  tree.Write(c + "io.stat", "8:0 rbytes=1 wbytes");
  tree.Write(c + "memory.current", "");
  tree.Write(c + "cgroup.threads", "4100\nnot-a-tid\n");
  const CgroupReader reader(tree.dir(), CgroupVersion::kV2);
  const auto stats = reader.Read("/" + c);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->spec.cpu_quota, std::nullopt);
  EXPECT_EQ(stats->spec.cpu_period, std::nullopt);
  EXPECT_EQ(stats->spec.cpu_shares, std::nullopt);
  EXPECT_TRUE(stats->blkio.empty());
  EXPECT_EQ(stats->memory.usage_bytes, std::nullopt);
  EXPECT_EQ(stats->memory.working_set_bytes, std::nullopt);
  EXPECT_EQ(reader.ThreadIds("/" + c), std::nullopt);
  EXPECT_EQ(stats->processes, 3u);
  EXPECT_EQ(stats->memory.rss, 20971520u);
  EXPECT_DOUBLE_EQ(*stats->cpu.usage_seconds, 2.345678);
}

}  // namespace
}  // namespace swarmwatch
