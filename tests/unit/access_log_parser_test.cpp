#include "exporters/access_log_parser.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace swarmwatch {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SWARMWATCH_TESTDATA) + "/accesslog/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

// Keeps a line built in an expression alive until the test ends: the parsed entry's fields are
// views into the line, and a temporary would be gone by the next assertion.
std::string_view Keep(std::string line) {
  static std::deque<std::string> lines;
  return lines.emplace_back(std::move(line));
}

AccessLogParser Parser(std::string_view format, AccessLogSyntax syntax = AccessLogSyntax::kApache) {
  auto parser = MakeAccessLogParser(format, syntax);
  EXPECT_TRUE(parser.ok()) << (parser.ok() ? "" : parser.error().message);
  return std::move(parser).value();
}

std::string OrNone(std::string_view s) {
  return s.empty() ? "(none)" : std::string(s);
}

std::string Seconds(const std::optional<double>& s) {
  if (!s) {
    return "-";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", *s);
  return buf;
}

// The columns gen_expected.py writes.
std::string Columns(const AccessLogEntry& e) {
  return OrNone(e.method) + "\t" + OrNone(e.path) + "\t" + OrNone(e.query) + "\t" +
         OrNone(e.protocol) + "\t" + std::to_string(e.status) + "\t" +
         (e.response_bytes ? std::to_string(*e.response_bytes) : "-") + "\t" +
         Seconds(e.duration_seconds) + "\t" + Seconds(e.upstream_seconds) + "\t" +
         OrNone(e.user_agent);
}

// Real Apache 2.4.71 and nginx 1.22.1 logs (tests/testdata/accesslog/README.md) against the
// fields gen_expected.py read from them with regular expressions.
struct GoldenCase {
  const char* fixture;
  const char* format;
  AccessLogSyntax syntax;
};

class AccessLogGoldenTest : public testing::TestWithParam<GoldenCase> {};

TEST_P(AccessLogGoldenTest, EveryLineMatchesTheExpectedFields) {
  const GoldenCase& c = GetParam();
  const AccessLogParser parser = Parser(c.format, c.syntax);
  const std::vector<std::string> lines = Lines(Fixture(std::string(c.fixture) + ".log"));
  const std::vector<std::string> expected = Lines(Fixture(std::string(c.fixture) + ".expected"));
  ASSERT_EQ(lines.size(), expected.size());
  ASSERT_GE(lines.size(), 20u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    AccessLogEntry entry;
    ASSERT_TRUE(parser.Parse(lines[i], entry)) << c.fixture << ":" << i + 1 << ": " << lines[i];
    EXPECT_EQ(Columns(entry), expected[i]) << c.fixture << ":" << i + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(
    RealServers, AccessLogGoldenTest,
    testing::Values(
        GoldenCase{"apache_common", "apache_common", AccessLogSyntax::kApache},
        GoldenCase{"apache_combined", "apache_combined", AccessLogSyntax::kApache},
        GoldenCase{"apache_combined_D", "apache", AccessLogSyntax::kApache},
        GoldenCase{"apache_combined_msT",
                   R"(%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %{ms}T)",
                   AccessLogSyntax::kApache},
        GoldenCase{"nginx_combined", "nginx_combined", AccessLogSyntax::kNginx},
        GoldenCase{"nginx_timed", "nginx", AccessLogSyntax::kNginx},
        // The same file through the user-format compiler, in the syntax the config was written in.
        GoldenCase{"nginx_timed",
                   R"($remote_addr - $remote_user [$time_local] "$request" $status )"
                   R"($body_bytes_sent "$http_referer" "$http_user_agent" $request_time )"
                   R"($upstream_response_time)",
                   AccessLogSyntax::kNginx}),
    [](const testing::TestParamInfo<GoldenCase>& info) {
      return std::string(info.param.fixture) + "_" + std::to_string(info.index);
    });

TEST(AccessLogParser, ApacheCombinedFieldsOfOneRealLine) {
  const AccessLogParser parser = Parser("apache");
  AccessLogEntry e;
  ASSERT_TRUE(parser.Parse(
      R"(127.0.0.1 - - [26/Nov/2026:08:27:05 +0000] "GET /static/app.css HTTP/1.1" 200 7 )"
      R"("https://ref.example/?q=\"x\"" "Mozilla/5.0 \"quoted\" agent \\ with backslash" 237)",
      e));
  EXPECT_EQ(e.remote_addr, "127.0.0.1");
  EXPECT_EQ(e.remote_user, "-");
  EXPECT_EQ(e.time_local, "26/Nov/2026:08:27:05 +0000");
  EXPECT_EQ(e.method, "GET");
  EXPECT_EQ(e.target, "/static/app.css");
  EXPECT_EQ(e.path, "/static/app.css");
  EXPECT_EQ(e.query, "");
  EXPECT_EQ(e.protocol, "HTTP/1.1");
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.response_bytes, 7u);
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 237e-6);
  EXPECT_FALSE(e.upstream_seconds);
  EXPECT_EQ(e.referer, R"(https://ref.example/?q=\"x\")");
  EXPECT_EQ(e.user_agent, R"(Mozilla/5.0 \"quoted\" agent \\ with backslash)");
}

TEST(AccessLogParser, NginxQuotesAreHexEscaped) {
  const AccessLogParser parser = Parser("nginx_combined");
  AccessLogEntry e;
  ASSERT_TRUE(parser.Parse(
      R"(127.0.0.1 - - [26/Nov/2026:08:27:06 +0000] "GET /static/app.css HTTP/1.1" 200 7 )"
      R"("https://ref.example/?q=\x22x\x22" "Mozilla/5.0 \x22quoted\x22 agent \x5C with backslash")",
      e));
  EXPECT_EQ(e.referer, R"(https://ref.example/?q=\x22x\x22)");
  EXPECT_EQ(e.user_agent, R"(Mozilla/5.0 \x22quoted\x22 agent \x5C with backslash)");
  EXPECT_FALSE(e.duration_seconds);
}

TEST(AccessLogParser, Ipv6Clients) {
  const AccessLogParser parser = Parser("apache");
  for (const char* addr : {"::1", "2001:db8::1", "fe80::1%eth0", "::ffff:10.0.0.1"}) {
    AccessLogEntry e;
    const std::string line = std::string(addr) +
                             R"( - - [26/Nov/2026:08:27:05 +0000] "GET / HTTP/1.1" 200 12 "-" )"
                             R"("curl/7.88.1" 485)";
    ASSERT_TRUE(parser.Parse(line, e)) << addr;
    EXPECT_EQ(e.remote_addr, addr);
    EXPECT_EQ(e.status, 200);
  }
}

TEST(AccessLogParser, DashSizeIsAbsentZeroIsZero) {
  const AccessLogParser parser = Parser("apache_common");
  AccessLogEntry e;
  ASSERT_TRUE(parser.Parse(R"(::1 - - [26/Nov/2026:08:27:05 +0000] "HEAD / HTTP/1.1" 304 -)", e));
  EXPECT_EQ(e.status, 304);
  EXPECT_FALSE(e.response_bytes);
  ASSERT_TRUE(parser.Parse(R"(::1 - - [26/Nov/2026:08:27:05 +0000] "HEAD / HTTP/1.1" 200 0)", e));
  EXPECT_EQ(e.response_bytes, 0u);
}

TEST(AccessLogParser, VeryLongUrl) {
  const AccessLogParser parser = Parser("apache");
  const std::string path = "/search/" + std::string(20000, 'p');
  const std::string query = "q=" + std::string(9000, 'a');
  const std::string line = R"(10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] "GET )" + path + "?" +
                           query + R"( HTTP/1.1" 200 12 "-" "curl/7.88.1" 485)";
  AccessLogEntry e;
  ASSERT_TRUE(parser.Parse(line, e));
  EXPECT_EQ(e.path, path);
  EXPECT_EQ(e.query, query);
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 485e-6);
}

