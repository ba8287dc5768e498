#include "exporters/kernel_file_reader.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

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

TEST(KernelFileReader, ReadsFilesLargerThanOneChunk) {
  KernelFileReader reader;
  auto maps = reader.Read("/proc/self/smaps");
  ASSERT_TRUE(maps.has_value());
  EXPECT_GT(maps->size(), 16384u);
  EXPECT_EQ(maps->back(), '\n');
}

}  // namespace
}  // namespace swarmwatch
