// The agent's version, as reported by --version and swarmwatch_build_info.
#pragma once

#include <string_view>

namespace swarmwatch {

std::string_view Version();

}  // namespace swarmwatch