TEST(AccessLogParser, RequestLinesWithoutProtocolOrMethod) {
  const AccessLogParser parser = Parser("nginx", AccessLogSyntax::kNginx);
  const std::string head = "10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] ";
  AccessLogEntry e;

  ASSERT_TRUE(parser.Parse(Keep(head + R"("GET /x" 404 153 "-" "-" 0.000 -)"), e));
  EXPECT_EQ(e.method, "GET");
  EXPECT_EQ(e.path, "/x");
  EXPECT_EQ(e.protocol, "");
  EXPECT_EQ(e.status, 404);

  ASSERT_TRUE(parser.Parse(Keep(head + R"("-" 400 0 "-" "-" 0.000 -)"), e));
  EXPECT_EQ(e.method, "");
  EXPECT_EQ(e.path, "");
  EXPECT_EQ(NormalizeMethod(e.method), "other");

  ASSERT_TRUE(parser.Parse(Keep(head + R"("" 400 0 "-" "-" 0.000 -)"), e));
  EXPECT_EQ(e.method, "");
  EXPECT_EQ(e.status, 400);

  ASSERT_TRUE(
      parser.Parse(Keep(head + R"("\x16\x03\x01\x00\xA5garbage" 400 157 "-" "-" 0.000 -)"), e));
  EXPECT_EQ(e.method, R"(\x16\x03\x01\x00\xA5garbage)");
  EXPECT_EQ(NormalizeMethod(e.method), "other");
  EXPECT_EQ(e.target, "");
}

