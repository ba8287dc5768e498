#include "shippers/file_watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::TempDir;

// Waits up to a second in short steps until `id` is reported.
bool Sees(FileWatcher& watcher, const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto& events = watcher.Wait(milliseconds(100));
    if (std::find(events.ids.begin(), events.ids.end(), id) != events.ids.end())
      return true;
  }
  return false;
}

TEST(FileWatcher, SeesAnAppendARotationAndADeletion) {
  TempDir a;
  TempDir b;
  FileWatcher watcher;
  ASSERT_TRUE(watcher.status().ok()) << watcher.status().message();
  ASSERT_TRUE(watcher.Add("aaa", a.path()).ok());
  ASSERT_TRUE(watcher.Add("bbb", b.path()).ok());
  const std::string log = a.path() + "/aaa-json.log";
  std::ofstream(log) << "x\n";
  EXPECT_TRUE(Sees(watcher, "aaa"));

  std::ofstream(log, std::ios::app) << "y\n";
  const auto& events = watcher.Wait(milliseconds(1000));
  EXPECT_EQ(events.ids, std::vector<std::string>({"aaa"}));
  EXPECT_FALSE(events.woken);

  ASSERT_EQ(std::rename(log.c_str(), (log + ".1").c_str()), 0);
  EXPECT_TRUE(Sees(watcher, "aaa"));
  std::ofstream(b.path() + "/bbb-json.log") << "z\n";
  EXPECT_TRUE(Sees(watcher, "bbb"));

  fs::remove_all(a.path());  // the container is removed
  EXPECT_TRUE(Sees(watcher, "aaa"));
}

TEST(FileWatcher, IgnoresOtherFilesAndRemovedIds) {
  TempDir a;
  FileWatcher watcher;
  ASSERT_TRUE(watcher.Add("aaa", a.path()).ok());
  std::ofstream(a.path() + "/config.v2.json") << "{}";
  EXPECT_TRUE(watcher.Wait(milliseconds(50)).ids.empty());
  watcher.Remove("aaa");
  std::ofstream(a.path() + "/aaa-json.log") << "x\n";
  EXPECT_TRUE(watcher.Wait(milliseconds(50)).ids.empty());
}

TEST(FileWatcher, AddingAMissingDirectoryFails) {
  FileWatcher watcher;
  EXPECT_FALSE(watcher.Add("aaa", "/nonexistent/dir").ok());
}

TEST(FileWatcher, TimesOutWhenNothingHappens) {
  TempDir a;
  FileWatcher watcher;
  ASSERT_TRUE(watcher.Add("aaa", a.path()).ok());
  const auto start = std::chrono::steady_clock::now();
  const auto& events = watcher.Wait(milliseconds(100));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(95));
  EXPECT_TRUE(events.ids.empty());
  EXPECT_FALSE(events.woken);
  EXPECT_FALSE(events.overflow);
}

TEST(FileWatcher, WakeEndsAWaitEarly) {
  FileWatcher watcher;
  std::thread waker([&] {
    std::this_thread::sleep_for(milliseconds(50));
    watcher.Wake();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto& events = watcher.Wait(milliseconds(10000));
  const auto waited = std::chrono::steady_clock::now() - start;
  waker.join();
  EXPECT_TRUE(events.woken);
  EXPECT_LT(waited, milliseconds(5000));
  // The wake-up is consumed.
  EXPECT_FALSE(watcher.Wait(milliseconds(10)).woken);
}

TEST(FileWatcher, ReportsNewDirectoriesOfTheWatchedRoot) {
  TempDir root;
  FileWatcher watcher;
  ASSERT_TRUE(watcher.WatchRoot(root.path()).ok());
  std::ofstream(root.path() + "/a-file") << "x\n";  // files are not containers
  fs::create_directories(root.path() + "/c1");
  std::vector<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (seen.empty() && std::chrono::steady_clock::now() < deadline) {
    const auto& events = watcher.Wait(milliseconds(100));
    seen.insert(seen.end(), events.new_directories.begin(), events.new_directories.end());
  }
  EXPECT_EQ(seen, std::vector<std::string>{"c1"});
  EXPECT_FALSE(watcher.WatchRoot(root.path() + "/missing").ok());
}

}  // namespace
}  // namespace swarmwatch
