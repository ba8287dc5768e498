// The seam between the log reader (shippers/) and whoever else wants containers' log lines
// (exporters/ derive request metrics from access logs): each line is read once, by the shipper's
// reader, and handed to every consumer that asked for its container.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "agent/container_info.h"

namespace swarmwatch {

enum class LogStream : std::uint8_t { kStdout, kStderr };

inline std::string_view StreamName(LogStream stream) {
  return stream == LogStream::kStdout ? "stdout" : "stderr";
}

// Receives the complete lines (Docker's partial pieces rejoined) of one container, in file order,
// on the log reader's thread: it must not block.
class LogLineSink {
 public:
  virtual ~LogLineSink() = default;
  // `time_ns`: Docker's receive time. `line`: without its newline, valid only during the call.
  virtual void Consume(LogStream stream, std::int64_t time_ns, std::string_view line) = 0;
};

class LogLineConsumer {
 public:
  virtual ~LogLineConsumer() = default;
  // Asked when the reader first sees a container (and again at each catalog change until it
  // answers): a sink for its lines, or null when this consumer does not want them. The sink lives
  // as long as the reader follows the container.
  virtual std::unique_ptr<LogLineSink> Attach(const ContainerInfo& container) = 0;
};

}  // namespace swarmwatch
