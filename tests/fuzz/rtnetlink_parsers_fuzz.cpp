// Feeds one input to the rtnetlink answer decoders as a datagram: none may crash, hang or read out
// of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "exporters/rtnetlink_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace swarmwatch;  // NOLINT(google-build-using-namespace)
  const std::string_view datagram(reinterpret_cast<const char*>(data), size);
  std::vector<LinkName> links;
  (void)ParseLinkDump(datagram, links);
  (void)ParseLinkStats(datagram, "eth0");
  return 0;
}
