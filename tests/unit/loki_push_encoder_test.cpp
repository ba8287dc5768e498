#include "shippers/loki_push_encoder.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "push.pb.h"  // libprotobuf's classes generated from shippers/push.proto
#include "tests/gunzip.h"

namespace swarmwatch {
namespace {

logproto::PushRequest DecodeSnappyProto(const std::string& body) {
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(body.data(), body.size(), &raw));
  logproto::PushRequest request;
  EXPECT_TRUE(request.ParseFromString(raw));
  return request;
}

using testing::Gunzip;

std::int64_t NanosOf(const logproto::EntryAdapter& e) {
  return e.timestamp().seconds() * 1'000'000'000 + e.timestamp().nanos();
}

class LokiPushEncoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    long_line_.assign(20000, 'x');
    streams_.resize(2);
    streams_[0].labels = R"({job="docker",node="n1",swarm_service="web"})";
    streams_[0].entries = {
        {1'700'000'000'123'456'789, "GET /index.html 200", metadata_},
        {1'700'000'001'000'000'000, "", {}},  // whole second, empty line
        {1'700'000'001'000'000'001, long_line_, metadata_},
    };
    streams_[1].labels = R"({job="docker",stream="stderr"})";
    streams_[1].entries = {
        {0, "at epoch", {}},
        {-1'500'000'000, "before the epoch: seconds -2, nanos 500000000", {}},
        {999'999'999, "tab\there \"quoted\" back\\slash \x01 caf\xC3\xA9", {}},
    };
  }

  std::vector<LokiLabel> metadata_ = {{"task_id", "abc123"}, {"container_id", "f00d"}};
  std::string long_line_;
  std::vector<LokiStream> streams_;
};

