#include "shippers/partial_line_joiner.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace swarmwatch {

std::size_t Utf8CutPoint(std::string_view text, std::size_t limit) {
  if (limit >= text.size()) {
    return text.size();
  }
  // text[limit] is the first byte cut off. If it continues a sequence, the sequence's lead byte
  // (at most 3 bytes back) and what follows it go too.
  std::size_t n = limit;
  for (int back = 0; back < 3 && n > 0; ++back) {
    if ((static_cast<unsigned char>(text[n]) & 0xC0) != 0x80) {
      return n;
    }
    --n;
  }
  return (static_cast<unsigned char>(text[n]) & 0xC0) != 0x80 ? n : limit;
}

PartialLineJoiner::PartialLineJoiner(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {
  if (max_line_bytes == 0) {
    throw std::invalid_argument("PartialLineJoiner: max_line_bytes must be > 0");
  }
}

std::optional<LogRecord> PartialLineJoiner::Feed(const DecodedLine& piece,
                                                 std::uint64_t line_offset) {
  Slot& s = slot(piece.stream);
  if (s.discarding) {
    if (!piece.partial) {
      s = Slot{};
    }
    return std::nullopt;
  }
  if (!s.active) {
    if (!piece.partial && piece.log.size() <= max_line_bytes_) {
      // The common case: a whole line, nothing buffered. One copy, into the record.
      return LogRecord{piece.time_ns, piece.stream, std::string(piece.log), false};
    }
    s.active = true;
    s.start_offset = line_offset;
    s.record.time_ns = piece.time_ns;
    s.record.stream = piece.stream;
  }
  const std::size_t room = max_line_bytes_ - s.record.line.size();
  if (piece.log.size() > room) {
    // Cut at the limit, stepping back to a character boundary; the character the limit splits
    // may have started in an earlier piece, so the cut is made on the joined text, which needs
    // the first byte past the limit to tell.
    s.record.line.append(piece.log.substr(0, room + 1));
    s.record.line.resize(Utf8CutPoint(s.record.line, max_line_bytes_));
    s.record.truncated = true;
    LogRecord out = std::exchange(s.record, LogRecord{});
    if (piece.partial) {
      s.discarding = true;  // stays active: the line's start is still pending
    } else {
      s = Slot{};
    }
    return out;
  }
  s.record.line.append(piece.log);
  if (piece.partial) {
    return std::nullopt;
  }
  LogRecord out = std::move(s.record);
  s = Slot{};
  return out;
}

bool PartialLineJoiner::Pending() const {
  return slots_[0].active || slots_[1].active;
}

std::optional<std::uint64_t> PartialLineJoiner::PendingStart() const {
  std::optional<std::uint64_t> start;
  for (const Slot& s : slots_) {
    if (s.active) {
      start = start ? std::min(*start, s.start_offset) : s.start_offset;
    }
  }
  return start;
}

std::optional<LogRecord> PartialLineJoiner::Flush(LogStream stream) {
  Slot& s = slot(stream);
  const bool had_line = s.active && !s.discarding;
  LogRecord out = std::exchange(s.record, LogRecord{});
  s = Slot{};
  if (!had_line) {
    return std::nullopt;
  }
  return out;
}

}  // namespace swarmwatch
