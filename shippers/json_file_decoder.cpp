#include "shippers/json_file_decoder.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>

#include "agent/utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// Writes the UTF-8 encoding of `cp` at `out` and advances it.
void PutUtf8(char*& out, std::uint32_t cp) {
  if (cp < 0x80) {
    *out++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out++ = static_cast<char>(0xC0 | (cp >> 6));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out++ = static_cast<char>(0xE0 | (cp >> 12));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out++ = static_cast<char>(0xF0 | (cp >> 18));
    *out++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  }
}

constexpr std::uint32_t kReplacement = 0xFFFD;

// Decodes the escape at `p` (pointing just after the backslash, p < end) to `out`; returns the
// position after it. Never fails: what is not a valid escape becomes U+FFFD. Writes at most 3
// bytes per 2 bytes of input (an unknown 2-byte escape becomes the 3-byte U+FFFD).
const char* DecodeEscape(const char* p, const char* end, char*& out) {
  switch (*p) {
    case '"':
    case '\\':
    case '/':
      *out++ = *p;
      return p + 1;
    case 'b':
      *out++ = '\b';
      return p + 1;
    case 'f':
      *out++ = '\f';
      return p + 1;
    case 'n':
      *out++ = '\n';
      return p + 1;
    case 'r':
      *out++ = '\r';
      return p + 1;
    case 't':
      *out++ = '\t';
      return p + 1;
    case 'u':
      break;
    default: {
      // Unknown escape: the backslash and the character after it (all of its UTF-8 bytes, so that
      // valid UTF-8 stays valid) become one U+FFFD.
      PutUtf8(out, kReplacement);
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
    PutUtf8(out, kReplacement);  // "\u" without 4 hex digits: what follows is kept as text
    return p + 1;
  }
  p += 5;
  if (unit >= 0xD800 && unit <= 0xDBFF) {
    // A high surrogate is only meaningful followed by an escaped low surrogate.
    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
      const int low = ReadHex4(p + 1, end);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        PutUtf8(out, 0x10000 + ((static_cast<std::uint32_t>(unit) - 0xD800) << 10) +
                         (static_cast<std::uint32_t>(low) - 0xDC00));
        return p + 6;
      }
    }
    PutUtf8(out, kReplacement);
    return p;
  }
  if (unit >= 0xDC00 && unit <= 0xDFFF) {
    PutUtf8(out, kReplacement);  // lone low surrogate
    return p;
  }
  PutUtf8(out, static_cast<std::uint32_t>(unit));
  return p;
}

// The first '"' or '\\' in [p, end), or end. 16 bytes per step where SSE2 is there (x86-64
// always): one pass instead of a memchr for each character, which matters for short runs
// between escapes.
const char* FindQuoteOrBackslash(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask =
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (mask != 0) {
      return p + __builtin_ctz(static_cast<unsigned>(mask));
    }
    p += 16;
  }
