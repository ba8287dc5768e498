#include "exporters/access_log_parser.h"

#include <cstddef>
#include <cstring>
#include <utility>

namespace swarmwatch {
namespace {

constexpr PredefinedAccessLogFormat kPredefined[] = {
    {"apache_common", AccessLogSyntax::kApache, R"(%h %l %u %t "%r" %>s %b)"},
    {"apache_combined", AccessLogSyntax::kApache,
     R"(%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i")"},
    {"apache", AccessLogSyntax::kApache,
     R"(%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D)"},
    {"nginx_combined", AccessLogSyntax::kNginx,
     R"($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent )"
     R"("$http_referer" "$http_user_agent")"},
    {"nginx", AccessLogSyntax::kNginx,
     R"($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent )"
     R"("$http_referer" "$http_user_agent" $request_time $upstream_response_time)"},
};

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// The end of a quoted field starting at `pos` (just after its opening quote): the first '"' not
// escaped by a backslash. Apache writes \" and \\; nginx writes \x22 and \x5C, so a raw quote
// in an nginx field only ever closes it.
std::size_t FindClosingQuote(std::string_view line, std::size_t pos) {
  const char* const begin = line.data();
  const char* const end = begin + line.size();
  const char* p = begin + pos;
  while (p < end) {
    const void* hit = std::memchr(p, '"', static_cast<std::size_t>(end - p));
    if (hit == nullptr) {
      return std::string_view::npos;
    }
    const char* q = static_cast<const char*>(hit);
    std::size_t backslashes = 0;
    for (const char* b = q; b > begin + pos && b[-1] == '\\'; --b) {
      ++backslashes;
    }
    if (backslashes % 2 == 0) {
      return static_cast<std::size_t>(q - begin);
    }
    p = q + 1;
  }
  return std::string_view::npos;
}

// Digits with an optional fraction ("485", "0.123"); nothing else.
std::optional<double> ParseDecimal(std::string_view text) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                      1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
  std::size_t i = 0;
  std::uint64_t whole = 0;
  const std::size_t n = text.size();
  while (i < n && IsDigit(text[i])) {
    if (i >= 18) {
      return std::nullopt;  // more than a request ever takes; and it would overflow
    }
    whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) {
    return std::nullopt;
  }
  if (i == n) {
    return static_cast<double>(whole);
  }
  if (text[i] != '.') {
    return std::nullopt;
  }
  ++i;
  std::uint64_t fraction = 0;
  std::size_t digits = 0;
  for (; i < n; ++i) {
    if (!IsDigit(text[i])) {
      return std::nullopt;
    }
    if (digits < 18) {  // further digits are below a double's precision anyway
      fraction = fraction * 10 + static_cast<std::uint64_t>(text[i] - '0');
      ++digits;
    }
  }
  if (digits == 0) {
    return std::nullopt;
  }
  return static_cast<double>(whole) + static_cast<double>(fraction) / kPow10[digits];
}

bool ParseUint(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 19) {
    return false;
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    if (!IsDigit(c)) {
      return false;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = value;
  return true;
}

// The end of one upstream time ("0.002" or "-") starting at `pos`, or npos.
std::size_t ScanUpstreamItem(std::string_view line, std::size_t pos) {
  if (pos < line.size() && line[pos] == '-') {
    return pos + 1;
  }
  std::size_t i = pos;
  while (i < line.size() && (IsDigit(line[i]) || line[i] == '.')) {
    ++i;
  }
  return i == pos ? std::string_view::npos : i;
}

bool StartsUpstreamItem(std::string_view line, std::size_t pos) {
  return pos < line.size() && (IsDigit(line[pos]) || line[pos] == '-');
}

// The end of an unquoted $upstream_response_time, which nginx writes with spaces when it tried
// several upstreams: items joined by ", " (next upstream) and " : " (internal redirect).
std::size_t ScanUpstreamList(std::string_view line, std::size_t pos) {
  std::size_t end = ScanUpstreamItem(line, pos);
  while (end != std::string_view::npos) {
    const std::string_view rest = line.substr(end);
    std::size_t separator = 0;
    if (rest.starts_with(", ")) {
      separator = 2;
    } else if (rest.starts_with(" : ")) {
      separator = 3;
    }
    if (separator == 0 || !StartsUpstreamItem(line, end + separator)) {
      return end;
    }
    end = ScanUpstreamItem(line, end + separator);
  }
  return end;
}

// Sums the items of an upstream time list; absent when every item is "-".
bool ParseUpstreamTimes(std::string_view text, std::optional<double>& out) {
  std::size_t pos = 0;
  double sum = 0;
  bool any = false;
  while (true) {
    while (pos < text.size() && text[pos] == ' ') {
      ++pos;
    }
    std::size_t end = pos;
    while (end < text.size() && text[end] != ',' && text[end] != ':' && text[end] != ' ') {
      ++end;
    }
    const std::string_view item = text.substr(pos, end - pos);
    if (item != "-") {
      const std::optional<double> value = ParseDecimal(item);
      if (!value) {
        return false;
      }
      sum += *value;
      any = true;
    }
    while (end < text.size() && text[end] == ' ') {
      ++end;
    }
    if (end == text.size()) {
      break;
    }
    if (text[end] != ',' && text[end] != ':') {
      return false;
    }
    pos = end + 1;
  }
  if (any) {
    out = sum;
  }
  return true;
}

std::string_view DashIsEmpty(std::string_view value) {
  return value == "-" ? std::string_view() : value;
}

void SplitTarget(std::string_view target, AccessLogEntry& out) {
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) {
    out.path = target;
    out.query = {};
  } else {
    out.path = target.substr(0, question);
    out.query = target.substr(question + 1);
  }
}

void ParseRequestLine(std::string_view request, bool set_path, AccessLogEntry& out) {
  if (request.empty() || request == "-") {
    return;
  }
  const std::size_t space = request.find(' ');
  if (space == std::string_view::npos) {
    out.method = request;
    return;
  }
  out.method = request.substr(0, space);
  std::string_view rest = request.substr(space + 1);
  const std::size_t last = rest.rfind(' ');
  if (last != std::string_view::npos && rest.substr(last + 1).starts_with("HTTP/")) {
    out.protocol = rest.substr(last + 1);
    rest = rest.substr(0, last);
  }
  out.target = rest;
  if (set_path) {
    SplitTarget(rest, out);
  }
}

bool Store(AccessLogField field, std::string_view value, bool has_path_field, AccessLogEntry& out) {
  switch (field) {
    case AccessLogField::kSkip:
      return true;
    case AccessLogField::kRemoteAddr:
      out.remote_addr = value;
      return true;
    case AccessLogField::kRemoteUser:
      out.remote_user = value;
      return true;
    case AccessLogField::kTimeLocal:
      out.time_local = value;
      return true;
    case AccessLogField::kRequestLine:
      ParseRequestLine(value, !has_path_field, out);
      return true;
    case AccessLogField::kMethod:
      out.method = DashIsEmpty(value);
      return true;
    case AccessLogField::kPath:
      out.path = DashIsEmpty(value);
      if (out.target.empty()) {
        out.target = out.path;
      }
      return true;
    case AccessLogField::kQuery:
      value = DashIsEmpty(value);
      if (value.starts_with('?')) {
        value.remove_prefix(1);
      }
      out.query = value;
      return true;
    case AccessLogField::kRequestUri:
      out.target = DashIsEmpty(value);
      if (!has_path_field) {
        SplitTarget(out.target, out);
      }
      return true;
    case AccessLogField::kProtocol:
      out.protocol = DashIsEmpty(value);
      return true;
    case AccessLogField::kStatus:
      if (value.size() != 3 || value[0] < '1' || value[0] > '9' || !IsDigit(value[1]) ||
          !IsDigit(value[2])) {
        return false;
      }
      out.status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
      return true;
    case AccessLogField::kBytes: {
      if (value == "-") {
        out.response_bytes.reset();
        return true;
      }
      std::uint64_t bytes = 0;
      if (!ParseUint(value, bytes)) {
        return false;
      }
      out.response_bytes = bytes;
      return true;
    }
    case AccessLogField::kDurationSeconds:
    case AccessLogField::kDurationMillis:
    case AccessLogField::kDurationMicros: {
      if (value == "-") {
        out.duration_seconds.reset();
        return true;
      }
      const std::optional<double> number = ParseDecimal(value);
      if (!number) {
        return false;
      }
      out.duration_seconds = field == AccessLogField::kDurationSeconds  ? *number
                             : field == AccessLogField::kDurationMillis ? *number / 1e3
                                                                        : *number / 1e6;
      return true;
    }
    case AccessLogField::kUpstreamTime:
      return ParseUpstreamTimes(value, out.upstream_seconds);
    case AccessLogField::kReferer:
      out.referer = value;
      return true;
    case AccessLogField::kUserAgent:
      out.user_agent = value;
      return true;
  }
  return false;
}

}  // namespace

