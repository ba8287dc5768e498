// The positions file: for each container id, the FilePosition up to which its log was delivered,
// so that a restarted agent resumes exactly there. Written atomically; a damaged file is set aside.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/result.h"
#include "shippers/log_record.h"

namespace swarmwatch {

class PositionsFile {
 public:
  using Positions = std::map<std::string, FilePosition>;  // container id -> position

  // Reads `path`. A missing file is an empty map. A file that cannot be read or parsed (garbage,
  // truncated JSON, no "positions" object, unknown version) is renamed to
  // <path>.corrupt-<unix time> so it is kept for inspection, and an Error says why and where it
  // went: the caller logs it and starts with an empty map. An entry that cannot be taken (an
  // offset that is a string or above 2^64-1, a missing inode, ...) is left out and the others are
  // kept: one container's damaged position must not send every other container's log again, or
  // skip it. Each one left out adds a message naming it to `skipped`, for the caller to log.
  static Result<Positions> Load(const std::string& path,
                                std::vector<std::string>* skipped = nullptr);

  // Replaces `path` atomically: writes a temporary file in the same directory, fsyncs it, renames
  // it over `path` and fsyncs the directory. On failure the old file is left as it was.
  // Without `sync` the file and the directory are not fsynced: the rename is still atomic and
  // survives the agent's crash (the kernel holds the data), just not a power loss. The shipper
  // saves that way after every accepted batch, so a kill -9 re-sends at most the batches in
  // flight, and syncs once a second.
  static Status Save(const std::string& path, const Positions& positions, bool sync = true);

  // The format, kept separate for tests and fuzzing:
  //   {"version":1,"positions":{"<id>":{"inode":123,"offset":4567,"head_hash":8,"head_bytes":90},...}}
  // head_hash and head_bytes (FilePosition's head) come together or not at all: files written
  // before heads were kept have none, and their positions are taken without the check.
  static constexpr int kVersion = 1;
  static std::string Encode(const Positions& positions);
  static Result<Positions> Decode(const std::string& text,
                                  std::vector<std::string>* skipped = nullptr);
};

}  // namespace swarmwatch
