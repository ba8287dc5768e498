#include "exporters/filesystem_stats.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/fake_statfs.h"

namespace swarmwatch {
namespace {

using namespace std::chrono_literals;
using State = StatfsOutcome::State;
using Clock = std::chrono::steady_clock;
using testing::FakeStatfs;

// Waits up to 5 s for `done`.
template <class Predicate>
bool Eventually(Predicate done) {
  const auto deadline = Clock::now() + 5s;
  while (!done()) {
    if (Clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(FilesystemStats, AnswersSizesInBytesOfTheBlockSizeAndErrors) {
  auto fake = std::make_shared<FakeStatfs>();
  fake->Fail("/gone", ENOENT);
  FilesystemStats stats(1s, FakeStatfs::Function(fake));
  const auto outcomes = stats.Stat({"/", "/gone", "/data"});
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0].state, State::kOk);
  // "/": one character, so 1001 blocks of 4096 bytes, 501 free, 401 available, 101 files, 51 free.
  EXPECT_EQ(outcomes[0].usage.size_bytes, 4096.0 * 1001);
  EXPECT_EQ(outcomes[0].usage.free_bytes, 4096.0 * 501);
  EXPECT_EQ(outcomes[0].usage.avail_bytes, 4096.0 * 401);
  EXPECT_EQ(outcomes[0].usage.files, 101);
  EXPECT_EQ(outcomes[0].usage.files_free, 51);
  EXPECT_EQ(outcomes[1].state, State::kFailed);
  EXPECT_EQ(outcomes[1].error, ENOENT);
  EXPECT_EQ(outcomes[2].state, State::kOk);
  EXPECT_EQ(stats.live_threads(), 1u);
  EXPECT_TRUE(stats.Stat({}).empty());
}

TEST(FilesystemStats, AHungMountCostsOneScrapeOneTimeoutAndLaterScrapesNothing) {
  auto fake = std::make_shared<FakeStatfs>();
  fake->Hang("/nfs");
  FilesystemStats stats(200ms, FakeStatfs::Function(fake));

  auto start = Clock::now();
  auto outcomes = stats.Stat({"/", "/nfs", "/data"});
  auto took = Clock::now() - start;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 1500ms);
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0].state, State::kOk);
  EXPECT_EQ(outcomes[1].state, State::kStuck);
  // The mount after the hung one is still asked, by a new thread.
  EXPECT_EQ(outcomes[2].state, State::kOk);
  EXPECT_EQ(stats.stuck_mounts(), 1u);
  EXPECT_EQ(stats.live_threads(), 2u);  // the worker and the one stuck in /nfs

  // Later scrapes do not wait on it, nor ask it again.
  for (int i = 0; i < 3; ++i) {
    start = Clock::now();
    outcomes = stats.Stat({"/", "/nfs", "/data"});
    took = Clock::now() - start;
    EXPECT_LT(took, 100ms);
    EXPECT_EQ(outcomes[1].state, State::kStuck);
    EXPECT_EQ(outcomes[2].state, State::kOk);
  }
  EXPECT_EQ(fake->calls("/nfs"), 1);
  EXPECT_EQ(stats.live_threads(), 2u);

  // Once its statfs returns the mount is asked again, and answers.
  fake->Release("/nfs");
  ASSERT_TRUE(Eventually([&] { return stats.stuck_mounts() == 0 && stats.live_threads() == 1; }));
  outcomes = stats.Stat({"/", "/nfs", "/data"});
  EXPECT_EQ(outcomes[1].state, State::kOk);
  EXPECT_EQ(fake->calls("/nfs"), 2);
}

TEST(FilesystemStats, AtMostOneThreadPerStuckMount) {
  auto fake = std::make_shared<FakeStatfs>();
  fake->Hang("/a");
  fake->Hang("/b");
  FilesystemStats stats(100ms, FakeStatfs::Function(fake));
  for (int i = 0; i < 5; ++i) {
    // The same mount twice in one list (mounted over) is not asked twice either.
    const auto outcomes = stats.Stat({"/a", "/", "/b", "/a"});
    EXPECT_EQ(outcomes[0].state, State::kStuck);
    EXPECT_EQ(outcomes[1].state, State::kOk);
    EXPECT_EQ(outcomes[2].state, State::kStuck);
    EXPECT_EQ(outcomes[3].state, State::kStuck);
  }
  EXPECT_EQ(fake->calls("/a"), 1);
  EXPECT_EQ(fake->calls("/b"), 1);
  EXPECT_EQ(stats.stuck_mounts(), 2u);
  EXPECT_EQ(stats.live_threads(), 3u);
  fake->Release("/a");
  fake->Release("/b");
  EXPECT_TRUE(Eventually([&] { return stats.live_threads() == 1; }));
}

TEST(FilesystemStats, DestructionDoesNotWaitForAHungStatfs) {
  auto fake = std::make_shared<FakeStatfs>();
  fake->Hang("/nfs");
  auto stats = std::make_unique<FilesystemStats>(50ms, FakeStatfs::Function(fake));
  EXPECT_EQ(stats->Stat({"/nfs"})[0].state, State::kStuck);
  const auto start = Clock::now();
  stats.reset();
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(fake->inside(), 1);
  // The abandoned thread finishes on its own, with what it uses kept alive.
  fake->Release("/nfs");
  EXPECT_TRUE(Eventually([&] { return fake->inside() == 0; }));
}

TEST(FilesystemStats, RealStatfsOfThisMachine) {
  FilesystemStats stats(5s);
  const auto outcomes = stats.Stat({"/", "/nonexistent/mount"});
  ASSERT_EQ(outcomes[0].state, State::kOk);
  EXPECT_GT(outcomes[0].usage.size_bytes, 0);
  EXPECT_GE(outcomes[0].usage.size_bytes, outcomes[0].usage.free_bytes);
  EXPECT_EQ(outcomes[1].state, State::kFailed);
  EXPECT_EQ(outcomes[1].error, ENOENT);
}

}  // namespace
}  // namespace swarmwatch