TEST_F(LokiPushEncoderTest, ProtobufDecodesWithTheGeneratedClasses) {
  const logproto::PushRequest request = DecodeSnappyProto(EncodeProtobufSnappy(streams_));
  ASSERT_EQ(request.streams_size(), 2);
  for (int s = 0; s < 2; ++s) {
    const auto& got = request.streams(s);
    const LokiStream& want = streams_[static_cast<std::size_t>(s)];
    EXPECT_EQ(got.labels(), want.labels);
    EXPECT_EQ(got.hash(), 0u);
    ASSERT_EQ(got.entries_size(), static_cast<int>(want.entries.size()));
    for (int e = 0; e < got.entries_size(); ++e) {
      const LokiEntry& w = want.entries[static_cast<std::size_t>(e)];
      EXPECT_EQ(NanosOf(got.entries(e)), w.time_ns) << s << "/" << e;
      EXPECT_GE(got.entries(e).timestamp().nanos(), 0);
      EXPECT_LT(got.entries(e).timestamp().nanos(), 1'000'000'000);
      EXPECT_EQ(got.entries(e).line(), w.line);
      ASSERT_EQ(got.entries(e).structuredmetadata_size(), static_cast<int>(w.metadata.size()));
      for (int m = 0; m < got.entries(e).structuredmetadata_size(); ++m) {
        EXPECT_EQ(got.entries(e).structuredmetadata(m).name(),
                  w.metadata[static_cast<std::size_t>(m)].name);
        EXPECT_EQ(got.entries(e).structuredmetadata(m).value(),
                  w.metadata[static_cast<std::size_t>(m)].value);
      }
    }
  }
  EXPECT_EQ(request.streams(1).entries(1).timestamp().seconds(), -2);
  EXPECT_EQ(request.streams(1).entries(1).timestamp().nanos(), 500'000'000);
}

TEST_F(LokiPushEncoderTest, ProtobufIsByteIdenticalToLibprotobufsSerialization) {
  logproto::PushRequest request;
  for (const LokiStream& stream : streams_) {
    auto* s = request.add_streams();
    s->set_labels(stream.labels);
    for (const LokiEntry& entry : stream.entries) {
      auto* e = s->add_entries();
      std::int64_t seconds = entry.time_ns / 1'000'000'000;
      std::int64_t nanos = entry.time_ns % 1'000'000'000;
      if (nanos < 0) {
        nanos += 1'000'000'000;
        --seconds;
      }
      e->mutable_timestamp()->set_seconds(seconds);
      e->mutable_timestamp()->set_nanos(static_cast<std::int32_t>(nanos));
      e->set_line(std::string(entry.line));
      for (const LokiLabel& m : entry.metadata) {
        auto* pair = e->add_structuredmetadata();
        pair->set_name(std::string(m.name));
        pair->set_value(std::string(m.value));
      }
    }
  }
  EXPECT_EQ(EncodeProtobuf(streams_), request.SerializeAsString());
}

TEST(LokiPushEncoder, EmptyRequestIsEmpty) {
  EXPECT_EQ(EncodeProtobuf({}), "");
  const logproto::PushRequest request = DecodeSnappyProto(EncodeProtobufSnappy({}));
  EXPECT_EQ(request.streams_size(), 0);
}

TEST(LokiPushEncoder, ProtobufReplacesInvalidUtf8SoStrictDecodersAcceptIt) {
  const std::vector<LokiLabel> metadata = {{"k", "bad\xFFvalue"}};
  std::vector<LokiStream> streams(1);
  streams[0].labels = R"({job="x"})";
  streams[0].entries = {{1, "cut in the middle of \xC3", metadata}, {2, "ok \xE2\x82\xAC", {}}};
  const logproto::PushRequest request = DecodeSnappyProto(EncodeProtobufSnappy(streams));
  ASSERT_EQ(request.streams(0).entries_size(), 2);
  EXPECT_EQ(request.streams(0).entries(0).line(), "cut in the middle of \xEF\xBF\xBD");
  EXPECT_EQ(request.streams(0).entries(0).structuredmetadata(0).value(), "bad\xEF\xBF\xBDvalue");
  EXPECT_EQ(request.streams(0).entries(1).line(), "ok \xE2\x82\xAC");
}

TEST_F(LokiPushEncoderTest, JsonParsesBackWithExactValues) {
  for (const bool gzip : {false, true}) {
    const std::string body = EncodeJson(streams_, gzip);
    const nlohmann::json doc = nlohmann::json::parse(gzip ? Gunzip(body) : body);
    ASSERT_EQ(doc["streams"].size(), 2u);
    EXPECT_EQ(doc["streams"][0]["stream"],
              (nlohmann::json{{"job", "docker"}, {"node", "n1"}, {"swarm_service", "web"}}));
    EXPECT_EQ(doc["streams"][1]["stream"],
              (nlohmann::json{{"job", "docker"}, {"stream", "stderr"}}));
    for (std::size_t s = 0; s < 2; ++s) {
      const auto& values = doc["streams"][s]["values"];
      ASSERT_EQ(values.size(), streams_[s].entries.size());
      for (std::size_t e = 0; e < values.size(); ++e) {
        const LokiEntry& want = streams_[s].entries[e];
        ASSERT_TRUE(values[e][0].is_string());
        EXPECT_EQ(values[e][0].get<std::string>(), std::to_string(want.time_ns));
        EXPECT_EQ(values[e][1].get<std::string>(), want.line);
        if (want.metadata.empty()) {
          EXPECT_EQ(values[e].size(), 2u);
        } else {
          EXPECT_EQ(values[e][2],
                    (nlohmann::json{{"task_id", "abc123"}, {"container_id", "f00d"}}));
        }
      }
    }
  }
}

TEST(LokiPushEncoder, JsonEscapesControlBytesAndReplacesInvalidUtf8) {
  std::string out;
  AppendJsonEscaped("a\"b\\c\n\r\t\b\f\x01\x1f \x7f", &out);
  EXPECT_EQ(out, R"(a\"b\\c\n\r\t\b\f\u0001\u001f )"
                 "\x7f");
  out.clear();
  AppendJsonEscaped("caf\xC3\xA9 \xF0\x9F\x98\x80 ok", &out);
  EXPECT_EQ(out, "caf\xC3\xA9 \xF0\x9F\x98\x80 ok");  // valid UTF-8 passes through
  out.clear();
  // Lone continuation byte, truncated sequence, overlong '/', UTF-16 surrogate, above U+10FFFF.
  AppendJsonEscaped("a\x80z\xE2\x82 \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80", &out);
  EXPECT_EQ(out,
            R"(a\ufffdz\ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd \ufffd\ufffd\ufffd\ufffd)");
  const nlohmann::json parsed = nlohmann::json::parse("\"" + out + "\"");  // valid JSON
  EXPECT_TRUE(parsed.is_string());
}

TEST(LokiPushEncoder, JsonOfArbitraryBytesIsValidJson) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  std::vector<LokiStream> streams(1);
  streams[0].labels = R"({job="x"})";
  streams[0].entries = {{42, all, {}}};
  const nlohmann::json doc = nlohmann::json::parse(EncodeJson(streams, false));
  const std::string line = doc["streams"][0]["values"][0][1].get<std::string>();
  EXPECT_EQ(line.substr(0, 128), all.substr(0, 128));  // ASCII unchanged
  EXPECT_EQ(line.size(), 128u + 128u * 3u);            // each stray high byte became U+FFFD
}

