// The positions file's parser on arbitrary text. Besides not crashing, it checks: a document with
// the file's structure loses only its bad entries (positions + skipped = entries), each skip is
// reported on one line of valid UTF-8, and what was kept encodes and decodes back to the same
// positions with nothing skipped.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/utf8.h"
#include "shippers/positions_file.h"

namespace {

void CheckAt(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}
#define Check(cond) CheckAt((cond), #cond)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using swarmwatch::PositionsFile;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> skipped;
  const auto decoded = PositionsFile::Decode(text, &skipped);
  if (!decoded.ok()) {
    Check(skipped.empty());
    return 0;
  }
  // Decode accepted it, so it is JSON with a "positions" object.
  const nlohmann::json document = nlohmann::json::parse(text);
  Check(decoded->size() + skipped.size() == document.at("positions").size());
  for (const std::string& message : skipped) {
    Check(message.find('\n') == std::string::npos);
    Check(swarmwatch::IsValidUtf8(message));
  }
  std::vector<std::string> again_skipped;
  const auto again = PositionsFile::Decode(PositionsFile::Encode(*decoded), &again_skipped);
  Check(again.ok());
  Check(again_skipped.empty());
  Check(*again == *decoded);
  return 0;
}