std::span<const PredefinedAccessLogFormat> PredefinedAccessLogFormats() {
  return kPredefined;
}

bool AccessLogParser::Parse(std::string_view line, AccessLogEntry& out) const {
  out = AccessLogEntry{};
  if (line.ends_with('\n')) {
    line.remove_suffix(1);
  }
  if (line.ends_with('\r')) {
    line.remove_suffix(1);
  }
  const std::vector<AccessLogStep>& steps = format_.steps;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const AccessLogStep& step = steps[i];
    const std::string& literal = step.literal;
    if (line.size() - pos < literal.size() ||
        std::memcmp(line.data() + pos, literal.data(), literal.size()) != 0) {
      return false;
    }
    pos += literal.size();
    if (!step.has_field) {
      break;  // the last step: whatever follows are extra fields
    }
    // The compiler always ends the steps with one that has no field.
    const std::string& next = steps[i + 1].literal;
    std::size_t end = 0;
    if (step.quoted) {
      end = FindClosingQuote(line, pos);
    } else if (step.field == AccessLogField::kUpstreamTime) {
      end = ScanUpstreamList(line, pos);
    } else if (next.empty()) {
      // The format's last field, unquoted: up to the next space (extra fields may follow).
      end = line.find(' ', pos);
      if (end == std::string_view::npos) {
        end = line.size();
      }
    } else {
      end = line.find(next.front(), pos);
    }
    if (end == std::string_view::npos) {
      return false;
    }
    if (!Store(step.field, line.substr(pos, end - pos), format_.has_path_field, out)) {
      return false;
    }
    pos = end;
  }
  return true;
}

