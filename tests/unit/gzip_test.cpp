#include "agent/daemon/gzip.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <random>
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

TEST(Gzip, EveryCallOfAThreadCompressesAnew) {
  // The compressor's tables are kept per thread: a second answer must not depend on the first.
  std::string first, second;
  for (int i = 0; i < 20000; ++i) {
    first += "container_memory_rss{id=\"/docker/" + std::to_string(i) + "\"} " +
             std::to_string(i * 4096) + "\n";
    second += "container_threads{id=\"/docker/" + std::to_string(i % 97) + "\"} 1\n";
  }
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(Gunzip(GzipCompress(first)), first) << round;
    EXPECT_EQ(Gunzip(GzipCompress(second)), second) << round;
  }
}

TEST(Gzip, ABufferKeptFromALargerAnswerHoldsOnlyTheNewOne) {
  std::string large, small;
  for (int i = 0; i < 20000; ++i) {
    large += "container_memory_rss{id=\"/docker/" + std::to_string(i) + "\"} 1\n";
  }
  for (int i = 0; i < 50; ++i) {
    small += "container_threads{id=\"/docker/" + std::to_string(i) + "\"} 2\n";
  }
  std::string buffer = "leftover";
  GzipCompress(large, buffer);
  EXPECT_EQ(Gunzip(buffer), large);
  GzipCompress(small, buffer);
  EXPECT_EQ(Gunzip(buffer), small);
  EXPECT_EQ(buffer, GzipCompress(small));
}

TEST(Gzip, WorksOnASmallThreadStack) {
  // HTTP servers may run handlers on small stacks (CivetWeb's were ~100 KB); the compressor's
  // 80 KB state once lived on the stack and overflowed it.
  const std::string text(1 << 20, 'm');
  std::string round_trip;
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, 64 * 1024), 0);
  struct Job {
    const std::string* text;
    std::string compressed;
  } job{&text, {}};
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, &attributes,
                [](void* arg) -> void* {
                  auto* j = static_cast<Job*>(arg);
                  j->compressed = GzipCompress(*j->text);
                  return nullptr;
                },
                &job),
            0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
  EXPECT_EQ(Gunzip(job.compressed), text);
}

TEST(Gzip, IncompressibleInputGetsMoreRoom) {
  // Random bytes do not shrink: the first output buffer (a quarter of the input) is outgrown.
  std::mt19937 random(7);
  std::string noise(3 << 20, '\0');
  for (char& byte : noise)
    byte = static_cast<char>(random());
  const std::string compressed = GzipCompress(noise);
  EXPECT_GT(compressed.size(), noise.size());
  EXPECT_EQ(Gunzip(compressed), noise);
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
