#include "agent/daemon/gzip.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/gunzip.h"

namespace swarmwatch {
namespace {

using testing::Gunzip;

TEST(Gzip, RoundTripsAndShrinksAnExposition) {
  std::string text;
  for (int i = 0; i < 5000; ++i) {
    text += "container_cpu_usage_seconds_total{id=\"/docker/" + std::to_string(i) +
            "\",cpu=\"total\"} " + std::to_string(i * 1.5) + "\n";
  }
  const std::string compressed = GzipCompress(text);
  ASSERT_GE(compressed.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(compressed[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(compressed[1]), 0x8b);
  EXPECT_LT(compressed.size() * 5, text.size());
  EXPECT_EQ(Gunzip(compressed), text);
}

TEST(Gzip, EmptyInput) {
  const std::string compressed = GzipCompress("");
  EXPECT_EQ(Gunzip(compressed), "");
}

TEST(AcceptsGzip, FollowsTheAcceptEncodingHeader) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("identity, gzip"));
  EXPECT_TRUE(AcceptsGzip("gzip;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip ;q=1.0"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0.000"));
  EXPECT_FALSE(AcceptsGzip("br, deflate"));
}

}  // namespace
}  // namespace swarmwatch
