#include "shippers/json_file_decoder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace swarmwatch {
namespace {

// The lines of a json-file log copied from /var/lib/docker/containers/<id>/ (see
// tests/testdata/README.md), each with its '\n' as in the file.
std::vector<std::string> FixtureLines(const std::string& name) {
  std::ifstream in(std::string(SWARMWATCH_TESTDATA) + "/jsonfile/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line + "\n");
  }
  return lines;
}

// 2026-11-26T07:52:33Z, the second the fixtures were written in.
constexpr std::int64_t kFixtureSecond = 1795679553;
constexpr std::int64_t kNs = 1'000'000'000;

struct Decoded {
  Status status;
  DecodedLine line;
  std::string text;  // line.log, copied
};

Decoded Decode(std::string_view input) {
  Decoded d;
  std::string scratch;
  d.status = DecodeJsonFileLine(input, d.line, scratch);
  d.text = std::string(d.line.log);
  return d;
}

std::string DecodeLog(std::string_view input) {
  Decoded d = Decode(input);
  EXPECT_TRUE(d.status) << input << ": " << d.status.message();
  return d.text;
}

std::string ErrorOf(std::string_view input) {
  Decoded d = Decode(input);
  EXPECT_FALSE(d.status) << input;
  return d.status.message();
}

TEST(DecodeJsonFileLine, RealDockerLines) {
  const auto lines = FixtureLines("fixture.log");
  ASSERT_EQ(lines.size(), 8U);
  struct Want {
    std::string log;
    LogStream stream;
    std::int64_t frac_ns;
  };
  const std::vector<Want> want = {
      {"plain", LogStream::kStdout, 75872059}, {"<tag> & \"quoted\"", LogStream::kStdout, 75909915},
      {"\ttab", LogStream::kStdout, 75914362}, {"no newline at end", LogStream::kStdout, 75917026},
      {"err", LogStream::kStderr, 78317309},
  };
  std::string scratch;
  for (std::size_t i = 0; i < want.size(); ++i) {
    DecodedLine out;
    const Status st = DecodeJsonFileLine(lines[i], out, scratch);
    ASSERT_TRUE(st) << i << ": " << st.message();
    EXPECT_EQ(out.log, want[i].log) << i;
    EXPECT_EQ(out.stream, want[i].stream) << i;
    EXPECT_EQ(out.time_ns, kFixtureSecond * kNs + want[i].frac_ns) << i;
    EXPECT_FALSE(out.partial) << i;
  }
  // A 40000-byte line, cut by Docker into 16384 + 16384 + 7232 bytes (+ '\n'), all with one time.
  for (std::size_t i = 5; i < 8; ++i) {
    DecodedLine out;
    ASSERT_TRUE(DecodeJsonFileLine(lines[i], out, scratch)) << i;
    EXPECT_EQ(out.log, std::string(i < 7 ? 16384 : 7232, 'x')) << i;
    EXPECT_EQ(out.partial, i < 7) << i;
    EXPECT_EQ(out.time_ns, kFixtureSecond * kNs + 78431459) << i;
  }
}

TEST(DecodeJsonFileLine, UnescapedTextPointsIntoTheLineAndEscapedIntoScratch) {
  const std::string plain = R"({"log":"plain\n","stream":"stdout","time":"2026-11-26T07:52:33Z"})";
  std::string scratch = "untouched";
  DecodedLine out;
  ASSERT_TRUE(DecodeJsonFileLine(plain, out, scratch));
  EXPECT_EQ(out.log, "plain");
  EXPECT_FALSE(out.partial);
  EXPECT_EQ(out.log.data(), plain.data() + 8);  // zero copies: the final "\n" needs none
  EXPECT_EQ(scratch, "untouched");
  const std::string piece = R"({"log":"xx","stream":"stdout","time":"2026-11-26T07:52:33Z"})";
  ASSERT_TRUE(DecodeJsonFileLine(piece, out, scratch));
  EXPECT_EQ(out.log.data(), piece.data() + 8);
  EXPECT_TRUE(out.partial);
  EXPECT_EQ(scratch, "untouched");

  const std::string escaped = R"({"log":"a\"b\n","stream":"stdout","time":"2026-11-26T07:52:33Z"})";
  ASSERT_TRUE(DecodeJsonFileLine(escaped, out, scratch));
  EXPECT_EQ(out.log, "a\"b");
  EXPECT_EQ(out.log.data(), scratch.data());
}

