// The shared vocabulary of log shipping: where a line sits in a container's log files, and one
// decoded line of Docker's json-file format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/log_line_consumer.h"

namespace swarmwatch {

// A byte position in one log file, identified by inode so that it survives Docker's rotation
// (which renames <id>-json.log to <id>-json.log.1 and starts a new file).
struct FilePosition {
  std::uint64_t inode = 0;
  std::uint64_t offset = 0;
  // File systems give a deleted file's inode number to the next new file: what tells the file
  // apart from a later one under its number is its head, the first line (up to kMaxHeadBytes), of
  // which these are the FNV-1a hash and the length. head_bytes 0: not known, not checked.
  std::uint64_t head_hash = 0;
  std::uint32_t head_bytes = 0;
  static constexpr std::uint32_t kMaxHeadBytes = 4096;
  bool operator==(const FilePosition&) const = default;
};

// The FNV-1a hash of a file's head (FilePosition::head_hash): fixed here rather than std::hash,
// which may change with the standard library and would then take every saved file for another.
inline std::uint64_t HeadHash(std::string_view head) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char ch : head) {
    hash ^= static_cast<unsigned char>(ch);
    hash *= 1099511628211ull;
  }
  return hash;
}

// One complete log line as the application wrote it (Docker's partial pieces rejoined).
struct LogRecord {
  std::int64_t time_ns = 0;  // Docker's receive time, nanoseconds since the epoch
  LogStream stream = LogStream::kStdout;
  std::string line;        // without the trailing newline
  bool truncated = false;  // cut at the configured maximum line size
};

}  // namespace swarmwatch
