#include "agent/open_file_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace swarmwatch {

OpenFileLimit RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return {};
  OpenFileLimit result{limit.rlim_cur, limit.rlim_cur};
  // The kernel refuses more than fs.nr_open (2^20 by default), an unlimited hard limit included.
  constexpr rlim_t kMost = rlim_t{1} << 20;
  const rlim_t wanted = std::min(limit.rlim_max, kMost);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted)
    return result;
  limit.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0)
    result.after = wanted;
  return result;
}

}  // namespace swarmwatch
