// Prometheus text exposition format (0.0.4), written straight into strings. prometheus-cpp's
// TextSerializer goes through std::ostream and costs several times more per sample, which on a
// busy node is most of a scrape's CPU.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

namespace swarmwatch {

// A source that writes its own exposition text, faster than building MetricFamily objects.
class TextExposable {
 public:
  virtual ~TextExposable() = default;
  virtual void WriteText(std::string& out) const = 0;
};

// Appends the families to `out`.
void WriteTextExposition(const std::vector<prometheus::MetricFamily>& families, std::string& out);

// "# HELP name help\n# TYPE name type\n", the help escaped as AppendLabelValue does but for '"'.
void AppendFamilyHeader(std::string_view name, std::string_view help, prometheus::MetricType type,
                        std::string& out);
// A sample value: shortest round-trip decimal, NaN, +Inf, -Inf.
void AppendValue(double value, std::string& out);
// A label value between its quotes: \, " and newline escaped, and each byte that is not UTF-8
// replaced by U+FFFD as Go (and so Docker) replaces it: Prometheus refuses the whole scrape for
// one invalid label value, and its sources (/proc, cgroup paths, Docker) may hold any bytes.
void AppendLabelValue(std::string_view value, std::string& out);

}  // namespace swarmwatch
