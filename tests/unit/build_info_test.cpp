#include "agent/build_info.h"

#include <gtest/gtest.h>

namespace swarmwatch {
namespace {

TEST(BuildInfo, VersionIsTheProjectVersion) {
  EXPECT_EQ(Version(), "0.1.0");
}

}  // namespace
}  // namespace swarmwatch