TEST(DecodeJsonFileLine, RealUtf8AndControlCharacters) {
  const auto lines = FixtureLines("utf8.log");
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(DecodeLog(lines[0]),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87");
  // Docker escapes C0 controls as \u00XX, writes DEL raw, and keeps the '\r' of a CRLF line.
  EXPECT_EQ(DecodeLog(lines[1]), "ctl:\x01\x02\x1b[31mred\x1b[0m back\\slash \x7f end\r");
  // 7000 euro signs cut at 16384 bytes: Docker itself replaced the split character's bytes
  // with U+FFFD (one at the end of the first piece, two at the start of the second).
  const std::string euro = "\xE2\x82\xAC";
  const std::string fffd = "\xEF\xBF\xBD";
  std::string first;
  for (int i = 0; i < 5461; ++i) {
    first += euro;
  }
  EXPECT_EQ(DecodeLog(lines[2]), first + fffd);
  std::string second = fffd + fffd;
  for (int i = 0; i < 1538; ++i) {
    second += euro;
  }
  EXPECT_EQ(DecodeLog(lines[3]), second);
}

TEST(DecodeJsonFileLine, AllEscapes) {
  EXPECT_EQ(
      DecodeLog(
          R"({"log":"\" \\ \/ \b \f \n \r \t|","stream":"stdout","time":"1970-01-01T00:00:00Z"})"),
      "\" \\ / \b \f \n \r \t|");
  EXPECT_EQ(
      DecodeLog(
          R"({"log":"\u003c\u003E\u0026 \u00e9 \u20AC \u0000.","stream":"stdout","time":"1970-01-01T00:00:00Z"})"),
      std::string("<>& \xC3\xA9 \xE2\x82\xAC \0.", 13));
  // Escaped quote right before the closing one, and backslashes before a quote.
  EXPECT_EQ(DecodeLog(R"({"log":"\"","stream":"stdout","time":"1970-01-01T00:00:00Z"})"), "\"");
  EXPECT_EQ(DecodeLog(R"({"log":"\\","stream":"stdout","time":"1970-01-01T00:00:00Z"})"), "\\");
  EXPECT_EQ(DecodeLog(R"({"log":"\\\"\\","stream":"stdout","time":"1970-01-01T00:00:00Z"})"),
            "\\\"\\");
  // An escaped "\n" at the end is the line's newline like a raw one would be.
  Decoded d = Decode(R"({"log":"x\r\n","stream":"stdout","time":"1970-01-01T00:00:00Z"})");
  EXPECT_EQ(d.text, "x\r");
  EXPECT_FALSE(d.line.partial);
}

TEST(DecodeJsonFileLine, SurrogatePairsAndLoneSurrogates) {
  const auto log = [](const std::string& text) {
    return DecodeLog(R"({"log":")" + text +
                     R"(","stream":"stdout","time":"1970-01-01T00:00:00Z"})");
  };
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(log(R"(\ud83d\ude00)"), "\xF0\x9F\x98\x80");  // U+1F600
  EXPECT_EQ(log(R"(\uD800\uDC00)"), "\xF0\x90\x80\x80");  // U+10000, the first
  EXPECT_EQ(log(R"(\uDBFF\uDFFF)"), "\xF4\x8F\xBF\xBF");  // U+10FFFF, the last
  EXPECT_EQ(log(R"(\ud83d)"), fffd);                      // high surrogate at the end
  EXPECT_EQ(log(R"(\ud83dx)"), fffd + "x");               // followed by text
  EXPECT_EQ(log(R"(\ud83d\u0041)"), fffd + "A");          // followed by a non-surrogate escape
  EXPECT_EQ(log(R"(\ud83d\ud83d\ude00)"), fffd + "\xF0\x9F\x98\x80");  // two highs, then a low
  EXPECT_EQ(log(R"(\ude00)"), fffd);                                   // lone low surrogate
  EXPECT_EQ(log(R"(\ude00\ud83d)"), fffd + fffd);                      // reversed pair
}

