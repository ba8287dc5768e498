#include "agent/build_info.h"

namespace swarmwatch {

std::string_view Version() {
  return SWARMWATCH_VERSION;
}

}  // namespace swarmwatch
