#include "exporters/node_parsers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporters/cgroup_parsers.h"

namespace swarmwatch {
namespace {

// Two real kernels: this machine's (6.18, cgroup v1, no systemd) and the v2 guest's (Debian 12's
// 6.1, systemd); tests/testdata/README.md says how each file was taken.
const std::string kHost = std::string(SWARMWATCH_TESTDATA) + "/proc/";
const std::string kGuest = std::string(SWARMWATCH_TESTDATA) + "/v2guest/proc/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// `text` up to (not including) the first occurrence of `marker`: a file cut short there.
std::string CutAt(const std::string& text, std::string_view marker) {
  const std::size_t at = text.find(marker);
  EXPECT_NE(at, std::string::npos) << marker;
  return text.substr(0, at);
}

void ExpectCpu(const CpuModeSeconds& cpu, std::string_view id,
               std::vector<double> user_nice_system_idle_iowait_irq_softirq_steal) {
  SCOPED_TRACE("cpu" + std::string(id));
  const auto& v = user_nice_system_idle_iowait_irq_softirq_steal;
  EXPECT_EQ(cpu.cpu, id);
  EXPECT_EQ(cpu.user, v[0]);
  EXPECT_EQ(cpu.nice, v[1]);
  EXPECT_EQ(cpu.system, v[2]);
  EXPECT_EQ(cpu.idle, v[3]);
  EXPECT_EQ(cpu.iowait, v[4]);
  EXPECT_EQ(cpu.irq, v[5]);
  EXPECT_EQ(cpu.softirq, v[6]);
  EXPECT_EQ(cpu.steal, v[7]);
}

// ---------------------------------------------------------------------------------------------
// /proc/stat

TEST(ParseProcStat, HostKernel) {
  const auto stat = ParseProcStat(ReadFile(kHost + "stat"));
  ASSERT_TRUE(stat);
  // "cpu0 1504 0 1361 30203 185 0 10 113 0 0": ticks / 100; the aggregate "cpu" line is not kept.
  ASSERT_EQ(stat->cpus.size(), 2u);
  ExpectCpu(stat->cpus[0], "0", {15.04, 0, 13.61, 302.03, 1.85, 0, 0.10, 1.13});
  ExpectCpu(stat->cpus[1], "1", {26.37, 0, 24.95, 250.42, 28.81, 0, 0.51, 1.32});
  EXPECT_EQ(stat->context_switches, 476775u);
  EXPECT_EQ(stat->interrupts, 227118u);  // the first of intr's ~1000 numbers
  EXPECT_EQ(stat->boot_time, 1795677297u);
  EXPECT_EQ(stat->forks, 11141u);
  EXPECT_EQ(stat->procs_running, 2u);
  EXPECT_EQ(stat->procs_blocked, 0u);
}

TEST(ParseProcStat, GuestKernel) {
  const auto stat = ParseProcStat(ReadFile(kGuest + "stat"));
  ASSERT_TRUE(stat);
  ASSERT_EQ(stat->cpus.size(), 2u);
  ExpectCpu(stat->cpus[0], "0", {19.80, 0, 35.30, 26.33, 0.34, 0, 1.99, 0});
  ExpectCpu(stat->cpus[1], "1", {22.38, 0, 36.95, 23.33, 0.32, 0, 2.37, 0});
  EXPECT_EQ(stat->context_switches, 63432u);
  EXPECT_EQ(stat->interrupts, 69986u);
  EXPECT_EQ(stat->boot_time, 1796541042u);
  EXPECT_EQ(stat->forks, 500u);
  EXPECT_EQ(stat->procs_running, 2u);
  EXPECT_EQ(stat->procs_blocked, 0u);
}

TEST(ParseProcStat, CpuNumbersAreKeptAsWritten) {
  // An offline CPU leaves a gap: the next is still "cpu12", not a zero-filled "cpu1".
  const auto stat = ParseProcStat(
      "cpu 2 0 0 0 0 0 0 0 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\n"
      "cpu12 1 0 0 0 0 0 0 0 0 0 7\n");
  ASSERT_TRUE(stat);
  ASSERT_EQ(stat->cpus.size(), 2u);
  EXPECT_EQ(stat->cpus[1].cpu, "12");
  EXPECT_EQ(stat->context_switches, std::nullopt);  // a file without the other keys
}

TEST(ParseProcStat, MalformedOrTruncatedIsAbsent) {
  EXPECT_EQ(ParseProcStat(""), std::nullopt);
  EXPECT_EQ(ParseProcStat("ctxt 5\nbtime 7\n"), std::nullopt);            // no CPU line
  EXPECT_EQ(ParseProcStat("cpu 1 2 3 4 5 6 7 8 9 10\n"), std::nullopt);   // only the sum
  EXPECT_EQ(ParseProcStat("cpu0 1 2 x 4 5 6 7 8 9 10\n"), std::nullopt);  // not a number
  EXPECT_EQ(ParseProcStat("cpu0 1 2 3 4 5 6 7 8 9 -1\n"), std::nullopt);  // signed
  EXPECT_EQ(ParseProcStat("cpuX 1 2 3 4 5 6 7 8 9 10\n"), std::nullopt);  // not a CPU number
  EXPECT_EQ(ParseProcStat("cpu0 1 2 3 4 5 6 7 8 9 10 junk\n"), std::nullopt);
  EXPECT_EQ(ParseProcStat("cpu0 1 2 3 4 5 6 7 8 18446744073709551616\n"), std::nullopt);
  // One bad CPU among good ones: absent, never a partial set.
  EXPECT_EQ(ParseProcStat("cpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2 3\n"), std::nullopt);

  const std::string host = ReadFile(kHost + "stat");
  // Cut inside cpu1's line (its last two fields missing): that line is short.
  EXPECT_EQ(ParseProcStat(CutAt(host, " 132 0 0\n") + " 132"), std::nullopt);
  EXPECT_EQ(ParseProcStat(CutAt(host, "cpu1 ") + "cpu1 2637 0 2495"), std::nullopt);
  // Cut after the CPU lines: the CPUs are there, the keys after them absent.
  const auto cut = ParseProcStat(CutAt(host, "intr "));
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->cpus.size(), 2u);
  EXPECT_EQ(cut->context_switches, std::nullopt);
  EXPECT_EQ(cut->boot_time, std::nullopt);
}

TEST(ParseProcStat, MalformedValueLeavesOnlyThatKeyAbsent) {
  const auto stat = ParseProcStat(
      "cpu0 1 0 0 0 0 0 0 0 0 0\nctxt 12 13\nbtime -1\nprocesses 18446744073709551616\n"
      "procs_running 3\nprocs_blocked x\nintr z 1 2\n");
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->context_switches, std::nullopt);
  EXPECT_EQ(stat->boot_time, std::nullopt);
  EXPECT_EQ(stat->forks, std::nullopt);
  EXPECT_EQ(stat->procs_running, 3u);
  EXPECT_EQ(stat->procs_blocked, std::nullopt);
  EXPECT_EQ(stat->interrupts, std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// /proc/loadavg

TEST(ParseLoadAverage, BothKernels) {
  const auto host = ParseLoadAverage(ReadFile(kHost + "loadavg"));  // "0.55 1.41 1.74 1/82 5093"
  ASSERT_TRUE(host);
  EXPECT_EQ(host->load1, 0.55);
  EXPECT_EQ(host->load5, 1.41);
  EXPECT_EQ(host->load15, 1.74);
  const auto guest = ParseLoadAverage(ReadFile(kGuest + "loadavg"));  // "2.68 1.09 0.40 2/107 506"
  ASSERT_TRUE(guest);
  EXPECT_EQ(guest->load1, 2.68);
  EXPECT_EQ(guest->load5, 1.09);
  EXPECT_EQ(guest->load15, 0.40);
}

TEST(ParseLoadAverage, MalformedOrTruncatedIsAbsent) {
  EXPECT_EQ(ParseLoadAverage(""), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("0.55 1.41"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("0.55 1.41 1.74"), std::nullopt);  // cut before "1/82 5093"
  EXPECT_EQ(ParseLoadAverage("0.55 1.41 1.74 1/82"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("0.55 1.41 1.74 182 5093\n"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("0.55 x 1.74 1/82 5093\n"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("0.55 1.41 1.74x 1/82 5093\n"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("nan 1.41 1.74 1/82 5093\n"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("inf 1.41 1.74 1/82 5093\n"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("-0.5 1.41 1.74 1/82 5093\n"), std::nullopt);
  EXPECT_EQ(ParseLoadAverage("0.55 1.41 1.74 1/82 5093 6\n"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// /proc/meminfo

const MeminfoField* FindField(const std::vector<MeminfoField>& fields, std::string_view name) {
  const auto it = std::find_if(fields.begin(), fields.end(),
                               [&](const MeminfoField& f) { return f.name == name; });
  return it == fields.end() ? nullptr : &*it;
}

double FieldValue(const std::vector<MeminfoField>& fields, std::string_view name) {
  const MeminfoField* field = FindField(fields, name);
  EXPECT_NE(field, nullptr) << name;
  return field == nullptr ? -1 : field->value;
}

TEST(ParseMeminfo, HostKernel) {
  std::vector<MeminfoField> fields;
  ASSERT_TRUE(ParseMeminfo(ReadFile(kHost + "meminfo"), fields));
  ASSERT_EQ(fields.size(), 54u);  // every line, in file order
  EXPECT_EQ(fields.front().name, "MemTotal_bytes");
  EXPECT_EQ(fields.front().value, 24684096.0 * 1024);
  EXPECT_EQ(fields.back().name, "DirectMap1G_bytes");
  EXPECT_EQ(fields.back().value, 25165824.0 * 1024);
  EXPECT_EQ(fields[8].name, "Active_anon_bytes");  // "Active(anon):       1564 kB"
  EXPECT_EQ(fields[8].value, 1564.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Inactive_anon_bytes"), 53880.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Active_file_bytes"), 298692.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Inactive_file_bytes"), 279176.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "NFS_Unstable_bytes"), 0);
  EXPECT_EQ(FieldValue(fields, "Committed_AS_bytes"), 639896.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Hugepagesize_bytes"), 2048.0 * 1024);
  // Counts without a unit keep their name: no "_bytes", no scaling.
  EXPECT_EQ(FieldValue(fields, "HugePages_Total"), 0);
  EXPECT_EQ(FindField(fields, "HugePages_Total_bytes"), nullptr);
  for (const MeminfoField& field : fields)
    EXPECT_EQ(field.name.find_first_of("():"), std::string::npos) << field.name;
}

TEST(ParseMeminfo, GuestKernel) {
  std::vector<MeminfoField> fields;
  ASSERT_TRUE(ParseMeminfo(ReadFile(kGuest + "meminfo"), fields));
  ASSERT_EQ(fields.size(), 53u);  // no DirectMap1G on the 2 GiB guest
  EXPECT_EQ(fields.front().name, "MemTotal_bytes");
  EXPECT_EQ(fields.front().value, 2014136.0 * 1024);
  EXPECT_EQ(fields.back().name, "DirectMap2M_bytes");
  EXPECT_EQ(fields.back().value, 2033664.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Active_anon_bytes"), 192.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Inactive_anon_bytes"), 70316.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Active_file_bytes"), 66000.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Inactive_file_bytes"), 158492.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "Committed_AS_bytes"), 283824.0 * 1024);
  EXPECT_EQ(FieldValue(fields, "HugePages_Total"), 0);
  EXPECT_EQ(FindField(fields, "DirectMap1G_bytes"), nullptr);
}

TEST(ParseMeminfo, LinesWithoutUnitAndBlankLines) {
  std::vector<MeminfoField> fields;
  ASSERT_TRUE(ParseMeminfo("HugePages_Free:  7\n\nShmem(x)Tail:  3 kB\nUnitless: 12", fields));
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0].name, "HugePages_Free");
  EXPECT_EQ(fields[0].value, 7);
  EXPECT_EQ(fields[1].name, "Shmem_xTail_bytes");  // node_exporter's `\((.*)\)` -> `_$1`
  EXPECT_EQ(fields[1].value, 3072);
  EXPECT_EQ(fields[2].name, "Unitless");
  EXPECT_EQ(fields[2].value, 12);
}

TEST(ParseMeminfo, MalformedLineIsFalseWithTheFieldsBeforeIt) {
  const std::vector<std::string> bad = {
      "MemTotal 123 kB\n",    // no colon
      "MemTotal: abc kB\n",   // not a number
      "MemTotal: -1 kB\n",    // signed
      "MemTotal: 12 MB\n",    // a unit other than kB
      "MemTotal: 12 kB x\n",  // a fourth field
      "MemTotal:\n",          // no value
      ": 12 kB\n",            // no name
      "Mem Total: 12 kB\n",   // "Mem" is the key, "Total:" no number
      "Mem-Total: 12 kB\n",   // not a metric name
      "Mem(a(b)): 12 kB\n",   // parentheses left after the rewrite
      "MemTotal: 99999999999999999999 kB\n",
  };
  for (const std::string& text : bad) {
    std::vector<MeminfoField> fields;
    EXPECT_FALSE(ParseMeminfo(text, fields)) << text;
    EXPECT_TRUE(fields.empty()) << text;
  }
  std::vector<MeminfoField> fields;
  EXPECT_FALSE(ParseMeminfo("A: 1 kB\nB: 2 kB extra\nC: 3 kB\n", fields));
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].name, "A_bytes");

  // The host's file cut after "MemFree:": a line without its value.
  fields.clear();
  EXPECT_FALSE(
      ParseMeminfo(CutAt(ReadFile(kHost + "meminfo"), "MemAvailable:") + "MemAvailable:", fields));
  EXPECT_EQ(fields.size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// /proc/vmstat

std::optional<std::uint64_t> Vmstat(const std::vector<std::pair<std::string, std::uint64_t>>& out,
                                    std::string_view name) {
  for (const auto& [key, value] : out) {
    if (key == name)
      return value;
  }
  return std::nullopt;
}

TEST(ParseVmstat, HostKernel) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  ASSERT_TRUE(ParseVmstat(ReadFile(kHost + "vmstat"), out));
  ASSERT_EQ(out.size(), 192u);
  EXPECT_EQ(out.front(), (std::pair<std::string, std::uint64_t>{"nr_free_pages", 3018664}));
  EXPECT_EQ(out.back(), (std::pair<std::string, std::uint64_t>{"nr_unstable", 0}));
  // node_exporter's default fields.
  EXPECT_EQ(Vmstat(out, "oom_kill"), 0u);
  EXPECT_EQ(Vmstat(out, "pgmajfault"), 47525u);
  EXPECT_EQ(Vmstat(out, "pgfault"), 759766102u);
  EXPECT_EQ(Vmstat(out, "pgpgin"), 26953885u);
  EXPECT_EQ(Vmstat(out, "pgpgout"), 170000384u);
  EXPECT_EQ(Vmstat(out, "pswpin"), 0u);
  EXPECT_EQ(Vmstat(out, "pswpout"), 0u);
}

TEST(ParseVmstat, GuestKernel) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  ASSERT_TRUE(ParseVmstat(ReadFile(kGuest + "vmstat"), out));
  ASSERT_EQ(out.size(), 173u);
  EXPECT_EQ(out.front(), (std::pair<std::string, std::uint64_t>{"nr_free_pages", 409986}));
  EXPECT_EQ(Vmstat(out, "oom_kill"), 0u);
  EXPECT_EQ(Vmstat(out, "pgmajfault"), 1388u);
  EXPECT_EQ(Vmstat(out, "pgfault"), 97547u);
  EXPECT_EQ(Vmstat(out, "pgpgin"), 205621u);
  EXPECT_EQ(Vmstat(out, "pgpgout"), 22028u);
}

TEST(ParseVmstat, MalformedLineIsFalseWithTheLinesBeforeIt) {
  for (const char* text : {"pgfault\n", "pgfault x\n", "pgfault 1 2\n", "pgfault -1\n",
                           "pg(fault) 1\n", "pgfault 18446744073709551616\n"}) {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    EXPECT_FALSE(ParseVmstat(text, out)) << text;
    EXPECT_TRUE(out.empty()) << text;
  }
  std::vector<std::pair<std::string, std::uint64_t>> out;
  EXPECT_TRUE(ParseVmstat("\na 1\n\nb 2", out));  // blank lines, no final newline
  EXPECT_EQ(out.size(), 2u);
  out.clear();
  EXPECT_FALSE(ParseVmstat(
      CutAt(ReadFile(kGuest + "vmstat"), "nr_zone_active_anon ") + "nr_zone_active_anon", out));
  EXPECT_EQ(out.size(), 2u);  // nr_free_pages, nr_zone_inactive_anon
}

// ---------------------------------------------------------------------------------------------
// /proc/diskstats

struct Counters {
  std::uint64_t v[11];
};

void ExpectDisk(const DiskStats& d, std::string_view device, Counters c) {
  SCOPED_TRACE(std::string(device));
  EXPECT_EQ(d.device, device);
  EXPECT_EQ(d.reads_completed, c.v[0]);
  EXPECT_EQ(d.reads_merged, c.v[1]);
  EXPECT_EQ(d.sectors_read, c.v[2]);
  EXPECT_EQ(d.read_time_ms, c.v[3]);
  EXPECT_EQ(d.writes_completed, c.v[4]);
  EXPECT_EQ(d.writes_merged, c.v[5]);
  EXPECT_EQ(d.sectors_written, c.v[6]);
  EXPECT_EQ(d.write_time_ms, c.v[7]);
  EXPECT_EQ(d.io_in_progress, c.v[8]);
  EXPECT_EQ(d.io_time_ms, c.v[9]);
  EXPECT_EQ(d.weighted_io_time_ms, c.v[10]);
}

TEST(ParseDiskstats, HostKernel) {
  std::vector<DiskStats> disks;
  ASSERT_TRUE(ParseDiskstats(ReadFile(kHost + "diskstats"), disks));
  ASSERT_EQ(disks.size(), 10u);  // loop0-7, vda, zram0: the collector filters, not the parser
  ExpectDisk(disks[0], "loop0", {});
  // " 254 0 vda 2298390 99137 76800842 3217656 3419056 1853954 364287968 5163666 0 851964
  // 8910384 1574281 83 389625088 308532 651004 220528": the discard and flush fields not kept.
  ExpectDisk(disks[8], "vda",
             {{2298390, 99137, 76800842, 3217656, 3419056, 1853954, 364287968, 5163666, 0, 851964,
               8910384}});
  ExpectDisk(disks[9], "zram0", {});
}

TEST(ParseDiskstats, GuestKernel) {
  std::vector<DiskStats> disks;
  ASSERT_TRUE(ParseDiskstats(ReadFile(kGuest + "diskstats"), disks));
  ASSERT_EQ(disks.size(), 10u);
  ExpectDisk(disks[0], "vda", {{2868, 657, 411242, 7815, 341, 638, 232840, 961, 0, 7936, 8874}});
  ExpectDisk(disks[9], "sr0", {});
}

TEST(ParseDiskstats, FourteenEighteenAndTwentyFields) {
  const Counters c{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}};
  for (const char* text : {
           "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n",                  // before 4.18
           "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",      // 4.18: discards
           "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",  // 5.5: flushes
       }) {
    std::vector<DiskStats> disks;
    ASSERT_TRUE(ParseDiskstats(text, disks)) << text;
    ASSERT_EQ(disks.size(), 1u) << text;
    ExpectDisk(disks[0], "sda", c);
  }
}

TEST(ParseDiskstats, MalformedLineIsFalseWithTheLinesBeforeIt) {
  for (const char* text : {
           "8 0 sda 1 2 3 4 5 6 7 8 9 10\n",       // 13 fields
           "8 0 sda 1 2 3 x 5 6 7 8 9 10 11\n",    // not a number
           "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 z\n",  // a stray field after the counters
           "x 0 sda 1 2 3 4 5 6 7 8 9 10 11\n",    // no major number
           "8 -1 sda 1 2 3 4 5 6 7 8 9 10 11\n",
           "8 0\n",
           "8 0 sda\n",
       }) {
    std::vector<DiskStats> disks;
    EXPECT_FALSE(ParseDiskstats(text, disks)) << text;
    EXPECT_TRUE(disks.empty()) << text;
  }
  // The host's file cut in vda's line: the eight loop devices before it are kept.
  std::vector<DiskStats> disks;
  EXPECT_FALSE(
      ParseDiskstats(CutAt(ReadFile(kHost + "diskstats"), " 3419056 ") + " 3419056", disks));
  EXPECT_EQ(disks.size(), 8u);
}

// ---------------------------------------------------------------------------------------------
// /etc/os-release

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(ParseOsRelease, Debian12OnBothMachines) {
  const Pairs expected = {
      {"PRETTY_NAME", "Debian GNU/Linux 12 (bookworm)"},
      {"NAME", "Debian GNU/Linux"},
      {"VERSION_ID", "12"},
      {"VERSION", "12 (bookworm)"},
      {"VERSION_CODENAME", "bookworm"},
      {"ID", "debian"},
      {"HOME_URL", "https://www.debian.org/"},
      {"SUPPORT_URL", "https://www.debian.org/support"},
      {"BUG_REPORT_URL", "https://bugs.debian.org/"},
  };
  const std::string testdata = SWARMWATCH_TESTDATA;
  EXPECT_EQ(ParseOsRelease(ReadFile(testdata + "/host/etc/os-release")), expected);
  EXPECT_EQ(ParseOsRelease(ReadFile(testdata + "/v2guest/host/etc/os-release")), expected);
}

TEST(ParseOsRelease, ShellQuoting) {
  const Pairs parsed = ParseOsRelease(
      "NAME=\"Debian \\\"GNU\\\"/Linux\"\n"          // \" in double quotes
      "PRETTY_NAME='single $quoted \"text\" \\n'\n"  // nothing special in single quotes
      "VERSION=\"a\\\\b \\$x \\`y\\` \\n\"\n"        // \\ \$ \`; other backslashes stay
      "ID=plain\\ value\n"                           // unquoted: a backslash quotes
      "ID_LIKE=\"rhel\"' fedora'\\ x\n"              // concatenated parts
      "VARIANT=\"  padded  \"\n"                     // quoted blanks are kept
      "VARIANT_ID=server # a comment\n"              // unquoted blanks then '#': a comment
      "BUILD_ID=a#b\n"                               // '#' inside a word is not
      "IMAGE_ID=\r\n"                                // empty, CRLF
      "  IMAGE_VERSION = 1.2  \n");                  // blanks around
  const Pairs expected = {
      {"NAME", "Debian \"GNU\"/Linux"},
      {"PRETTY_NAME", "single $quoted \"text\" \\n"},
      {"VERSION", "a\\b $x `y` \\n"},
      {"ID", "plain value"},
      {"ID_LIKE", "rhel fedora x"},
      {"VARIANT", "  padded  "},
      {"VARIANT_ID", "server"},
      {"BUILD_ID", "a#b"},
      {"IMAGE_ID", ""},
      {"IMAGE_VERSION", "1.2"},
  };
  EXPECT_EQ(parsed, expected);
}

TEST(ParseOsRelease, MalformedLinesAndCommentsAreSkipped) {
  const Pairs parsed = ParseOsRelease(
      "# a comment\n"
      "   # an indented one\n"
      "\n"
      "NAME=\"unterminated\n"
      "NAME='unterminated too\n"
      "NAME=trailing\\\n"
      "1ID=starts with a digit\n"
      "I-D=dash\n"
      "=no key\n"
      "no equals sign\n"
      "export ID=debian\n"  // sourced by a shell, this is an assignment too
      "ID_LIKE=\"x\"");     // no final newline
  const Pairs expected = {{"ID", "debian"}, {"ID_LIKE", "x"}};
  EXPECT_EQ(parsed, expected);
  EXPECT_TRUE(ParseOsRelease("").empty());
  EXPECT_TRUE(ParseOsRelease("\x01\x02\xff garbage").empty());
}

TEST(ParseOsRelease, TheLastAssignmentOfAKeyCounts) {
  const Pairs expected = {{"ID", "second"}, {"NAME", "n"}};
  EXPECT_EQ(ParseOsRelease("ID=first\nNAME=n\nID=second\n"), expected);
}

// ---------------------------------------------------------------------------------------------
// /proc/1/mountinfo

void ExpectMount(const MountEntry& m, std::string_view device, std::string_view mount_point,
                 std::string_view fstype, bool read_only) {
  SCOPED_TRACE(std::string(mount_point));
  EXPECT_EQ(m.device, device);
  EXPECT_EQ(m.mount_point, mount_point);
  EXPECT_EQ(m.fstype, fstype);
  EXPECT_EQ(m.read_only, read_only);
}

TEST(ParseMountinfo, HostKernel) {
  std::vector<MountEntry> mounts;
  ASSERT_TRUE(ParseMountinfo(ReadFile(kHost + "1/mountinfo"), mounts));
  ASSERT_EQ(mounts.size(), 24u);
  ExpectMount(mounts[0], "proc", "/proc", "proc", false);
  ExpectMount(mounts[5], "/dev/vda", "/", "ext4", false);
  ExpectMount(mounts[6], "model_tools_unavailable", "/mnt/sandboxing/model_tools_env/v1/python",
              "tmpfs", true);  // "ro" in both option lists
  ExpectMount(mounts[19], "cgroup2", "/sys/fs/cgroup/unified", "cgroup2", false);
  ExpectMount(mounts[20], "/dev/vda", "/var/lib/docker", "ext4", false);  // "shared:1" before " - "
  ExpectMount(mounts[22], "nsfs", "/run/docker/netns/ingress_sbox", "nsfs", false);
  EXPECT_EQ(
      std::count_if(mounts.begin(), mounts.end(), [](const MountEntry& m) { return m.read_only; }),
      1);
}

TEST(ParseMountinfo, GuestKernel) {
  std::vector<MountEntry> mounts;
  ASSERT_TRUE(ParseMountinfo(ReadFile(kGuest + "1/mountinfo"), mounts));
  ASSERT_EQ(mounts.size(), 25u);
  ExpectMount(mounts[0], "sysfs", "/sys", "sysfs", false);
  ExpectMount(mounts[2], "udev", "/dev", "devtmpfs", false);
  // "rw,errors=remount-ro": the option is errors=remount-ro, not ro.
  ExpectMount(mounts[5], "/dev/vda", "/", "ext4", false);
  ExpectMount(mounts[13], "systemd-1", "/proc/sys/fs/binfmt_misc", "autofs", false);
  // Read-only as a mount ("ro,nosuid,...") of a read-write superblock ("rw,mode=700").
  ExpectMount(mounts[19], "ramfs", "/run/credentials/systemd-sysctl.service", "ramfs", true);
  ExpectMount(mounts[24], "share", "/mnt/share", "9p", false);
  EXPECT_EQ(
      std::count_if(mounts.begin(), mounts.end(), [](const MountEntry& m) { return m.read_only; }),
      4);
}

TEST(ParseMountinfo, OctalEscapesAreUnescaped) {
  std::vector<MountEntry> mounts;
  ASSERT_TRUE(ParseMountinfo(
      "100 25 0:50 / /mnt/a\\040b\\011c\\134d\\012e rw,relatime shared:40 - fuse.ssh\\040fs "
      "user@host:/data\\040dir rw,user_id=0\n"
      // Not escapes: the kernel writes only three octal digits below \400.
      "101 25 0:51 / /mnt/\\08x\\400\\13\\ rw - tmpfs tmpfs rw\n",
      mounts));
  ASSERT_EQ(mounts.size(), 2u);
  ExpectMount(mounts[0], "user@host:/data dir", "/mnt/a b\tc\\d\ne", "fuse.ssh fs", false);
  ExpectMount(mounts[1], "tmpfs", "/mnt/\\08x\\400\\13\\", "tmpfs", false);
}

TEST(ParseMountinfo, FieldsAroundTheSeparator) {
  std::vector<MountEntry> mounts;
  ASSERT_TRUE(ParseMountinfo(
      // No optional fields, several, an empty source ("" given to mount(2)).
      "1 0 8:1 / /a rw - ext4 /dev/sda1 rw\n"
      "2 1 8:2 /sub /b rw,noatime shared:1 master:2 propagate_from:3 unbindable - xfs /dev/sdb rw\n"
      "3 1 0:40 / /c rw - tmpfs  rw,size=4k\n"
      // Read-only by the superblock only, and forced read-only after an error.
      "4 1 8:3 / /d rw,relatime - ext4 /dev/sdc ro,relatime\n"
      "5 1 8:4 / /e rw - ext4 /dev/sdd rw,emergency_ro\n"
      "6 1 8:5 / /f rw,rox - ext4 /dev/sde rw,norecovery,error=ro-remount\n",
      mounts));
  ASSERT_EQ(mounts.size(), 6u);
  ExpectMount(mounts[0], "/dev/sda1", "/a", "ext4", false);
  ExpectMount(mounts[1], "/dev/sdb", "/b", "xfs", false);
  ExpectMount(mounts[2], "", "/c", "tmpfs", false);
  ExpectMount(mounts[3], "/dev/sdc", "/d", "ext4", true);
  ExpectMount(mounts[4], "/dev/sdd", "/e", "ext4", true);
  ExpectMount(mounts[5], "/dev/sde", "/f", "ext4", false);
}

TEST(ParseMountinfo, MalformedLineIsFalseWithTheLinesBeforeIt) {
  for (const char* text : {
           "26 1 254:0 / / rw,relatime ext4 /dev/vda rw\n",   // no " - "
           "x 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",  // mount id
           "26 1 2540 / / rw,relatime - ext4 /dev/vda rw\n",  // major:minor
           "26 1 254:x / / rw,relatime - ext4 /dev/vda rw\n",
           "26 1 254:0 / / - ext4 /dev/vda rw\n",           // no options
           "26 1 254:0 / / rw - ext4\n",                    // no source, no options
           "26 1 254:0 / / rw - ext4 /dev/vda\n",           // no super options
           "26 1 254:0 / / rw - ext4 /dev/vda rw extra\n",  // a field too many
           "26 1 254:0 / / rw -  /dev/vda rw\n",            // no type
           "26 1 254:0 / / rw - ext4 /dev/vda \n",          // empty super options
       }) {
    std::vector<MountEntry> mounts;
    EXPECT_FALSE(ParseMountinfo(text, mounts)) << text;
    EXPECT_TRUE(mounts.empty()) << text;
  }
  // The host's file cut inside "/"'s line: the five mounts before it are kept.
  std::vector<MountEntry> mounts;
  EXPECT_FALSE(ParseMountinfo(
      CutAt(ReadFile(kHost + "1/mountinfo"), " /dev/vda rw,discard") + " /dev/vda", mounts));
  EXPECT_EQ(mounts.size(), 5u);
  mounts.clear();
  EXPECT_TRUE(ParseMountinfo("", mounts));
  EXPECT_TRUE(mounts.empty());
}

// ---------------------------------------------------------------------------------------------
// /proc/pressure/* (ParsePressure of cgroup_parsers.h reads the host-wide files too)

TEST(ParsePressure, HostWideFilesOfBothKernels) {
  struct Case {
    std::string path;
    std::uint64_t some_us, full_us;
  };
  for (const Case& c : {
           Case{kHost + "pressure/cpu", 16590233993, 0},  // 6.18 writes a "full" line for cpu
           Case{kHost + "pressure/memory", 396253, 211356},
           Case{kHost + "pressure/io", 462034673, 169183538},
           Case{kGuest + "pressure/cpu", 39762062, 0},
           Case{kGuest + "pressure/memory", 0, 0},
           Case{kGuest + "pressure/io", 2098322, 526194},
       }) {
    const auto totals = ParsePressure(ReadFile(c.path));
    ASSERT_TRUE(totals) << c.path;
    EXPECT_EQ(totals->some_us, c.some_us) << c.path;
    EXPECT_EQ(totals->full_us, c.full_us) << c.path;
  }
}

}  // namespace
}  // namespace swarmwatch