TEST(AccessLogParser, UpstreamTimesAreSummed) {
  const AccessLogParser parser = Parser("nginx", AccessLogSyntax::kNginx);
  const std::string head =
      R"(10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] "GET /a HTTP/1.1" 502 157 "-" "curl/8" 0.123 )";
  AccessLogEntry e;
  ASSERT_TRUE(parser.Parse(Keep(head + "0.002, 0.004"), e));
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 0.123);
  EXPECT_DOUBLE_EQ(*e.upstream_seconds, 0.006);
  ASSERT_TRUE(parser.Parse(Keep(head + "0.002, 0.004 : 0.010"), e));
  EXPECT_DOUBLE_EQ(*e.upstream_seconds, 0.016);
  ASSERT_TRUE(parser.Parse(Keep(head + "-, 0.004"), e));
  EXPECT_DOUBLE_EQ(*e.upstream_seconds, 0.004);
  ASSERT_TRUE(parser.Parse(Keep(head + "-"), e));
  EXPECT_FALSE(e.upstream_seconds);
  // Extra fields after the list are not part of it.
  ASSERT_TRUE(parser.Parse(Keep(head + "0.002, 0.004 extra 1"), e));
  EXPECT_DOUBLE_EQ(*e.upstream_seconds, 0.006);
  EXPECT_FALSE(parser.Parse(Keep(head + "x"), e));

  // Quoted, in a user format.
  const AccessLogParser quoted =
      Parser(R"($status rt=$request_time urt="$upstream_response_time")", AccessLogSyntax::kNginx);
  ASSERT_TRUE(quoted.Parse(R"(200 rt=0.010 urt="0.002, 0.004 : 0.001")", e));
  EXPECT_DOUBLE_EQ(*e.upstream_seconds, 0.007);
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 0.010);
}

TEST(AccessLogParser, TrailingCarriageReturnAndExtraFields) {
  const AccessLogParser parser = Parser("apache");
  const std::string line =
      R"(10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/7.88.1" 485)";
  AccessLogEntry e;
  ASSERT_TRUE(parser.Parse(Keep(line + "\r"), e));
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 485e-6);
  ASSERT_TRUE(parser.Parse(Keep(line + "\r\n"), e));
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 485e-6);
  ASSERT_TRUE(parser.Parse(Keep(line + R"( "www.example.com" 10.0.0.9:443)"), e));
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 485e-6);

  const AccessLogParser combined = Parser("nginx_combined", AccessLogSyntax::kNginx);
  ASSERT_TRUE(combined.Parse(
      R"(10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] "GET / HTTP/1.1" 200 12 "-" "curl" "1.2.3.4")"
      "\r",
      e));
  EXPECT_EQ(e.user_agent, "curl");
}

TEST(AccessLogParser, MalformedLinesAreRejected) {
  const AccessLogParser parser = Parser("apache");
  const std::string head = R"(10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] "GET / HTTP/1.1" )";
  AccessLogEntry e;
  for (const std::string& line : {
           std::string(),
           std::string("garbage"),
           std::string("\x00\x01\x02", 3),
           head + R"(20 12 "-" "curl" 485)",     // status of 2 digits
           head + R"(2000 12 "-" "curl" 485)",   // 4 digits
           head + R"(abc 12 "-" "curl" 485)",    // not a number
           head + R"(099 12 "-" "curl" 485)",    // not a status
           head + R"(200 1x2 "-" "curl" 485)",   // size
           head + R"(200 12 "-" "curl" 4.8.5)",  // time
           head + R"(200 12 "-" "curl" -3)",     // time
           head + R"(200 12 "-" "curl")",        // no time: the format ends with %D
           head + R"(200 12 "-" "cu)",           // cut in a quoted field
           head + R"(200 12 "-" "curl\" 485)",   // the closing quote is escaped
           std::string(R"(10.0.0.1 - - [26/Nov/2026:08:27:05 +0000 "GET / HTTP/1.1" 200 1)"),
           std::string(R"({"log":"10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] \"GET\"})"),
       }) {
    EXPECT_FALSE(parser.Parse(line, e)) << line;
  }
  // Every prefix of a good line ending before its last field fails, and none crashes.
  const std::string good = head + R"x(200 12 "https://a/" "Mozilla/5.0 (X11)" 485)x";
  for (std::size_t n = 0; n < good.size(); ++n) {
    const bool parsed = parser.Parse(std::string_view(good).substr(0, n), e);
    EXPECT_EQ(parsed, n > good.size() - 3) << n;
  }
}

