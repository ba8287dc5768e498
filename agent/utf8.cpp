#include "agent/utf8.h"

#include <cstring>

namespace swarmwatch {

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // ASCII, eight bytes at a time: most text never leaves this loop.
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ULL) != 0)
        break;
      i += 8;
    }
    if (i >= n)
      break;
    const std::size_t length = Utf8SequenceLength(p + i, n - i);
    if (length == 0)
      return false;
    i += length;
  }
  return true;
}

namespace {

// Copies `text` to `out` with U+FFFD for each byte that is not part of a valid sequence, or for
// each run of such bytes.
enum class Replace : bool { kEachByte, kEachRun };

void AppendRepaired(std::string_view text, std::string& out, Replace replace) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t copy_from = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = Utf8SequenceLength(p + i, text.size() - i);
    if (length != 0) {
      i += length;
      continue;
    }
    out.append(text, copy_from, i - copy_from);
    out += kUtf8Replacement;
    ++i;
    while (replace == Replace::kEachRun && i < text.size() &&
           Utf8SequenceLength(p + i, text.size() - i) == 0)
      ++i;
    copy_from = i;
  }
  out.append(text, copy_from);
}

}  // namespace

void AppendUtf8Repaired(std::string_view text, std::string& out) {
  AppendRepaired(text, out, Replace::kEachByte);
}

std::string Utf8Repaired(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  AppendUtf8Repaired(text, out);
  return out;
}

void AppendUtf8RunsRepaired(std::string_view text, std::string& out) {
  AppendRepaired(text, out, Replace::kEachRun);
}

}  // namespace swarmwatch
