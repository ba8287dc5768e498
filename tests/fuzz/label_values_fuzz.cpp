// Label values as the exposition and Loki's label sets write them, from arbitrary bytes (an
// interface name, a cgroup path, a Docker label). Besides not crashing, it checks what Prometheus
// and Loki need: the exposition's value is valid UTF-8 with no raw '"' or newline, and reads back
// as the input when the input was valid UTF-8 (each invalid byte as one U+FFFD otherwise); Loki's
// label set is valid UTF-8 without U+FFFD (which Loki refuses) and parses back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/utf8.h"
#include "exporters/text_format.h"
#include "shippers/loki_push_encoder.h"

namespace {

void CheckAt(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}
#define Check(cond) CheckAt((cond), #cond)

// The label value as Prometheus' text parser reads it (\\, \" and \n; the rest as it is).
std::string Unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    Check(i + 1 < text.size());
    const char e = text[++i];
    Check(e == '\\' || e == '"' || e == 'n');
    out.push_back(e == 'n' ? '\n' : e);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string value;
  swarmwatch::AppendLabelValue(input, value);
  Check(swarmwatch::IsValidUtf8(value));
  for (std::size_t i = 0; i < value.size(); ++i) {
    Check(value[i] != '\n');
    if (value[i] == '"')
      Check(i > 0 && value[i - 1] == '\\');
  }
  Check(Unescape(value) == swarmwatch::Utf8Repaired(input));

  std::string help;
  swarmwatch::AppendFamilyHeader("x", input, prometheus::MetricType::Gauge, help);
  Check(swarmwatch::IsValidUtf8(help));

  const std::vector<swarmwatch::LokiLabel> labels = {{"job", "fuzz"}, {input, input}};
  const std::string rendered = swarmwatch::RenderLabelSet(labels);
  Check(swarmwatch::IsValidUtf8(rendered));
  Check(rendered.find(swarmwatch::kUtf8Replacement) == std::string::npos);
  std::vector<std::pair<std::string, std::string>> parsed;
  Check(swarmwatch::ParseLabelSet(rendered, &parsed));
  for (const auto& [name, parsed_value] : parsed) {
    Check(swarmwatch::IsValidLabelName(name));
    Check(swarmwatch::IsValidUtf8(parsed_value));
    Check(parsed_value.find(swarmwatch::kUtf8Replacement) == std::string::npos);
  }
  return 0;
}
