#include "exporters/kernel_file_reader.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

// A child process whose /proc files the tests read; killed on demand.
class Child {
 public:
  Child() : pid_(fork()) {
    if (pid_ == 0) {
      pause();
      _exit(0);
    }
  }
  ~Child() { Kill(); }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

TEST(KernelFileReader, RereadsAnOpenFileAndSeesFreshContents) {
  KernelFileReader reader;
  const std::string path = "/proc/self/status";
  auto first = reader.Read(path);
  ASSERT_TRUE(first.has_value());
  EXPECT_NE(first->find("Name:"), std::string_view::npos);
  const std::string first_copy(*first);
  EXPECT_EQ(reader.open_files(), 1u);

  std::string grow(8 << 20, 'x');  // touch memory so VmRSS/VmHWM change
  auto second = reader.Read(path);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(reader.open_files(), 1u);
  EXPECT_NE(std::string(*second), first_copy) << "the kernel regenerates the file on pread from 0";
  EXPECT_EQ(grow.size(), 8u << 20);
}

TEST(KernelFileReader, FileOfADeadProcessIsReportedAbsentAndClosed) {
  Child child;
  KernelFileReader reader;
  const std::string path = "/proc/" + std::to_string(child.pid()) + "/stat";
  auto alive = reader.Read(path);
  ASSERT_TRUE(alive.has_value());
  EXPECT_EQ(alive->substr(0, std::to_string(child.pid()).size()), std::to_string(child.pid()));
  child.Kill();
  EXPECT_FALSE(reader.Read(path).has_value());
  EXPECT_EQ(reader.open_files(), 0u);
}

TEST(KernelFileReader, AbsentFileIsNullopt) {
  KernelFileReader reader;
  EXPECT_FALSE(reader.Read("/proc/self/no-such-file").has_value());
  EXPECT_EQ(reader.open_files(), 0u);
}

TEST(KernelFileReader, CloseUnusedClosesFilesNotReadSinceTheLastCall) {
  KernelFileReader reader;
  ASSERT_TRUE(reader.Read("/proc/self/stat").has_value());
  ASSERT_TRUE(reader.Read("/proc/self/status").has_value());
  reader.CloseUnused();  // both were read in this round: both stay
  EXPECT_EQ(reader.open_files(), 2u);
  ASSERT_TRUE(reader.Read("/proc/self/stat").has_value());
  reader.CloseUnused();  // status was not read in this round
  EXPECT_EQ(reader.open_files(), 1u);
}

TEST(KernelFileReader, FilesOfASetAreReadBySlot) {
  KernelFileReader reader;
  KernelFileReader::FileSet& self = reader.Files("/proc/self");
  const auto stat = reader.Read(self, 0, "/proc/self", "stat");
  ASSERT_TRUE(stat.has_value());
  EXPECT_NE(stat->find(") "), std::string_view::npos);
  const auto status = reader.Read(self, 1, "/proc/self", "status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->substr(0, 5), "Name:");
  EXPECT_EQ(self.readable(), 2);
  EXPECT_EQ(reader.open_files(), 2u);
  // Looked up again, the set is the same one: its files are not opened anew.
  EXPECT_EQ(&reader.Files("/proc/self"), &self);
  EXPECT_EQ(self.readable(), 0);
  EXPECT_TRUE(reader.Read(self, 0, "/proc/self", "stat").has_value());
  EXPECT_EQ(reader.open_files(), 2u);
}

TEST(KernelFileReader, AbsentFileIsTriedAgainOnlyAfterSomeLookups) {
  const testing::TempDir dir;
  KernelFileReader reader;
  KernelFileReader::FileSet* set = &reader.Files(dir.path());
  EXPECT_FALSE(reader.Read(*set, 0, dir.path(), "late").has_value());
  { std::ofstream(dir.path() + "/late") << "here\n"; }
  std::uint32_t lookups = 1;
  for (; lookups < KernelFileReader::kRetryAbsentAfter; ++lookups) {
    set = &reader.Files(dir.path());
    ASSERT_FALSE(reader.Read(*set, 0, dir.path(), "late").has_value()) << lookups;
  }
  set = &reader.Files(dir.path());
  EXPECT_EQ(reader.Read(*set, 0, dir.path(), "late"), "here\n");
}

TEST(KernelFileReader, ResetForgetsAbsentFilesAndClosesOpenOnes) {
  const testing::TempDir dir;
  { std::ofstream(dir.path() + "/a") << "a\n"; }
  KernelFileReader reader;
  KernelFileReader::FileSet& set = reader.Files(dir.path());
  EXPECT_EQ(reader.Read(set, 0, dir.path(), "a"), "a\n");
  EXPECT_FALSE(reader.Read(set, 1, dir.path(), "b").has_value());
  reader.Reset(set);
  EXPECT_EQ(reader.open_files(), 0u);
  { std::ofstream(dir.path() + "/b") << "b\n"; }
  EXPECT_EQ(reader.Read(set, 1, dir.path(), "b"), "b\n");
}

TEST(KernelFileReader, CloseUnusedClosesSetsNotLookedUpSinceTheLastCall) {
  KernelFileReader reader;
  KernelFileReader::FileSet& self = reader.Files("/proc/self");
  ASSERT_TRUE(reader.Read(self, 0, "/proc/self", "stat").has_value());
  ASSERT_TRUE(reader.Read(self, 1, "/proc/self", "status").has_value());
  ASSERT_TRUE(reader.Read("/proc/self/statm").has_value());
  reader.CloseUnused();
  EXPECT_EQ(reader.open_files(), 3u);
  reader.Files("/proc/self");  // looked up, not read: its files stay open
  reader.CloseUnused();
  EXPECT_EQ(reader.open_files(), 2u);
}

TEST(KernelFileReader, ReadsFilesLargerThanOneChunk) {
  KernelFileReader reader;
  auto maps = reader.Read("/proc/self/smaps");
  ASSERT_TRUE(maps.has_value());
  EXPECT_GT(maps->size(), 16384u);
  EXPECT_EQ(maps->back(), '\n');
}

}  // namespace
}  // namespace swarmwatch
