#include "shippers/loki_refusal.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace swarmwatch {
namespace {

// Answers of the real Loki 3.4.6 (../shared/tools/loki) to pushes breaking its default limits.
constexpr std::string_view kGrouped =
    "2 errors like: entry for stream '{job=\"t\", s=\"a\", service_name=\"t\"}' has timestamp too "
    "old: 2026-11-27T21:03:15Z, oldest acceptable timestamp is: 2026-11-28T21:03:16Z; 1 errors "
    "like: entry for stream '{job=\"t\", s=\"a\", service_name=\"t\"}' has timestamp too new: "
    "2026-12-05T22:03:15Z; 1 errors like: stream '{job=\"t\", s=\"b\", service_name=\"t\", "
    "v=\"vvvv\"}' has label value too long: 'vvvv'; 1 errors like: Max entry size '262144' bytes "
    "exceeded for stream '{job=\"t\", s=\"a\", service_name=\"t\"}' while adding an entry with "
    "length '300000' bytes\n";
constexpr std::string_view kSingle =
    "entry for stream '{job=\"t\", s=\"d\", service_name=\"t\"}' has timestamp too old: "
    "2026-11-27T21:03:15Z, oldest acceptable timestamp is: 2026-11-28T21:03:17Z\n";

TEST(LokiRefusal, ParsesLokisGroupedAnswerByReason) {
  const LokiRefusal refusal = ParseLokiRefusal(kGrouped);
  EXPECT_TRUE(refusal.understood);
  ASSERT_EQ(refusal.groups.size(), 4U);
  EXPECT_EQ(refusal.groups[0].reason, "too_old");
  EXPECT_EQ(refusal.groups[0].count, 2U);
  EXPECT_EQ(refusal.groups[0].stream, "{job=\"t\", s=\"a\", service_name=\"t\"}");
  EXPECT_EQ(refusal.groups[1].reason, "too_new");
  EXPECT_EQ(refusal.groups[2].reason, "invalid_labels");
  EXPECT_TRUE(refusal.groups[2].whole_stream);
  EXPECT_EQ(refusal.groups[2].stream, "{job=\"t\", s=\"b\", service_name=\"t\", v=\"vvvv\"}");
  EXPECT_EQ(refusal.groups[3].reason, "line_too_long");
  EXPECT_EQ(refusal.groups[3].count, 1U);
}

TEST(LokiRefusal, ASingleErrorHasNoPrefix) {
  const LokiRefusal refusal = ParseLokiRefusal(kSingle);
  EXPECT_TRUE(refusal.understood);
  ASSERT_EQ(refusal.groups.size(), 1U);
  EXPECT_EQ(refusal.groups[0].reason, "too_old");
  EXPECT_EQ(refusal.groups[0].count, 1U);
}

TEST(LokiRefusal, ASemicolonInsideAMessageDoesNotSplitIt) {
  const LokiRefusal refusal = ParseLokiRefusal(
      "3 errors like: entry for stream '{job=\"a; 2 errors\"}' has timestamp too new: x; 1 errors "
      "like: Max entry size '10' bytes exceeded for stream '{job=\"a\"}' while adding an entry");
  ASSERT_EQ(refusal.groups.size(), 2U);
  EXPECT_EQ(refusal.groups[0].count, 3U);
  EXPECT_EQ(refusal.groups[0].stream, "{job=\"a; 2 errors\"}");
  EXPECT_EQ(refusal.groups[1].reason, "line_too_long");
}

// Loki 3.4.6's words (pkg/validation/validate.go): these refuse one entry, not the stream, though
// they begin as a stream's label refusal does.
TEST(LokiRefusal, StructuredMetadataOverTheLimitsIsOneEntryNotTheWholeStream) {
  const LokiRefusal refusal = ParseLokiRefusal(
      "2 errors like: stream '{job=\"t\", s=\"a\"}' has structured metadata too large: '70000' "
      "bytes, limit: '65536' bytes. Please see `limits_config.max_structured_metadata_size` or "
      "contact your Loki administrator to increase it.; 1 errors like: stream '{job=\"t\", "
      "s=\"a\"}' has too many structured metadata labels: '129', limit: '128'. Please see "
      "`limits_config.max_structured_metadata_entries_count` or contact your Loki administrator "
      "to increase it.");
  ASSERT_TRUE(refusal.understood);
  ASSERT_EQ(refusal.groups.size(), 2U);
  EXPECT_EQ(refusal.groups[0].reason, "structured_metadata_too_large");
  EXPECT_EQ(refusal.groups[0].count, 2U);
  EXPECT_FALSE(refusal.groups[0].whole_stream);
  EXPECT_EQ(refusal.groups[0].stream, "{job=\"t\", s=\"a\"}");
  EXPECT_EQ(refusal.groups[1].reason, "structured_metadata_too_many");
  EXPECT_FALSE(refusal.groups[1].whole_stream);
  const std::vector<PushedStream> streams = {{"{job=\"t\",s=\"a\"}", 10}};
  EXPECT_EQ(CountRefused(400, refusal.groups[0].message, streams),
            (std::map<std::string, std::size_t>{{"structured_metadata_too_large", 1}}));
}

TEST(LokiRefusal, WhatIsNotUnderstoodIsSaidSo) {
  EXPECT_FALSE(ParseLokiRefusal("").understood);
  EXPECT_FALSE(ParseLokiRefusal("per-tenant limit exceeded").understood);
  EXPECT_FALSE(ParseLokiRefusal("2 errors like: something new").understood);
}

TEST(LokiRefusal, StreamsAreMatchedIgnoringLokisDerivedServiceName) {
  EXPECT_TRUE(SameLokiStream("{job=\"t\", s=\"b\", service_name=\"t\"}", "{job=\"t\",s=\"b\"}"));
  EXPECT_TRUE(SameLokiStream("{job=\"t\", s=\"b\"}", "{job=\"t\",s=\"b\"}"));
  EXPECT_FALSE(SameLokiStream("{job=\"t\", s=\"c\", service_name=\"t\"}", "{job=\"t\",s=\"b\"}"));
  EXPECT_FALSE(SameLokiStream("{job=\"t\", s=\"b\", x=\"1\"}", "{job=\"t\",s=\"b\"}"));
  EXPECT_FALSE(SameLokiStream("{job=\"t\"}", "{job=\"t\",s=\"b\"}"));
  EXPECT_FALSE(SameLokiStream("not a label set", "{job=\"t\"}"));
}

TEST(LokiRefusal, CountsOnlyWhatLokiNamedAndTheRestAsStored) {
  const std::vector<PushedStream> streams = {{"{job=\"t\",s=\"a\"}", 10},
                                             {"{job=\"t\",s=\"b\",v=\"vvvv\"}", 4},
                                             {"{job=\"t\",s=\"c\"}", 6}};
  EXPECT_EQ(CountRefused(400, kGrouped, streams),
            (std::map<std::string, std::size_t>{
                {"too_old", 2}, {"too_new", 1}, {"invalid_labels", 4}, {"line_too_long", 1}}));
  // Not understood, another 4xx, a stream not in the push: the rest counts as rejected.
  EXPECT_EQ(CountRefused(400, "rate limited, somehow", streams),
            (std::map<std::string, std::size_t>{{"rejected", 20}}));
  EXPECT_EQ(CountRefused(413, kSingle, streams),
            (std::map<std::string, std::size_t>{{"rejected", 20}}));
  const std::vector<PushedStream> other = {{"{job=\"t\",s=\"a\"}", 5}};
  EXPECT_EQ(CountRefused(400, kGrouped, other),
            (std::map<std::string, std::size_t>{
                {"too_old", 2}, {"too_new", 1}, {"line_too_long", 1}, {"rejected", 1}}));
}

}  // namespace
}  // namespace swarmwatch
