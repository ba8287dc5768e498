// UTF-8 checks and repairs for text that leaves the agent: a Prometheus label value that is not
// UTF-8 makes Prometheus reject the whole scrape, and Loki's push encodings carry proto3 strings
// and JSON, which must be UTF-8. One definition of "well-formed" for the exporters and shippers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace swarmwatch {

// U+FFFD REPLACEMENT CHARACTER, what Go (and so Docker) writes for each byte that does not begin a
// well-formed sequence.
inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";

// Length of the well-formed UTF-8 sequence starting at p (n > 0 bytes available), 0 if ill-formed.
// Overlong forms, surrogates and code points above U+10FFFF are ill-formed (RFC 3629): the
// sequences Go's utf8.DecodeRune accepts, so a byte for which this returns 0 is one Go replaces.
inline std::size_t Utf8SequenceLength(const unsigned char* p, std::size_t n) {
  const unsigned c = p[0];
  if (c < 0x80)
    return 1;
  auto cont = [&](std::size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
  if (c < 0xC2)
    return 0;
  if (c < 0xE0)
    return cont(1) ? 2 : 0;
  if (c < 0xF0) {
    if (!cont(1) || !cont(2))
      return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
      return 0;
    return 3;
  }
  if (c < 0xF5) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
      return 0;
    return 4;
  }
  return 0;
}

bool IsValidUtf8(std::string_view text);

// Appends `text` with each byte that does not begin a well-formed sequence replaced by U+FFFD, as
// Go does when it ranges over a string or encodes JSON (and so as Docker writes logs and labels).
// Well-formed text, U+FFFD included, is appended unchanged.
void AppendUtf8Repaired(std::string_view text, std::string& out);
std::string Utf8Repaired(std::string_view text);

// Appends `text` with each run of ill-formed bytes replaced by one U+FFFD (Go's
// strings.ToValidUTF8): at most twice the input's size, where one U+FFFD per byte triples binary
// data.
void AppendUtf8RunsRepaired(std::string_view text, std::string& out);

}  // namespace swarmwatch