TEST(AccessLogParser, DurationUnits) {
  const std::string head = R"(1.2.3.4 - - [26/Nov/2026:08:27:05 +0000] "GET / HTTP/1.1" 200 5 )";
  struct Case {
    const char* format;
    const char* value;
    double seconds;
  };
  for (const Case& c : {
           Case{R"(%h %l %u %t "%r" %>s %b %D)", "303980", 0.30398},
           Case{R"(%h %l %u %t "%r" %>s %b %{us}T)", "303980", 0.30398},
           Case{R"(%h %l %u %t "%r" %>s %b %{ms}T)", "303", 0.303},
           Case{R"(%h %l %u %t "%r" %>s %b %T)", "2", 2.0},
           Case{R"(%h %l %u %t "%r" %>s %b %{s}T)", "0", 0.0},
       }) {
    AccessLogEntry e;
    ASSERT_TRUE(Parser(c.format).Parse(Keep(head + c.value), e)) << c.format;
    EXPECT_DOUBLE_EQ(*e.duration_seconds, c.seconds) << c.format;
  }
  AccessLogEntry e;
  const AccessLogParser nginx = Parser("nginx", AccessLogSyntax::kNginx);
  ASSERT_TRUE(nginx.Parse(R"(1.2.3.4 - - [26/Nov/2026:08:27:05 +0000] "GET / HTTP/1.1" 200 5 )"
                          R"("-" "-" 12.345 12.300)",
                          e));
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 12.345);
  EXPECT_DOUBLE_EQ(*e.upstream_seconds, 12.3);
}

TEST(AccessLogParser, ApacheUserFormatFromRealServer) {
  // tests/testdata/accesslog/setup/apache.conf: the apache_custom.log line.
  const AccessLogParser parser =
      Parser(R"(%a %t %m %U%q %H %s %B %{us}T \"%{User-Agent}i\" %{Content-Type}o)");
  const std::vector<std::string> lines = Lines(Fixture("apache_custom.log"));
  ASSERT_EQ(lines.size(), 21u);
  AccessLogEntry e;
  for (const std::string& line : lines) {
    EXPECT_TRUE(parser.Parse(line, e)) << line;
  }
  ASSERT_TRUE(parser.Parse(lines[1], e));
  EXPECT_EQ(e.remote_addr, "::1");
  EXPECT_EQ(e.method, "GET");
  EXPECT_EQ(e.path, "/index.html");
  EXPECT_EQ(e.query, "lang=en&x=1");
  EXPECT_EQ(e.protocol, "HTTP/1.1");
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.response_bytes, 12u);
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 267e-6);
  EXPECT_EQ(e.user_agent, "curl/7.88.1");
  ASSERT_TRUE(parser.Parse(lines[3], e));  // HEAD: %B is 0 where %b is "-"
  EXPECT_EQ(e.method, "HEAD");
  EXPECT_EQ(e.response_bytes, 0u);
  ASSERT_TRUE(parser.Parse(lines[12], e));  // HTTP/0.9, as Apache writes "GET /x\r\n"
  EXPECT_EQ(e.protocol, "HTTP/0.9");
  EXPECT_EQ(e.path, "/x");
  EXPECT_EQ(e.status, 404);
  ASSERT_TRUE(parser.Parse(lines[13], e));  // the TLS hello: Apache writes "-" for %m and %U
  EXPECT_EQ(e.method, "");
  EXPECT_EQ(e.path, "");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.protocol, "HTTP/1.0");
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 108e-6);
}