#endif
  while (p != end && *p != '"' && *p != '\\') {
    ++p;
  }
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
  const char* p = FindQuoteOrBackslash(start, s.end);
  if (p == s.end) {
    return false;
  }
  if (*p == '"') {
    value = std::string_view(start, p - start);
    s.p = p + 1;
    return true;
  }
  if (newline_cut != nullptr && s.end - p > 2 && p[1] == 'n' && p[2] == '"') {
    value = std::string_view(start, p - start);
    *newline_cut = true;
    s.p = p + 3;
    return true;
  }
  // Decoding never grows the text by more than half (see DecodeEscape), so one buffer of that
  // size, reused from line to line, takes the whole string.
  const auto rest = static_cast<std::size_t>(s.end - start);
  if (scratch.size() < rest + rest / 2) {
    scratch.resize(rest + rest / 2);
  }
  char* const first = scratch.data();
  char* out = first;
  std::memcpy(out, start, p - start);
  out += p - start;
  for (;;) {
    // *p is a backslash here.
    if (p + 1 == s.end) {
      return false;
    }
    p = DecodeEscape(p + 1, s.end, out);
    const char* next = FindQuoteOrBackslash(p, s.end);
    std::memcpy(out, p, next - p);
    out += next - p;
    p = next;
    if (p == s.end) {
      return false;
    }
    if (*p == '"') {
      value = std::string_view(first, out - first);
      s.p = p + 1;
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

// Unsigned 32-bit arithmetic throughout: the fields are small, and division by a constant then
// compiles to multiplications (this runs once per log line).
bool ParseDigits(std::string_view s, std::size_t pos, std::size_t count, std::uint32_t& value) {
  if (pos + count > s.size()) {
    return false;
  }
  value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    const auto digit = static_cast<std::uint32_t>(static_cast<unsigned char>(s[i]) - '0');
    if (digit > 9) {
      return false;
    }
    value = value * 10 + digit;
  }
  return true;
}

// Days from 1970-01-01 to a proleptic Gregorian date of years 0..9999 (Howard Hinnant's
// days_from_civil, shifted by one 400-year era so that everything stays non-negative).
std::int64_t DaysFromCivil(std::uint32_t y, std::uint32_t m, std::uint32_t d) {
  constexpr std::int64_t kDaysPerEra = 146097;
  y = y + 400 - (m <= 2 ? 1 : 0);
  const std::uint32_t era = y / 400;
  const std::uint32_t yoe = y - era * 400;
  const std::uint32_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::uint32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * kDaysPerEra + doe - 719468 - kDaysPerEra;
}

std::uint32_t DaysInMonth(std::uint32_t y, std::uint32_t m) {
  static constexpr std::uint32_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

Result<std::int64_t> ParseRfc3339Nanos(std::string_view s) {
  const auto bad = [] { return Error{"time is not RFC 3339"}; };
  std::uint32_t year = 0;
  std::uint32_t mon = 0;
  std::uint32_t day = 0;
  std::uint32_t hour = 0;
  std::uint32_t min = 0;
  std::uint32_t sec = 0;
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
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 9) {
        frac = frac * 10 + (s[pos] - '0');
      }
      ++pos;
    }
    if (pos == start) {
      return bad();
    }
    // No division per digit here: this runs once per log line.
    static constexpr std::int64_t kScale[] = {
        1'000'000'000, 100'000'000, 10'000'000, 1'000'000, 100'000, 10'000, 1'000, 100, 10, 1};
    frac *= kScale[std::min<std::size_t>(pos - start, 9)];
  }
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    std::uint32_t oh = 0;
    std::uint32_t om = 0;
    if (!ParseDigits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ParseDigits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad();
    }
    offset = (s[pos] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) {
    return bad();
  }
  const std::uint32_t time_of_day = hour * 3600 + min * 60 + sec;  // < 86401: no overflow
  std::int64_t secs = DaysFromCivil(year, mon, day) * 86400 + time_of_day - offset;
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
          // Built by append: GCC 12 at -O3 raises a false -Wrestrict on the operator+ chain.
          std::string message = "\"";
          message.append(key).append("\" is not a string");
          return Error{std::move(message)};
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

void UndecodableLinePieces(std::string_view line, std::size_t max_bytes, std::string& scratch,
                           std::vector<std::string_view>& pieces) {
  pieces.clear();
  std::string_view text = line;
  if (!IsValidUtf8(line)) {
    scratch.clear();
    AppendUtf8RunsRepaired(line, scratch);
    text = scratch;
  }
  do {
    std::size_t cut = std::min(text.size(), max_bytes);
    if (cut < text.size()) {
      // Well-formed now: step back over continuation bytes to the character's first byte.
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
      if (cut == 0)  // a limit below one character (4 bytes): the character alone
        cut = Utf8SequenceLength(reinterpret_cast<const unsigned char*>(text.data()), text.size());
    }
    pieces.push_back(text.substr(0, cut));
    text.remove_prefix(cut);
  } while (!text.empty());
}

}  // namespace swarmwatch
