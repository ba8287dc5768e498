#include "shippers/held_logs_budget.h"

#include <vector>

namespace swarmwatch {

HeldBudgetOutcome EnforceHeldBudget(std::span<LogFileFollower* const> followers,
                                    std::uint64_t budget) {
  HeldBudgetOutcome outcome;
  struct Holder {
    LogFileFollower* follower;
    std::vector<HeldLog> held;  // oldest first
  };
  std::vector<Holder> holders;
  std::size_t files = 0;
  for (LogFileFollower* follower : followers) {
    std::vector<HeldLog> held = follower->Held();
    if (held.empty())
      continue;
    for (const HeldLog& file : held)
      outcome.held_bytes += file.unread_bytes;
    files += held.size();
    holders.push_back(Holder{follower, std::move(held)});
  }
  // Each release closes one file; the bound guards against a follower that could not let go.
  for (std::size_t round = 0; outcome.held_bytes > budget && round < files; ++round) {
    Holder* oldest = nullptr;
    for (Holder& holder : holders) {
      if (!holder.held.empty() &&
          (oldest == nullptr || holder.held.front().mtime_ns < oldest->held.front().mtime_ns))
        oldest = &holder;
    }
    if (oldest == nullptr)
      break;
    const FollowerStats before = oldest->follower->stats();
    oldest->follower->ReleaseOldestHeld();
    const FollowerStats& after = oldest->follower->stats();
    outcome.released_files += after.released_files - before.released_files;
    outcome.released_bytes += after.released_bytes - before.released_bytes;
    outcome.released_lines += after.released_lines - before.released_lines;
    for (const HeldLog& file : oldest->held)
      outcome.held_bytes -= file.unread_bytes;
    oldest->held = oldest->follower->Held();
    for (const HeldLog& file : oldest->held)
      outcome.held_bytes += file.unread_bytes;
  }
  return outcome;
}

}  // namespace swarmwatch
