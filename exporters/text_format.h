// Prometheus text exposition format (0.0.4) of metric families, written straight into one string.
// prometheus-cpp's TextSerializer goes through std::ostream and costs several times more per
// sample, which on a busy node is most of a scrape's CPU.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace swarmwatch {

// Appends the families to `out`.
void WriteTextExposition(const std::vector<prometheus::MetricFamily>& families, std::string& out);

}  // namespace swarmwatch
