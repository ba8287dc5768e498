// Decodes one line of Docker's json-file log driver
// (/var/lib/docker/containers/<id>/<id>-json.log):
//   {"log":"GET / HTTP/1.1\n","stream":"stdout","time":"2026-11-26T07:16:03.123456789Z"}
// This is the shipper's hot path: a single-pass scanner that copies nothing unless the text has
// JSON escapes, and then only into a caller-owned buffer that is reused from line to line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/result.h"
#include "shippers/log_record.h"

namespace swarmwatch {

// One json-file line, decoded. `log` points either into the line passed to DecodeJsonFileLine (no
// escapes in the text) or into the scratch buffer passed with it: it is valid until either changes.
struct DecodedLine {
  std::string_view log;  // the text without its trailing '\n' (a '\r' before it is kept)
  LogStream stream = LogStream::kStdout;
  std::int64_t time_ns = 0;  // Docker's receive time, nanoseconds since the epoch
  // The text did not end with '\n': Docker cut a line longer than 16 KiB into pieces, and this is
  // not the last one; or the container exited in the middle of a line (Docker then never writes
  // the rest, see PartialLineJoiner::Flush).
  bool partial = false;
};

// Decodes `line` (one complete line of the file, with or without its '\n') into `out`.
// Accepts what JSON allows: keys in any order, extra keys of any type ("attrs"), whitespace; the
// last of duplicate keys wins. "log", "stream" ("stdout" or "stderr") and "time" (RFC 3339) are
// required. String escapes are decoded fully: \" \\ \/ \b \f \n \r \t \uXXXX with surrogate pairs;
// an invalid escape or a lone surrogate becomes U+FFFD. Raw bytes are passed through as they are
// (Docker already replaced invalid UTF-8 with U+FFFD). On error `out` is unspecified and the
// message says what is wrong, without quoting the line.
Status DecodeJsonFileLine(std::string_view line, DecodedLine& out, std::string& scratch);

// What a line that does not decode becomes: it is not what Docker writes (a damaged file, bytes
// written by something else), and it is shipped as text rather than lost. Each run of bytes that
// are not UTF-8 becomes one U+FFFD (Go's strings.ToValidUTF8), not one per byte as in Docker's own
// lines, which would triple binary data; the text is cut into pieces of at most `max_bytes` (>= 4)
// between characters, so that none exceeds Loki's line limit. `pieces` gets views into `line`, or
// into `scratch` when something was replaced; an empty line is one empty piece.
void UndecodableLinePieces(std::string_view line, std::size_t max_bytes, std::string& scratch,
                           std::vector<std::string_view>& pieces);

// RFC 3339 date-time ("2026-11-26T07:16:03.123456789Z", "...03.5+01:00", "...03Z") to nanoseconds
// since the epoch, exactly (integer arithmetic). Fraction digits beyond the 9th are truncated.
// Fails on a malformed text or a time outside int64 nanoseconds (years 1677..2262).
Result<std::int64_t> ParseRfc3339Nanos(std::string_view text);

}  // namespace swarmwatch
