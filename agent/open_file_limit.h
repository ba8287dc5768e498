// The agent keeps each container's cgroup and procfs files open between scrapes (~13 per
// container, see exporters/kernel_file_reader.h) and uses half its descriptor limit for them: a
// shell's default soft limit of 1024 would leave files beyond ~40 containers to be opened and
// closed at every scrape, three times the cost. The soft limit is raised to the hard one at start,
// as the Go runtime does for Prometheus and its exporters.
#pragma once

#include <cstdint>

namespace swarmwatch {

struct OpenFileLimit {
  std::uint64_t before = 0;  // soft limit found
  std::uint64_t after = 0;   // soft limit now (the same when it could not be raised)
};

OpenFileLimit RaiseOpenFileLimit();

}  // namespace swarmwatch
