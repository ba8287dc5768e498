// Counts heap allocations (every operator new) so a benchmark can show how many a line costs.
// Linking this replaces the global operator new and delete of the whole program.
#pragma once

#include <cstdint>

namespace swarmwatch::bench {

// Allocations since the program started.
std::uint64_t AllocationCount();

}  // namespace swarmwatch::bench