TEST(DecodeJsonFileLine, InvalidEscapesBecomeReplacementCharacters) {
  const auto log = [](const std::string& text) {
    return DecodeLog(R"({"log":")" + text +
                     R"(","stream":"stdout","time":"1970-01-01T00:00:00Z"})");
  };
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(log(R"(a\qb)"), "a" + fffd + "b");
  EXPECT_EQ(log(R"(\x41)"), fffd + "41");
  EXPECT_EQ(log("\\\xC2\xA3|\\\xF0\x9F\x98\x80|"), fffd + "|" + fffd + "|");  // "\£" "\😀"
  EXPECT_EQ(log(R"(\u12G4)"), fffd + "12G4");  // "\u" without 4 hex digits: the rest is text
  EXPECT_EQ(log(R"(\u12)"), fffd + "12");
  EXPECT_EQ(log(R"(\u)"), fffd);
}

TEST(DecodeJsonFileLine, AnyKeyOrderExtraKeysAndWhitespace) {
  Decoded d = Decode(
      " { \"time\" : \"2026-11-26T07:52:33.5Z\" ,\t\"attrs\":{\"tag\":\"web\",\"n\":[1,2.5e3,"
      "{\"x\":null}],\"q\":\"a\\\"}b\"}, \"stream\":\"stderr\", \"extra\": true, \"log\":\"hi\\n\" "
      "}\r\n");
  ASSERT_TRUE(d.status) << d.status.message();
  EXPECT_EQ(d.text, "hi");
  EXPECT_EQ(d.line.stream, LogStream::kStderr);
  EXPECT_EQ(d.line.time_ns, kFixtureSecond * kNs + 500'000'000);
  // Escapes in keys and in the stream and time values are decoded too (Docker writes none).
  d = Decode(R"({"\u006cog":"x","str\u0065am":"std\u006fut","time":"2026-11-26T07:52:33\u005a"})");
  ASSERT_TRUE(d.status) << d.status.message();
  EXPECT_EQ(d.text, "x");
  EXPECT_EQ(d.line.time_ns, kFixtureSecond * kNs);
  EXPECT_TRUE(d.line.partial);
  // Duplicate keys: the last wins, as in Go's encoding/json.
  d = Decode(R"({"log":"a\"","log":"b\n","stream":"stdout","time":"2026-11-26T07:52:33Z"})");
  ASSERT_TRUE(d.status);
  EXPECT_EQ(d.text, "b");
}

TEST(DecodeJsonFileLine, PartialAndEmptyLog) {
  Decoded d = Decode(R"({"log":"","stream":"stdout","time":"2026-11-26T07:52:33Z"})");
  ASSERT_TRUE(d.status);
  EXPECT_EQ(d.text, "");
  EXPECT_TRUE(d.line.partial);
  d = Decode(R"({"log":"\n","stream":"stdout","time":"2026-11-26T07:52:33Z"})");
  ASSERT_TRUE(d.status);
  EXPECT_EQ(d.text, "");
  EXPECT_FALSE(d.line.partial);
  d = Decode(R"({"log":"a\n\n","stream":"stdout","time":"2026-11-26T07:52:33Z"})");
  EXPECT_EQ(d.text, "a\n");  // only the last newline is the line's
  EXPECT_FALSE(d.line.partial);
  d = Decode(R"({"log":"a\\n","stream":"stdout","time":"2026-11-26T07:52:33Z"})");
  EXPECT_EQ(d.text, "a\\n");  // an escaped backslash and an 'n': no newline
  EXPECT_TRUE(d.line.partial);
  d = Decode(R"({"log":"a\\\n","stream":"stdout","time":"2026-11-26T07:52:33Z"})");
  EXPECT_EQ(d.text, "a\\");
  EXPECT_FALSE(d.line.partial);
}