TEST(AccessLogParser, NginxUserFormatFromRealServer) {
  // tests/testdata/accesslog/setup/nginx.conf: log_format nginx_custom.
  const AccessLogParser parser =
      Parser(R"($remote_addr [$time_local] $request_method $request_uri $uri "$args" )"
             R"($server_protocol $status $bytes_sent rt=$request_time )"
             R"(urt="$upstream_response_time" ua="$http_user_agent")",
             AccessLogSyntax::kNginx);
  const std::vector<std::string> lines = Lines(Fixture("nginx_custom.log"));
  ASSERT_EQ(lines.size(), 21u);
  AccessLogEntry e;
  for (const std::string& line : lines) {
    EXPECT_TRUE(parser.Parse(line, e)) << line;
  }
  ASSERT_TRUE(parser.Parse(lines[1], e));
  EXPECT_EQ(e.remote_addr, "::1");
  EXPECT_EQ(e.method, "GET");
  EXPECT_EQ(e.target, "/index.html?lang=en&x=1");
  EXPECT_EQ(e.path, "/index.html");   // from $uri
  EXPECT_EQ(e.query, "lang=en&x=1");  // from $args
  EXPECT_EQ(e.response_bytes, 247u);  // $bytes_sent, as there is no $body_bytes_sent
  ASSERT_TRUE(parser.Parse(lines[18], e));
  EXPECT_EQ(e.path, "/retry/index.html");
  EXPECT_DOUBLE_EQ(*e.duration_seconds, 0.001);
  EXPECT_DOUBLE_EQ(*e.upstream_seconds, 0.0);
  ASSERT_TRUE(parser.Parse(lines[16], e));  // a connection that sent an empty line
  EXPECT_EQ(e.method, "");
  EXPECT_EQ(e.status, 400);
  EXPECT_FALSE(e.upstream_seconds);
}

TEST(AccessLogFormat, PathAndQueryWrittenTogetherAreSplitAtTheQuestionMark) {
  AccessLogEntry e;
  ASSERT_TRUE(Parser("%s %U%q").Parse("200 /a/b?x=1&y=2", e));
  EXPECT_EQ(e.path, "/a/b");
  EXPECT_EQ(e.query, "x=1&y=2");
  ASSERT_TRUE(Parser("%s %U%q").Parse("200 /a/b", e));
  EXPECT_EQ(e.path, "/a/b");
  EXPECT_EQ(e.query, "");
  const AccessLogParser nginx = Parser("$status $uri$is_args$args", AccessLogSyntax::kNginx);
  ASSERT_TRUE(nginx.Parse("200 /a/b?x=1", e));
  EXPECT_EQ(e.path, "/a/b");
  EXPECT_EQ(e.query, "x=1");
}

TEST(AccessLogFormat, FinalStatusWinsOverOriginal) {
  AccessLogEntry e;
  ASSERT_TRUE(Parser("%s %>s").Parse("302 200", e));
  EXPECT_EQ(e.status, 200);
  ASSERT_TRUE(Parser("%>s %s").Parse("200 302", e));
  EXPECT_EQ(e.status, 200);
}

TEST(AccessLogFormat, OtherDirectivesAndVariablesAreSkipped) {
  AccessLogEntry e;
  const AccessLogParser vhost = Parser(
      R"(%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %{X-Request-Id}i %^FB %%)");
  ASSERT_TRUE(vhost.Parse(R"(www.example.com:443 10.0.0.1 - - [26/Nov/2026:08:27:05 +0000] )"
                          R"("POST /api HTTP/2.0" 201 512 "-" "curl" abc-123 1200 %)",
                          e));
  EXPECT_EQ(e.method, "POST");
  EXPECT_EQ(e.status, 201);
  EXPECT_FALSE(e.response_bytes);  // %O (bytes sent with headers) is not the body size
  const AccessLogParser nginx =
      Parser(R"($host $remote_addr "$request" $status $body_bytes_sent $request_length ${msec}ms)",
             AccessLogSyntax::kNginx);
  ASSERT_TRUE(
      nginx.Parse(R"(example.com 10.0.0.1 "GET /a HTTP/1.1" 200 5 120 1700000000.123ms)", e));
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.response_bytes, 5u);
}

