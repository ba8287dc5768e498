// Feeds arbitrary bytes to `swarmwatch rightsize`'s parsers of what Prometheus answers and of the
// durations it is given: none may crash, hang or leak. Seeds: tests/testdata/prometheus/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/rightsize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  (void)swarmwatch::ParseQueryAnswer({200, std::string(input)}, &warnings);
  (void)swarmwatch::ParseQueryAnswer({400, std::string(input)}, nullptr);
  (void)swarmwatch::ParsePromDuration(input);
  return 0;
}
