// Rejoins the pieces Docker cuts long lines into. The json-file driver writes a line longer than
// 16 KiB as several entries: every piece but the last lacks the trailing '\n'. Pieces of stdout
// and stderr interleave in the file, but each stream's pieces stay in order, so one joiner per
// container log file keeps one pending line per stream.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "shippers/json_file_decoder.h"
#include "shippers/log_record.h"

namespace swarmwatch {

// Offsets: the joiner is told where each line it is fed starts in the file. A restart must resume
// at the start of every line that is still pending (buffered here), or its first pieces would be
// lost. So, after feeding a line that ends at file offset `end`, the offset a positions file may
// save, once every record returned so far has been delivered, is
//     joiner.PendingStart().value_or(end)
// This value never decreases from one line to the next. Lines the caller could not decode are
// simply not fed; the same rule then lets the offset move past them.
class PartialLineJoiner {
 public:
  // `max_line_bytes` (> 0) bounds a rejoined line and so the memory held per stream. Loki rejects
  // lines above its max_line_size (256KB by default) unless told to truncate them.
  explicit PartialLineJoiner(std::size_t max_line_bytes);

  // Feeds one decoded line that starts at byte `line_offset` of the file. Returns a record when a
  // line is complete: a non-partial line with nothing pending (copied as it is), or the final
  // piece of a pending line (the pieces concatenated, with the first piece's time).
  // A line that grows beyond max_line_bytes is returned as soon as it does, cut at the limit (at a
  // UTF-8 character boundary, so possibly a few bytes short of it) and marked truncated; the rest
  // of its pieces, up to and including the final one, are then discarded (and return nothing), but
  // the line stays pending until its final piece, so the offset rule above still holds.
  std::optional<LogRecord> Feed(const DecodedLine& piece, std::uint64_t line_offset);

  // Whether some stream has a line that started but did not end yet.
  bool Pending() const;
  bool Pending(LogStream stream) const { return slot(stream).active; }

  // The smallest file offset at which a pending line starts; nullopt when nothing is pending.
  std::optional<std::uint64_t> PendingStart() const;

  // Returns the pending line of `stream` as it is (truncated only if it was cut already, in which
  // case nothing is returned: that record was returned before) and forgets it. For when no more
  // pieces will come: Docker writes the last output of a container that exits in the middle of a
  // line as a piece without '\n' and no final piece, and a restarted container's next line must
  // not be glued to it. Call it when the container stops or its log file goes away.
  std::optional<LogRecord> Flush(LogStream stream);

  std::size_t max_line_bytes() const { return max_line_bytes_; }

 private:
  struct Slot {
    bool active = false;      // a line started and its final piece has not come yet
    bool discarding = false;  // that line was cut and returned already: drop its pieces
    std::uint64_t start_offset = 0;
    LogRecord record;  // the pieces so far; stream and time are the first piece's
  };

  Slot& slot(LogStream stream) { return slots_[static_cast<std::size_t>(stream)]; }
  const Slot& slot(LogStream stream) const { return slots_[static_cast<std::size_t>(stream)]; }

  std::size_t max_line_bytes_;
  std::array<Slot, 2> slots_;
};

// The largest n <= limit such that text[0, n) does not end in the middle of a UTF-8 sequence
// (it steps back at most 3 bytes, so invalid runs of continuation bytes still get cut at `limit`).
std::size_t Utf8CutPoint(std::string_view text, std::size_t limit);

}  // namespace swarmwatch
