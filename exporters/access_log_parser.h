// Parses Apache and nginx access-log lines into the fields request metrics need. A parser is
// compiled once from a format (a predefined name or a user's LogFormat / log_format) and then
// parses lines without allocating: every text field is a view into the line.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/result.h"
#include "exporters/access_log_format.h"

namespace swarmwatch {

// One access-log line. Text fields are views into the parsed line, as written: escapes (\" in
// Apache, \x22 in nginx) are not decoded. Fields the format does not carry stay empty.
struct AccessLogEntry {
  std::string_view remote_addr;  // "10.0.0.1", "::1"
  std::string_view remote_user;  // "-" when none
  std::string_view time_local;   // "10/Oct/2000:13:55:36 -0700" (without the brackets)
  // From the request line ("GET /a?b=1 HTTP/1.1") or the %m %U %q %H / $request_method $uri
  // $args $server_protocol fields. A request line of "-" or "" (nothing was sent) leaves method and
  // target empty; a request line of one word ("\x16\x03\x01", a TLS hello sent to the HTTP port)
  // is the method; a request line without protocol ("GET /x", HTTP/0.9 or cut by the server) has
  // an empty protocol.
  std::string_view method;
  std::string_view target;                      // the request target with its query string
  std::string_view path;                        // the target without the query string
  std::string_view query;                       // after the '?', empty when none
  std::string_view protocol;                    // "HTTP/1.1"
  int status = 0;                               // always 3 digits, 100..999
  std::optional<std::uint64_t> response_bytes;  // absent for "-" (Apache %b of an empty body)
  std::optional<double> duration_seconds;       // %D %T %{ms}T %{us}T $request_time
  // $upstream_response_time: the sum of every upstream's time when nginx tried several ("0.002,
  // 0.004" sums to 0.006: the time the request spent waiting on upstreams, retries included);
  // absent when nginx wrote "-" (no upstream: a static file, a cached answer, an early 400).
  std::optional<double> upstream_seconds;
  std::string_view referer;     // "-" when none
  std::string_view user_agent;  // "-" when none
};

// Predefined format names (the value of the `swarmwatch.access_log` label):
//   apache_common    %h %l %u %t "%r" %>s %b
//   apache_combined  apache_common + ` "%{Referer}i" "%{User-Agent}i"`
//   apache           apache_combined + ` %D` (microseconds): the stack's web image
//   nginx_combined   $remote_addr - $remote_user [$time_local] "$request" $status
//                    $body_bytes_sent "$http_referer" "$http_user_agent"
//   nginx            nginx_combined + ` $request_time $upstream_response_time`: the stack's proxy
struct PredefinedAccessLogFormat {
  std::string_view name;
  AccessLogSyntax syntax;
  std::string_view definition;
};
std::span<const PredefinedAccessLogFormat> PredefinedAccessLogFormats();

class AccessLogParser {
 public:
  explicit AccessLogParser(AccessLogFormat format) : format_(std::move(format)) {}

  // Fills `out` (reset first) from one line, without its '\n' (a trailing "\r" or "\r\n" is
  // ignored, as is text after the format's last field). False when the line does not match the
  // format: a missing literal, a truncated line, a status that is not 3 digits, a size or a time
  // that is not a number; `out` then holds garbage the caller must not use.
  bool Parse(std::string_view line, AccessLogEntry& out) const;

  const AccessLogFormat& format() const { return format_; }
  bool has_duration() const { return format_.has_duration; }
  bool has_response_bytes() const { return format_.has_bytes; }
  bool has_upstream_time() const { return format_.has_upstream_time; }

 private:
  AccessLogFormat format_;
};

// A predefined name (whatever `syntax` says), else a format definition in `syntax`.
Result<AccessLogParser> MakeAccessLogParser(std::string_view format_name_or_definition,
                                            AccessLogSyntax syntax = AccessLogSyntax::kApache);

// One of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH (exact, case-sensitive as
// HTTP methods are), else "other": the `method` label stays bounded whatever clients send.
std::string_view NormalizeMethod(std::string_view method);

// Maps a request path to the first of the configured route patterns it matches, for an optional
// `route` label (off unless patterns are configured: raw paths explode cardinality). Patterns are
// absolute paths whose segments are literal text, `{name}` (any one non-empty segment) or `*`
// (any one non-empty segment; as the last segment, one or more). "/static/*" matches
// "/static/css/a.css"; "/student/{id}" matches "/student/42" and "/student/42/" but not
// "/student/42/edit". Matching is case-sensitive, on the path without its query string.
class RouteMatcher {
 public:
  static Result<RouteMatcher> Compile(std::span<const std::string> patterns);

  // The matching pattern, or "other". The view lives as long as this matcher.
  std::string_view Match(std::string_view path) const;
  bool empty() const { return routes_.empty(); }

 private:
  enum class SegmentKind : std::uint8_t { kLiteral, kAny, kRest };
  struct Segment {
    SegmentKind kind;
    std::string text;
  };
  struct Route {
    std::string pattern;
    std::vector<Segment> segments;
  };
  static bool Matches(const Route& route, std::string_view path);

  std::vector<Route> routes_;
};

}  // namespace swarmwatch