TEST(LokiLabels, ValidatesAndSanitisesNames) {
  EXPECT_TRUE(IsValidLabelName("job"));
  EXPECT_TRUE(IsValidLabelName("_a9"));
  EXPECT_FALSE(IsValidLabelName(""));
  EXPECT_FALSE(IsValidLabelName("9a"));
  EXPECT_FALSE(IsValidLabelName("com.docker.stack"));
  EXPECT_FALSE(IsValidLabelName("a-b"));
  EXPECT_EQ(SanitizeLabelName("com.docker.stack.namespace"), "com_docker_stack_namespace");
  EXPECT_EQ(SanitizeLabelName("9lives"), "_9lives");
  EXPECT_EQ(SanitizeLabelName(""), "_");
  EXPECT_EQ(SanitizeLabelName("caf\xC3\xA9"), "caf__");
  EXPECT_TRUE(IsValidLabelName(SanitizeLabelName("any thing-at.all")));
}

TEST(LokiLabels, RendersSortedEscapedAndCanonical) {
  const std::vector<LokiLabel> labels = {{"node", "n1"},
                                         {"job", "docker"},
                                         {"empty", ""},
                                         {"swarm.stack", "a\"b\\c\nd\te\x01"},
                                         {"job", "second job is ignored"},
                                         {"bad", "x\xFFy"}};
  EXPECT_EQ(RenderLabelSet(labels),
            R"({bad="x?y",job="docker",node="n1",swarm_stack="a\"b\\c\nd\te\x01"})");
  EXPECT_EQ(RenderLabelSet({}), "{}");

  std::vector<std::pair<std::string, std::string>> parsed;
  ASSERT_TRUE(ParseLabelSet(RenderLabelSet(labels), &parsed));
  ASSERT_EQ(parsed.size(), 4u);
  EXPECT_EQ(parsed[0], (std::pair<std::string, std::string>{"bad", "x?y"}));
  EXPECT_EQ(parsed[1], (std::pair<std::string, std::string>{"job", "docker"}));
  EXPECT_EQ(parsed[3], (std::pair<std::string, std::string>{"swarm_stack", "a\"b\\c\nd\te\x01"}));
}

TEST(LokiLabels, NoLabelValueHoldsTheReplacementCharacterWhichLokiRefuses) {
  // Loki 3.4.6 answers 400 "parse error: invalid UTF-8 rune" to a stream label holding U+FFFD,
  // raw or escaped, and refuses every line of the stream. A byte that is not UTF-8 and U+FFFD
  // itself (what Docker makes of such a byte in a label) become '?', one per byte or character;
  // other UTF-8 stays.
  const std::vector<LokiLabel> labels = {{"a", "\xFF\"x\\"},
                                         {"b", "docker made \xEF\xBF\xBD"},
                                         {"c", "\xE2\x82 caf\xC3\xA9 \xF0\x9F\x98\x80"}};
  const std::string rendered = RenderLabelSet(labels);
  EXPECT_EQ(rendered,
            "{a=\"?\\\"x\\\\\",b=\"docker made ?\",c=\"?? caf\xC3\xA9 \xF0\x9F\x98\x80\"}");
  std::vector<LokiStream> streams(1);
  streams[0].labels = rendered;
  streams[0].entries = {{1, "line", {}}};
  const nlohmann::json doc = nlohmann::json::parse(EncodeJson(streams, false));
  EXPECT_EQ(doc["streams"][0]["stream"]["a"], "?\"x\\");
  EXPECT_EQ(doc["streams"][0]["stream"]["b"], "docker made ?");
}

TEST(LokiLabels, ParseRejectsBadSyntax) {
  std::vector<std::pair<std::string, std::string>> parsed;
  EXPECT_TRUE(ParseLabelSet(R"( { a = "b" , c="d" } )", &parsed));
  EXPECT_EQ(parsed.size(), 2u);
  EXPECT_TRUE(ParseLabelSet("{}", &parsed));
  EXPECT_TRUE(parsed.empty());
  for (const char* bad : {"", "a=\"b\"", "{a=b}", "{a=\"b\"", "{9a=\"b\"}", "{a=\"b\"}x",
                          "{a=\"b\\q\"}", "{a=\"b\",}", "{,}"}) {
    EXPECT_FALSE(ParseLabelSet(bad, &parsed)) << bad;
  }
}

}  // namespace
}  // namespace swarmwatch
