#include "shippers/json_file_decoder.h"

#include <cstddef>
#include <cstring>
#include <limits>

namespace swarmwatch {
namespace {

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Cursor over the line. Every access checks the end: the input is outside data.
struct Scanner {
  const char* p;
  const char* end;

  void SkipSpace() {
    while (p != end && IsSpace(*p)) {
      ++p;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (p != end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Reads the 4 hex digits after "\u" at `p` (p points at the 'u'). Returns -1 if there are not 4.
int ReadHex4(const char* p, const char* end) {
  if (end - p < 5) {
    return -1;
  }
  int v = 0;
  for (int i = 1; i <= 4; ++i) {
    const int d = HexValue(p[i]);
    if (d < 0) {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  char buf[4];
  std::size_t n = 0;
  if (cp < 0x80) {
    buf[n++] = static_cast<char>(cp);
  } else if (cp < 0x800) {
    buf[n++] = static_cast<char>(0xC0 | (cp >> 6));
    buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    buf[n++] = static_cast<char>(0xE0 | (cp >> 12));
    buf[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    buf[n++] = static_cast<char>(0xF0 | (cp >> 18));
    buf[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    buf[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  }
  out.append(buf, n);
}

constexpr std::uint32_t kReplacement = 0xFFFD;

// Decodes the escape at `p` (pointing just after the backslash, p < end) into `out`; returns the
// position after it. Never fails: what is not a valid escape becomes U+FFFD.
const char* DecodeEscape(const char* p, const char* end, std::string& out) {
  switch (*p) {
    case '"':
    case '\\':
    case '/':
      out.push_back(*p);
      return p + 1;
    case 'b':
      out.push_back('\b');
      return p + 1;
    case 'f':
      out.push_back('\f');
      return p + 1;
    case 'n':
      out.push_back('\n');
      return p + 1;
    case 'r':
      out.push_back('\r');
      return p + 1;
    case 't':
      out.push_back('\t');
      return p + 1;
    case 'u':
      break;
    default: {
      // Unknown escape: the backslash and the character after it (all of its UTF-8 bytes, so that
      // valid UTF-8 stays valid) become one U+FFFD.
      AppendUtf8(out, kReplacement);
      const char* next = p + 1;
      for (int i = 0; i < 3 && next != end && (static_cast<unsigned char>(*next) & 0xC0) == 0x80;
           ++i) {
        ++next;
      }
      return next;
    }
  }
  const int unit = ReadHex4(p, end);
  if (unit < 0) {
    AppendUtf8(out, kReplacement);  // "\u" without 4 hex digits: what follows is kept as text
    return p + 1;
  }
  p += 5;
  if (unit >= 0xD800 && unit <= 0xDBFF) {
    // A high surrogate is only meaningful followed by an escaped low surrogate.
    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
      const int low = ReadHex4(p + 1, end);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        AppendUtf8(out, 0x10000 + ((static_cast<std::uint32_t>(unit) - 0xD800) << 10) +
                            (static_cast<std::uint32_t>(low) - 0xDC00));
        return p + 6;
      }
    }
    AppendUtf8(out, kReplacement);
    return p;
  }
  if (unit >= 0xDC00 && unit <= 0xDFFF) {
    AppendUtf8(out, kReplacement);  // lone low surrogate
    return p;
  }
  AppendUtf8(out, static_cast<std::uint32_t>(unit));
  return p;
}

// Scans the string whose opening quote the scanner just passed. Without escapes, `value` points
// into the line and `scratch` is untouched; with escapes, `scratch` is overwritten with the decoded
// text and `value` points to it. False if the closing quote is missing.
// With `newline_cut` set, a string whose only escape is a final "\n" (every whole line Docker
// writes) is not copied either: `value` is the text before it and *newline_cut becomes true.
bool ScanString(Scanner& s, std::string_view& value, std::string& scratch,
                bool* newline_cut = nullptr) {
  const char* start = s.p;
  const char* quote = static_cast<const char*>(std::memchr(start, '"', s.end - start));
  if (quote == nullptr) {
    return false;
  }
  const char* backslash = static_cast<const char*>(std::memchr(start, '\\', quote - start));
  if (backslash == nullptr) {
    value = std::string_view(start, quote - start);
    s.p = quote + 1;
    return true;
  }
  if (newline_cut != nullptr && backslash + 2 == quote && backslash[1] == 'n') {
    value = std::string_view(start, backslash - start);
    *newline_cut = true;
    s.p = quote + 1;
    return true;
  }
  scratch.clear();
  const char* p = start;
  for (;;) {
    scratch.append(p, backslash - p);
    if (backslash + 1 == s.end) {
      return false;
    }
    p = DecodeEscape(backslash + 1, s.end, scratch);
    if (p > quote) {  // the quote found earlier was escaped: find the next one
      quote = static_cast<const char*>(std::memchr(p, '"', s.end - p));
      if (quote == nullptr) {
        return false;
      }
    }
    backslash = static_cast<const char*>(std::memchr(p, '\\', quote - p));
    if (backslash == nullptr) {
      scratch.append(p, quote - p);
      value = scratch;
      s.p = quote + 1;
      return true;
    }
  }
}

// Skips a string whose opening quote was just passed, without decoding it.
bool SkipString(Scanner& s) {
  const char* p = s.p;
  for (;;) {
    const char* quote = static_cast<const char*>(std::memchr(p, '"', s.end - p));
    if (quote == nullptr) {
      return false;
    }
    // The quote is escaped if an odd number of backslashes precede it.
    std::size_t backslashes = 0;
    for (const char* b = quote; b != s.p && b[-1] == '\\'; --b) {
      ++backslashes;
    }
    p = quote + 1;
    if (backslashes % 2 == 0) {
      s.p = p;
      return true;
    }
  }
}

bool IsScalarChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '+' || c == '.';
}

// Skips the value of a key the decoder does not use ("attrs": {...}). It checks nesting, not
// the grammar of numbers and literals: the line is Docker's, and the value is thrown away.
bool SkipValue(Scanner& s) {
  constexpr int kMaxDepth = 64;
  std::uint64_t is_array = 0;  // bit d: the container at depth d is an array
  int depth = 0;
  s.SkipSpace();
  do {
    if (s.p == s.end) {
      return false;
    }
    const char c = *s.p;
    if (c == '"') {
      ++s.p;
      if (!SkipString(s)) {
        return false;
      }
    } else if (c == '{' || c == '[') {
      if (depth == kMaxDepth) {
        return false;
      }
      is_array = (is_array & ~(std::uint64_t{1} << depth)) |
                 (static_cast<std::uint64_t>(c == '[') << depth);
      ++depth;
      ++s.p;
    } else if (c == '}' || c == ']') {
      if (depth == 0 || ((is_array >> (depth - 1)) & 1) != static_cast<std::uint64_t>(c == ']')) {
        return false;
      }
      --depth;
      ++s.p;
    } else if (IsScalarChar(c)) {
      while (s.p != s.end && IsScalarChar(*s.p)) {
        ++s.p;
      }
    } else if (depth > 0 && (c == ',' || c == ':' || IsSpace(c))) {
      ++s.p;
    } else {
      return false;
    }
  } while (depth > 0);
  return true;
}

bool ParseDigits(std::string_view s, std::size_t pos, std::size_t count, std::int64_t& value) {
  if (pos + count > s.size()) {
    return false;
  }
  value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    value = value * 10 + (s[i] - '0');
  }
  return true;
}

// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, std::int64_t m, std::int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::int64_t DaysInMonth(std::int64_t y, std::int64_t m) {
  static constexpr std::int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

Result<std::int64_t> ParseRfc3339Nanos(std::string_view s) {
  const auto bad = [] { return Error{"time is not RFC 3339"}; };
  std::int64_t year = 0;
  std::int64_t mon = 0;
  std::int64_t day = 0;
  std::int64_t hour = 0;
  std::int64_t min = 0;
  std::int64_t sec = 0;
  if (s.size() < 20 || !ParseDigits(s, 0, 4, year) || s[4] != '-' || !ParseDigits(s, 5, 2, mon) ||
      s[7] != '-' || !ParseDigits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !ParseDigits(s, 11, 2, hour) || s[13] != ':' || !ParseDigits(s, 14, 2, min) || s[16] != ':' ||
      !ParseDigits(s, 17, 2, sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || day > DaysInMonth(year, mon) || hour > 23 || min > 59 ||
      sec > 60) {  // 60: a leap second, counted as the first second of the next minute
    return Error{"time has a field out of range"};
  }
  std::size_t pos = 19;
  std::int64_t frac = 0;
  if (s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t scale = kNanosPerSecond;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 1) {
        scale /= 10;
        frac += (s[pos] - '0') * scale;
      }
      ++pos;
    }
    if (pos == start) {
      return bad();
    }
  }
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    std::int64_t oh = 0;
    std::int64_t om = 0;
    if (!ParseDigits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ParseDigits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad();
    }
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) {
    return bad();
  }
  std::int64_t secs = DaysFromCivil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
  if (secs < 0 && frac > 0) {  // so that the earliest representable times do not overflow
    secs += 1;
    frac -= kNanosPerSecond;
  }
  std::int64_t nanos = 0;
  if (__builtin_mul_overflow(secs, kNanosPerSecond, &nanos) ||
      __builtin_add_overflow(nanos, frac, &nanos)) {
    return Error{"time is outside the range of int64 nanoseconds"};
  }
  return nanos;
}

Status DecodeJsonFileLine(std::string_view line, DecodedLine& out, std::string& scratch) {
  Scanner s{line.data(), line.data() + line.size()};
  if (!s.Consume('{')) {
    return Error{"not a JSON object"};
  }
  std::string_view log;
  bool log_newline_cut = false;  // the final "\n" of `log` was left out already
  std::string_view stream;
  std::string_view time;
  bool have_log = false;
  bool have_stream = false;
  bool have_time = false;
  // Only used when a key or the "stream" or "time" value has escapes, which Docker never writes.
  std::string key_buffer;
  std::string stream_buffer;
  std::string time_buffer;
  if (!s.Consume('}')) {
    for (;;) {
      if (!s.Consume('"')) {
        return Error{"expected a key"};
      }
      std::string_view key;
      if (!ScanString(s, key, key_buffer)) {
        return Error{"unterminated key"};
      }
      if (!s.Consume(':')) {
        return Error{"expected ':' after a key"};
      }
      std::string_view* target = nullptr;
      std::string* buffer = nullptr;
      if (key == "log") {
        target = &log;
        have_log = true;
        log_newline_cut = false;
        buffer = &scratch;
      } else if (key == "stream") {
        target = &stream;
        have_stream = true;
        buffer = &stream_buffer;
      } else if (key == "time") {
        target = &time;
        have_time = true;
        buffer = &time_buffer;
      }
      if (target != nullptr) {
        if (!s.Consume('"')) {
          return Error{std::string("\"") + std::string(key) + "\" is not a string"};
        }
        if (!ScanString(s, *target, *buffer, target == &log ? &log_newline_cut : nullptr)) {
          return Error{"unterminated string"};
        }
      } else if (!SkipValue(s)) {
        return Error{"malformed value"};
      }
      if (s.Consume(',')) {
        continue;
      }
      if (s.Consume('}')) {
        break;
      }
      return Error{"expected ',' or '}'"};
    }
  }
  s.SkipSpace();
  if (s.p != s.end) {
    return Error{"text after the JSON object"};
  }
  if (!have_log) {
    return Error{"no \"log\" key"};
  }
  if (!have_stream) {
    return Error{"no \"stream\" key"};
  }
  if (!have_time) {
    return Error{"no \"time\" key"};
  }
  if (stream == "stdout") {
    out.stream = LogStream::kStdout;
  } else if (stream == "stderr") {
    out.stream = LogStream::kStderr;
  } else {
    return Error{"\"stream\" is neither stdout nor stderr"};
  }
  auto time_ns = ParseRfc3339Nanos(time);
  if (!time_ns) {
    return time_ns.error();
  }
  out.time_ns = *time_ns;
  if (log_newline_cut) {
    out.partial = false;
    out.log = log;
  } else {
    out.partial = log.empty() || log.back() != '\n';
    out.log = out.partial ? log : log.substr(0, log.size() - 1);
  }
  return {};
}

}  // namespace swarmwatch
