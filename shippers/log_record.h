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
  bool operator==(const FilePosition&) const = default;
};

// One complete log line as the application wrote it (Docker's partial pieces rejoined).
struct LogRecord {
  std::int64_t time_ns = 0;  // Docker's receive time, nanoseconds since the epoch
  LogStream stream = LogStream::kStdout;
  std::string line;        // without the trailing newline
  bool truncated = false;  // cut at the configured maximum line size
};

}  // namespace swarmwatch
