// Reads tests/testdata/proc: files copied from this machine's /proc (pid 10139 is the fixture
// container's shell, pid 1 holds the host's net/dev) plus synthetic /proc/<tid>/stat files 20001..
// 20007 covering every state and a comm holding spaces and ')', and 20010, a process of three
// threads (20011, 20012).
#include "exporters/proc_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

const std::string kProc = std::string(SWARMWATCH_TESTDATA) + "/proc";

TEST(ProcReader, NetDevOfContainerSkipsLo) {
  const ProcReader reader(kProc);
  const auto interfaces = reader.NetDev(10139);
  ASSERT_TRUE(interfaces.ok()) << interfaces.error().message;
  ASSERT_EQ(interfaces->size(), 1u);
  const NetInterfaceStats& eth0 = (*interfaces)[0];
  EXPECT_EQ(eth0.name, "eth0");
  EXPECT_EQ(eth0.rx_bytes, 656u);
  EXPECT_EQ(eth0.rx_packets, 8u);
  EXPECT_EQ(eth0.tx_bytes, 0u);
  EXPECT_EQ(eth0.tx_packets, 0u);
}

TEST(ProcReader, NetDevSkipsVethAndDocker) {
  const ProcReader reader(kProc + "/");
  const auto interfaces = reader.NetDev(1);
  ASSERT_TRUE(interfaces.ok()) << interfaces.error().message;
  // lo, docker0, veth1f302e3, vethad12dde are left out.
  ASSERT_EQ(interfaces->size(), 3u);
  EXPECT_EQ((*interfaces)[0].name, "ifb0");
  EXPECT_EQ((*interfaces)[1].name, "ifb1");
  const NetInterfaceStats& eth0 = (*interfaces)[2];
  EXPECT_EQ(eth0.name, "eth0");
  EXPECT_EQ(eth0.rx_bytes, 104299638u);
  EXPECT_EQ(eth0.rx_packets, 2184u);
  EXPECT_EQ(eth0.tx_bytes, 67401u);
  EXPECT_EQ(eth0.tx_packets, 883u);
}

TEST(ProcReader, NetDevOfMissingPidIsAnError) {
  EXPECT_FALSE(ProcReader(kProc).NetDev(99999).ok());
}

// A thread lister that records that it was called.
struct Lister {
  std::optional<std::vector<std::int64_t>> ids;
  int calls = 0;
  ProcReader::ThreadLister Get() {
    return [this] {
      ++calls;
      return ids;
    };
  }
};

TEST(ProcReader, TaskStatesOfSingleThreadedProcessesNeedNoThreadList) {
  const ProcReader reader(kProc);
  // 10139 sh S, 10184 sleep S, 10185 sleep S, 20001 D (comm "a) S (b"), 20002 I, 20003 T,
  // 20004 t, 20005 R (comm "busy)"), 20006 Z (not counted), 20007 truncated, 99999 vanished:
  // each has one thread.
  Lister lister;
  const ProcReader::Tasks tasks = reader.TaskStates(
      {10139, 10184, 10185, 20001, 20002, 20003, 20004, 20005, 20006, 20007, 99999}, lister.Get());
  EXPECT_EQ(tasks.states.running, 1u);
  EXPECT_EQ(tasks.states.sleeping, 4u);
  EXPECT_EQ(tasks.states.stopped, 2u);
  EXPECT_EQ(tasks.states.uninterruptible, 1u);
  EXPECT_EQ(tasks.states.iowait, 0u);
  EXPECT_EQ(tasks.threads, 9u);  // one per readable stat, the zombie's too
  EXPECT_EQ(lister.calls, 0);
}

TEST(ProcReader, TaskStatesOfAMultiThreadedProcessReadEachThread) {
  const ProcReader reader(kProc);
  // 20010 S has three threads: 20011 R and 20012 D. 20013 vanished since the list was read.
  Lister lister{std::vector<std::int64_t>{10139, 20010, 20011, 20012, 20013}};
  const ProcReader::Tasks tasks = reader.TaskStates({10139, 20010}, lister.Get());
  EXPECT_EQ(lister.calls, 1);
  EXPECT_EQ(tasks.states.sleeping, 2u);  // 10139, 20010
  EXPECT_EQ(tasks.states.running, 1u);
  EXPECT_EQ(tasks.states.uninterruptible, 1u);
  EXPECT_EQ(tasks.threads, 5u);  // the list's entries, as container_threads always counted
}

TEST(ProcReader, TaskStatesWithoutAThreadListCountOnlyProcesses) {
  const ProcReader reader(kProc);
  Lister lister;  // the tasks file is unreadable
  const ProcReader::Tasks tasks = reader.TaskStates({20010}, lister.Get());
  EXPECT_EQ(lister.calls, 1);
  EXPECT_EQ(tasks.states.sleeping, 1u);
  EXPECT_EQ(tasks.states.running, 0u);
  EXPECT_EQ(tasks.threads, std::nullopt);
}

TEST(ProcReader, KeptTaskFilesStayOpenThroughCloseUnusedFiles) {
  testing::TempDir proc;
  std::filesystem::create_directories(proc.path() + "/7");
  std::filesystem::create_directories(proc.path() + "/8");
  std::ofstream(proc.path() + "/7/stat") << "7 (sh) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n";
  std::ofstream(proc.path() + "/8/stat") << "8 (sh) R 1 8 8 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n";
  const ProcReader reader(proc.path());
  Lister lister;
  EXPECT_EQ(reader.TaskStates({7, 8}, lister.Get()).threads, 2u);
  reader.CloseUnusedFiles();
  reader.KeepTaskFiles({7});
  reader.CloseUnusedFiles();
  // An open file reads on after its name is gone; a closed one cannot be opened again.
  std::filesystem::remove(proc.path() + "/7/stat");
  std::filesystem::remove(proc.path() + "/8/stat");
  const ProcReader::Tasks tasks = reader.TaskStates({7, 8}, lister.Get());
  EXPECT_EQ(tasks.states.sleeping, 1u);
  EXPECT_EQ(tasks.states.running, 0u);
  EXPECT_EQ(tasks.threads, 1u);
}

TEST(ProcReader, BlockDeviceNames) {
  const auto names = ProcReader(kProc).BlockDeviceNames();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names.at({254, 0}), "/dev/vda");
  EXPECT_TRUE(ProcReader(kProc + "/nowhere").BlockDeviceNames().empty());
}

TEST(ProcReader, Machine) {
  const auto machine = ProcReader(kProc).Machine();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  EXPECT_EQ(machine->cpu_cores, 2u);                     // processor : 0, processor : 1
  EXPECT_EQ(machine->memory_bytes, 24684096ull * 1024);  // MemTotal: 24684096 kB
}

TEST(ProcReader, MachineWithoutProcfsIsAnError) {
  EXPECT_FALSE(ProcReader(kProc + "/nowhere").Machine().ok());
}

}  // namespace
}  // namespace swarmwatch