TEST(AccessLogFormat, ErrorsNameThePosition) {
  struct Case {
    const char* definition;
    AccessLogSyntax syntax;
    const char* message_part;
  };
  for (const Case& c : {
           Case{"%h %Z %>s", AccessLogSyntax::kApache, "unknown directive \"%Z\" at character 4"},
           Case{"%h%u %>s", AccessLogSyntax::kApache, "\"%h\" at character 1 and \"%u\" at"},
           Case{"%>s %{Referer", AccessLogSyntax::kApache, "'{' of the directive at character 5"},
           Case{"%>s %{xs}T", AccessLogSyntax::kApache, "takes the unit s, ms or us"},
           Case{"%>s %", AccessLogSyntax::kApache, "at character 5 has no letter"},
           Case{"%h %D", AccessLogSyntax::kApache, "has no status field"},
           Case{"combined", AccessLogSyntax::kApache, "neither a known format name"},
           Case{"$status $", AccessLogSyntax::kNginx, "'$' at character 9"},
           Case{"$status ${uri", AccessLogSyntax::kNginx, "never closed"},
           Case{"$remote_addr$status", AccessLogSyntax::kNginx, "at character 13"},
           Case{"$remote_addr", AccessLogSyntax::kNginx, "has no status field ($status)"},
           Case{"", AccessLogSyntax::kNginx, "neither a known format name"},
       }) {
    const auto parser = MakeAccessLogParser(c.definition, c.syntax);
    ASSERT_FALSE(parser.ok()) << c.definition;
    EXPECT_NE(parser.error().message.find(c.message_part), std::string::npos)
        << c.definition << ": " << parser.error().message;
  }
}

TEST(AccessLogFormat, PredefinedFormats) {
  std::vector<std::string> names;
  for (const PredefinedAccessLogFormat& f : PredefinedAccessLogFormats()) {
    names.emplace_back(f.name);
    EXPECT_TRUE(MakeAccessLogParser(f.name).ok()) << f.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"apache_common", "apache_combined", "apache",
                                             "nginx_combined", "nginx"}));
  EXPECT_EQ(Parser("apache").format().definition,
            R"(%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D)");
  EXPECT_EQ(Parser("nginx").format().definition,
            R"($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent )"
            R"("$http_referer" "$http_user_agent" $request_time $upstream_response_time)");
  EXPECT_TRUE(Parser("apache").has_duration());
  EXPECT_FALSE(Parser("apache_combined").has_duration());
  EXPECT_TRUE(Parser("nginx").has_upstream_time());
  // A name is a name whatever syntax the caller assumed.
  EXPECT_EQ(Parser("nginx", AccessLogSyntax::kApache).format().syntax, AccessLogSyntax::kNginx);
}

TEST(NormalizeMethod, StandardMethodsAndOther) {
  for (const char* m :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}) {
    EXPECT_EQ(NormalizeMethod(m), m);
  }
  for (const char* m : {"get", "PROPFIND", "BREW", "", "-", "\\x16\\x03\\x01", "GETX"}) {
    EXPECT_EQ(NormalizeMethod(m), "other") << m;
  }
}

TEST(RouteMatcher, FirstMatchingPatternOrOther) {
  const std::vector<std::string> patterns = {"/student/{id}", "/api/v1/items/{id}/edit",
                                             "/static/*", "/a/*/c", "/"};
  auto matcher = RouteMatcher::Compile(patterns);
  ASSERT_TRUE(matcher.ok()) << matcher.error().message;
  struct Case {
    const char* path;
    const char* route;
  };
  for (const Case& c : {
           Case{"/student/42", "/student/{id}"},
           Case{"/student/42/", "/student/{id}"},
           Case{"/student/42/edit", "other"},
           Case{"/student", "other"},
           Case{"/student/", "other"},
           Case{"/student//", "other"},
           Case{"/api/v1/items/9/edit", "/api/v1/items/{id}/edit"},
           Case{"/api/v1/items//edit", "other"},
           Case{"/static/app.css", "/static/*"},
           Case{"/static/css/deep/app.css", "/static/*"},
           Case{"/static", "other"},
           Case{"/a/b/c", "/a/*/c"},
           Case{"/a/b/d", "other"},
           Case{"/", "/"},
           Case{"", "other"},
           Case{"*", "other"},
           Case{"example.com:443", "other"},
           Case{"/Student/42", "other"},
       }) {
    EXPECT_EQ(matcher->Match(c.path), c.route) << c.path;
  }
  EXPECT_FALSE(matcher->empty());
  auto none = RouteMatcher::Compile({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(none->Match("/x"), "other");
}

TEST(RouteMatcher, BadPatterns) {
  for (const char* bad :
       {"student/{id}", "/a/{id", "/a/{}", "/a/x{id}", "/a/b*", "/a//b", "/a?b=1", "/{a}{b}"}) {
    const std::vector<std::string> patterns = {bad};
    const auto matcher = RouteMatcher::Compile(patterns);
    ASSERT_FALSE(matcher.ok()) << bad;
    EXPECT_NE(matcher.error().message.find(bad), std::string::npos) << matcher.error().message;
  }
}

}  // namespace
}  // namespace swarmwatch