TEST(DecodeJsonFileLine, MalformedLinesAreErrors) {
  const std::string ok_rest = R"(,"stream":"stdout","time":"2026-11-26T07:52:33Z"})";
  EXPECT_EQ(ErrorOf(""), "not a JSON object");
  EXPECT_EQ(ErrorOf("garbage"), "not a JSON object");
  EXPECT_EQ(ErrorOf("[1]"), "not a JSON object");
  EXPECT_EQ(ErrorOf("{"), "expected a key");
  EXPECT_EQ(ErrorOf("{}"), "no \"log\" key");
  EXPECT_EQ(ErrorOf(R"({"log":"x")"), "expected ',' or '}'");
  EXPECT_EQ(ErrorOf(R"({"log":"x)"), "unterminated string");
  EXPECT_EQ(ErrorOf(R"({"log":"x\")"), "unterminated string");
  EXPECT_EQ(ErrorOf(R"({"log":"x\)"), "unterminated string");
  EXPECT_EQ(ErrorOf(R"({"lo)"), "unterminated key");
  EXPECT_EQ(ErrorOf(R"({"log" "x"})"), "expected ':' after a key");
  EXPECT_EQ(ErrorOf(R"({"log":1)" + ok_rest), "\"log\" is not a string");
  EXPECT_EQ(ErrorOf(R"({"log":"x",})"), "expected a key");
  EXPECT_EQ(ErrorOf(R"({"log":"x"} x)"), "text after the JSON object");
  EXPECT_EQ(ErrorOf(R"({"log":"x"}{})"), "text after the JSON object");
  EXPECT_EQ(ErrorOf(R"({"log":"x","time":"2026-11-26T07:52:33Z"})"), "no \"stream\" key");
  EXPECT_EQ(ErrorOf(R"({"log":"x","stream":"stdout"})"), "no \"time\" key");
  EXPECT_EQ(ErrorOf(R"({"log":"x","stream":"stdin","time":"2026-11-26T07:52:33Z"})"),
            "\"stream\" is neither stdout nor stderr");
  EXPECT_EQ(ErrorOf(R"({"log":"x","stream":"stdout","time":"yesterday"})"), "time is not RFC 3339");
  EXPECT_EQ(ErrorOf(R"({"log":"x","attrs":{"a":[1}})" + ok_rest), "malformed value");
  EXPECT_EQ(ErrorOf(R"({"log":"x","attrs":{"a":"b})" + ok_rest), "malformed value");
  EXPECT_EQ(ErrorOf(R"({"log":"x","attrs":)"), "malformed value");
  EXPECT_EQ(ErrorOf(R"({"log":"x","attrs":})"), "malformed value");
  EXPECT_EQ(ErrorOf(std::string(R"({"log":"x","a":)") + std::string(100, '[')),
            "malformed value");  // nesting deeper than 64
  // A real line cut anywhere before its closing brace is an error, never a crash.
  const std::string real = FixtureLines("fixture.log")[1];
  for (std::size_t n = 0; n + 2 < real.size(); ++n) {
    EXPECT_FALSE(Decode(real.substr(0, n)).status) << n;
  }
}

std::vector<std::string> Pieces(std::string_view line, std::size_t max_bytes) {
  std::string scratch;
  std::vector<std::string_view> views;
  UndecodableLinePieces(line, max_bytes, scratch, views);
  return {views.begin(), views.end()};
}

TEST(UndecodableLinePieces, ValidTextIsCutIntoPiecesOfAtMostTheLimit) {
  // 300,000 NUL bytes (not json-file) were shipped as 263,168 + 36,832 bytes, over Loki's 256 KB.
  const std::string nuls(300'000, '\0');
  const std::vector<std::string> pieces = Pieces(nuls, 262'144);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0], std::string(262'144, '\0'));
  EXPECT_EQ(pieces[1], std::string(300'000 - 262'144, '\0'));
  EXPECT_EQ(Pieces("short", 1024), std::vector<std::string>{"short"});
  EXPECT_EQ(Pieces("", 1024), std::vector<std::string>{""});
}

TEST(UndecodableLinePieces, InvalidBytesDoNotTriple) {
  // 3,000 x 0xFF became 9,000 bytes (one U+FFFD per byte): a run is one U+FFFD now.
  EXPECT_EQ(Pieces(std::string(3000, '\xFF'), 1024), std::vector<std::string>{"\xEF\xBF\xBD"});
  EXPECT_EQ(Pieces("{\"log\":\"cut \xE2\x82", 1024),
            std::vector<std::string>{"{\"log\":\"cut \xEF\xBF\xBD"});
}

TEST(UndecodableLinePieces, CutsBetweenCharacters) {
  // "â¬" (the euro sign) does not fit after 5 bytes in a piece of 7: cut before it.
  const std::string text =
      "12345\xE2\x82\xAC"
      "67\xFF";
  const std::vector<std::string> pieces = Pieces(text, 7);
  EXPECT_EQ(pieces, (std::vector<std::string>{"12345",
                                              "\xE2\x82\xAC"
                                              "67",
                                              "\xEF\xBF\xBD"}));
}

TEST(ParseRfc3339Nanos, FractionDigitsOffsetsAndRange) {
  const std::int64_t base = kFixtureSecond * kNs;
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-26T07:52:33Z"), base);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-26T07:52:33.1Z"), base + 100'000'000);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-26T07:52:33.03551496Z"), base + 35'514'960);  // 8 digits
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-26T07:52:33.000000001Z"), base + 1);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-26T07:52:33.9999999999Z"), base + 999'999'999);  // cut
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-26t07:52:33z"), base);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-26T08:52:33.25+01:00"), base + 250'000'000);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-25T21:22:33-10:30"), base);
  EXPECT_EQ(*ParseRfc3339Nanos("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339Nanos("1969-12-31T23:59:59.999999999Z"), -1);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29T12:00:00Z"), 1709208000 * kNs);
  EXPECT_EQ(*ParseRfc3339Nanos("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
  EXPECT_EQ(*ParseRfc3339Nanos("1677-09-21T00:12:43.145224192Z"), INT64_MIN);
  EXPECT_EQ(*ParseRfc3339Nanos("2016-12-31T23:59:60Z"), 1483228800 * kNs);  // leap second

  EXPECT_EQ(ParseRfc3339Nanos("2262-04-11T23:47:16.854775808Z").error().message,
            "time is outside the range of int64 nanoseconds");
  EXPECT_EQ(ParseRfc3339Nanos("0001-01-01T00:00:00Z").error().message,
            "time is outside the range of int64 nanoseconds");
  for (const char* bad :
       {"", "2026-11-26", "2026-11-26T07:52:33", "2026-11-26 07:52:33Z", "2026-11-26T07:52:33.Z",
        "2026-11-26T07:52:33+0100", "2026-11-26T07:52:33+01", "2026-11-26T07:52:33Zx",
        "2026-1-26T07:52:33Z", "2026-11-26T07:52:33+24:00", "+026-11-26T07:52:33Z"}) {
    EXPECT_EQ(ParseRfc3339Nanos(bad).error().message, "time is not RFC 3339") << bad;
  }
  for (const char* bad : {"2026-13-26T07:52:33Z", "2026-00-26T07:52:33Z", "2025-02-29T07:52:33Z",
                          "2026-04-31T07:52:33Z", "2026-11-26T24:00:00Z", "2026-11-26T07:60:00Z",
                          "2026-11-26T07:52:61Z"}) {
    EXPECT_EQ(ParseRfc3339Nanos(bad).error().message, "time has a field out of range") << bad;
  }
}

}  // namespace
}  // namespace swarmwatch
