#include "agent/open_file_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>

namespace swarmwatch {
namespace {

// Lowers the soft limit for the test and restores it after.
class LoweredLimit {
 public:
  explicit LoweredLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~LoweredLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }
  rlim_t hard() const { return saved_.rlim_max; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

TEST(RaiseOpenFileLimit, RaisesTheSoftLimitToTheHardOne) {
  const LoweredLimit lowered(256);
  ASSERT_TRUE(lowered.ok());
  if (lowered.hard() <= 256)
    GTEST_SKIP() << "the hard limit leaves nothing to raise";
  const OpenFileLimit result = RaiseOpenFileLimit();
  EXPECT_EQ(result.before, 256u);
  const rlim_t expected = std::min<rlim_t>(lowered.hard(), rlim_t{1} << 20);
  EXPECT_EQ(result.after, expected);
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, expected);
}

TEST(RaiseOpenFileLimit, LeavesAnAlreadyRaisedLimit) {
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  const LoweredLimit same(now.rlim_cur);
  RaiseOpenFileLimit();
  const OpenFileLimit again = RaiseOpenFileLimit();
  EXPECT_EQ(again.after, again.before);
}

}  // namespace
}  // namespace swarmwatch
