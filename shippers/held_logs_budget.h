// Bounds the disk taken by log files held open for the shipper after Docker rotated or deleted
// them (--held-logs-bytes): a deleted file's blocks are freed only when its last descriptor closes.
#pragma once

#include <cstdint>
#include <span>

#include "shippers/log_file_follower.h"

namespace swarmwatch {

struct HeldBudgetOutcome {
  std::uint64_t held_bytes = 0;      // unread bytes of held files, after any release
  std::uint64_t released_files = 0;  // given up by this call
  std::uint64_t released_bytes = 0;  // their unread bytes
  std::uint64_t released_lines = 0;  // their unread lines
};

// While the held files' unread bytes exceed `budget`, releases the oldest held file across all
// `followers` (by its last write, about when it was rotated away: the lines a user is least
// likely to still want, and the ones Loki is likeliest to refuse as too old). Within one follower
// the oldest is always the one being read, so what survives is read in order, with one gap.
HeldBudgetOutcome EnforceHeldBudget(std::span<LogFileFollower* const> followers,
                                    std::uint64_t budget);

}  // namespace swarmwatch
