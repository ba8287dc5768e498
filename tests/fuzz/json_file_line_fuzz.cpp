// Feeds arbitrary bytes, split at '\n' like a json-file log, to DecodeJsonFileLine and a
// PartialLineJoiner with a small limit. Besides not crashing, it checks what must always hold:
// the decoded text lies in the line or the scratch buffer, valid UTF-8 in gives valid UTF-8 out,
// records stay within the limit, and the resume offset never goes back. A line that does not
// decode goes through UndecodableLinePieces as the shipper sends it: every piece valid UTF-8 and
// within the limit, nothing lost but runs of invalid bytes, at most 2n+1 bytes for n in.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/utf8.h"
#include "shippers/json_file_decoder.h"
#include "shippers/partial_line_joiner.h"

namespace {

bool ValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) {  // the sequence runs past the end
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

void CheckAt(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}
#define Check(cond) CheckAt((cond), #cond)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using swarmwatch::DecodedLine;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks the joiner's limit, so that cuts land anywhere in short inputs.
  const std::size_t limit = size == 0 ? 1 : 1 + data[0] % 32;
  swarmwatch::PartialLineJoiner joiner(limit);
  std::string scratch;
  std::vector<std::string_view> pieces;
  std::uint64_t offset = 0;
  std::uint64_t last_resume = 0;
  while (offset < input.size()) {
    const std::size_t nl = input.find('\n', offset);
    const std::size_t end = nl == std::string_view::npos ? input.size() : nl + 1;
    const std::string_view line = input.substr(offset, end - offset);
    DecodedLine out;
    if (swarmwatch::DecodeJsonFileLine(line, out, scratch)) {
      const bool in_line = out.log.data() >= line.data() &&
                           out.log.data() + out.log.size() <= line.data() + line.size();
      const bool in_scratch = out.log.data() >= scratch.data() &&
                              out.log.data() + out.log.size() <= scratch.data() + scratch.size();
      Check(in_line || in_scratch || out.log.empty());
      if (ValidUtf8(line)) {
        Check(ValidUtf8(out.log));
      }
      if (auto record = joiner.Feed(out, offset)) {
        Check(record->line.size() <= limit);
        Check(record->stream == out.stream);
      }
    } else {
      // The limit is at least 4: a piece holds one character at least.
      const std::size_t piece_limit = 3 + limit;
      swarmwatch::UndecodableLinePieces(line, piece_limit, scratch, pieces);
      Check(!pieces.empty());
      std::string joined;
      for (const std::string_view piece : pieces) {
        Check(piece.size() <= piece_limit);
        Check(!piece.empty() || pieces.size() == 1);
        Check(ValidUtf8(piece));
        joined += piece;
      }
      std::string repaired;
      swarmwatch::AppendUtf8RunsRepaired(line, repaired);
      Check(joined == repaired);
      Check(joined.size() <= 2 * line.size() + 1);
      if (ValidUtf8(line)) {
        Check(joined == line);
      }
    }
    offset = end;
    const std::uint64_t resume = joiner.PendingStart().value_or(offset);
    Check(resume >= last_resume && resume <= offset);
    last_resume = resume;
  }
  for (auto stream : {swarmwatch::LogStream::kStdout, swarmwatch::LogStream::kStderr}) {
    if (auto record = joiner.Flush(stream)) {
      Check(record->line.size() <= limit);
    }
  }
  Check(!joiner.Pending());
  return 0;
}