Result<AccessLogParser> MakeAccessLogParser(std::string_view format_name_or_definition,
                                            AccessLogSyntax syntax) {
  for (const PredefinedAccessLogFormat& predefined : kPredefined) {
    if (predefined.name == format_name_or_definition) {
      auto format = CompileAccessLogFormat(predefined.definition, predefined.syntax);
      if (!format.ok()) {
        return format.error();
      }
      return AccessLogParser(std::move(*format));
    }
  }
  auto format = CompileAccessLogFormat(format_name_or_definition, syntax);
  if (!format.ok()) {
    return format.error();
  }
  return AccessLogParser(std::move(*format));
}

std::string_view NormalizeMethod(std::string_view method) {
  static constexpr std::string_view kMethods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                  "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (const std::string_view m : kMethods) {
    if (m == method) {
      return m;
    }
  }
  return "other";
}

Result<RouteMatcher> RouteMatcher::Compile(std::span<const std::string> patterns) {
  RouteMatcher matcher;
  for (const std::string& pattern : patterns) {
    auto fail = [&](std::string_view why) {
      return Error{"route pattern \"" + pattern + "\": " + std::string(why)};
    };
    if (!pattern.starts_with('/')) {
      return fail("must start with '/'");
    }
    if (pattern.find_first_of("?#") != std::string::npos) {
      return fail("matches the path only: no '?' or '#'");
    }
    Route route;
    route.pattern = pattern;
    std::string_view rest = std::string_view(pattern).substr(1);
    if (rest.ends_with('/')) {
      rest.remove_suffix(1);  // "/a/" is "/a", as paths are matched
    }
    while (!rest.empty()) {
      const std::size_t slash = rest.find('/');
      const std::string_view segment = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (segment == "*") {
        route.segments.push_back(
            {slash == std::string_view::npos ? SegmentKind::kRest : SegmentKind::kAny, ""});
      } else if (segment.starts_with('{')) {
        if (segment.size() < 3 || !segment.ends_with('}') ||
            segment.substr(1, segment.size() - 2).find_first_of("{}") != std::string_view::npos) {
          return fail("a parameter is a whole segment \"{name}\"");
        }
        route.segments.push_back({SegmentKind::kAny, ""});
      } else if (segment.find_first_of("{}*") != std::string_view::npos) {
        return fail("'{', '}' and '*' only stand for whole segments (\"/a/{id}\", \"/a/*\")");
      } else if (segment.empty()) {
        return fail("has an empty segment (\"//\")");
      } else {
        route.segments.push_back({SegmentKind::kLiteral, std::string(segment)});
      }
    }
    matcher.routes_.push_back(std::move(route));
  }
  return matcher;
}

bool RouteMatcher::Matches(const Route& route, std::string_view path) {
  std::string_view rest = path;
  for (const Segment& segment : route.segments) {
    if (rest.empty()) {
      return false;
    }
    if (segment.kind == SegmentKind::kRest) {
      return true;
    }
    const std::size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (segment.kind == SegmentKind::kLiteral ? part != segment.text : part.empty()) {
      return false;
    }
    if (slash != std::string_view::npos && rest.empty()) {
      return false;  // "/a//" is not "/a/"
    }
  }
  return rest.empty();
}

std::string_view RouteMatcher::Match(std::string_view path) const {
  if (!path.starts_with('/')) {
    return "other";  // "*" (OPTIONS), "host:443" (CONNECT), absolute URLs of proxy requests
  }
  path.remove_prefix(1);
  if (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  for (const Route& route : routes_) {
    if (Matches(route, path)) {
      return route.pattern;
    }
  }
  return "other";
}

}  // namespace swarmwatch
