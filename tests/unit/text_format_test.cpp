#include "exporters/text_format.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <map>
#include <sstream>

namespace swarmwatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Sample lines (not comments) as "series -> value", so outputs compare by meaning.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    const std::size_t space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

TEST(TextExposition, HelpEscapesBackslashAndNewlineButNotQuotes) {
  std::string out;
  AppendFamilyHeader("x", "say \"hi\"\\\nbye", MetricType::Gauge, out);
  EXPECT_EQ(out, "# HELP x say \"hi\"\\\\\\nbye\n# TYPE x gauge\n");
  out.clear();
  AppendLabelValue("\"\\\n", out);
  EXPECT_EQ(out, "\\\"\\\\\\n");
}

TEST(TextExposition, LabelValuesThatAreNotUtf8GetReplacementCharactersAsGoGivesThem) {
  // An interface renamed to these bytes (ip link set eth0 name "$(printf '\377"x\\')") made
  // Prometheus reject the whole scrape.
  std::string out;
  AppendLabelValue("\xFF\"x\\", out);
  EXPECT_EQ(out, "\xEF\xBF\xBD\\\"x\\\\");
  // Valid UTF-8 passes as it is, U+FFFD too.
  out.clear();
  AppendLabelValue("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD", out);
  EXPECT_EQ(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD");
  // One U+FFFD per byte, as Go's range and encoding/json (and so Docker) replace them: a lone
  // continuation byte, a truncated sequence, an overlong '/', a surrogate, above U+10FFFF, and a
  // sequence cut by the end of the value.
  out.clear();
  AppendLabelValue("a\x80z\xE2\x82 \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80 \xF0\x9F\x98", out);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(out, "a" + r + "z" + r + r + " " + r + r + " " + r + r + r + " " + r + r + r + r + " " +
                     r + r + r);
}

TEST(TextExposition, HelpThatIsNotUtf8IsRepairedToo) {
  std::string out;
  AppendFamilyHeader("x", "bad \xFF \"byte\"", MetricType::Gauge, out);
  EXPECT_EQ(out, "# HELP x bad \xEF\xBF\xBD \"byte\"\n# TYPE x gauge\n");
}

TEST(TextExposition, EveryLabelValueOfAFamilyIsRepaired) {
  MetricFamily family{"net_bytes_total", "Bytes", MetricType::Counter, {}};
  ClientMetric& metric = family.metric.emplace_back();
  metric.label = {{"interface", "\xFF\"x\\"}, {"name", "ok"}};
  metric.counter.value = 1;
  std::string out;
  WriteTextExposition({family}, out);
  EXPECT_NE(out.find("net_bytes_total{interface=\"\xEF\xBF\xBD\\\"x\\\\\",name=\"ok\"} 1\n"),
            std::string::npos)
      << out;
}

TEST(TextExposition, WritesCountersAndGaugesWithEscapedLabels) {
  MetricFamily counter{"requests_total", "Requests\nserved \\ so far", MetricType::Counter, {}};
  ClientMetric& c = counter.metric.emplace_back();
  c.label = {{"path", "/a\"b\\c\nd"}, {"code", "200"}};
  c.counter.value = 42;
  MetricFamily gauge{"temperature", "Degrees", MetricType::Gauge, {}};
  gauge.metric.emplace_back().gauge.value = 21.5;
  MetricFamily empty{"nothing", "No samples", MetricType::Gauge, {}};

  std::string out;
  WriteTextExposition({counter, empty, gauge}, out);
  EXPECT_EQ(out,
            "# HELP requests_total Requests\\nserved \\\\ so far\n"
            "# TYPE requests_total counter\n"
            "requests_total{path=\"/a\\\"b\\\\c\\nd\",code=\"200\"} 42\n"
            "# HELP temperature Degrees\n"
            "# TYPE temperature gauge\n"
            "temperature 21.5\n");
}

TEST(TextExposition, SpecialValues) {
  MetricFamily gauge{"g", "h", MetricType::Gauge, {}};
  gauge.metric.emplace_back().gauge.value = std::numeric_limits<double>::quiet_NaN();
  gauge.metric.emplace_back().gauge.value = std::numeric_limits<double>::infinity();
  gauge.metric.emplace_back().gauge.value = -std::numeric_limits<double>::infinity();
  gauge.metric.emplace_back().gauge.value = 18446744073709551615.0;
  std::string out;
  WriteTextExposition({gauge}, out);
  EXPECT_NE(out.find("g NaN\ng +Inf\ng -Inf\ng 1.8446744073709552e+19\n"), std::string::npos)
      << out;
}

TEST(TextExposition, ValuesArePrintedInTheirShortestForm) {
  // Whole numbers take a faster path than the rest: both must print what the shortest
  // round-trip form (fmt's "{}") prints, on both sides of the boundary where it turns to an
  // exponent.
  const double values[] = {0.0,
                           -0.0,
                           1.0,
                           -1.0,
                           42.0,
                           0.5,
                           1e-7,
                           1e6,
                           123456789012345.0,
                           999999999999999.0,
                           1e15,
                           1e16,
                           -1e15,
                           9007199254740993.0,
                           1.8446744073709552e19,
                           0.1 + 0.2,
                           2.5e-3,
                           -123.0,
                           1e300};
  for (const double value : values) {
    std::string out;
    AppendValue(value, out);
    EXPECT_EQ(out, fmt::format("{}", value)) << value;
  }
}

TEST(TextExposition, MeansTheSameAsPrometheusCppTextSerializer) {
  prometheus::Registry registry;
  auto& counters = prometheus::BuildCounter().Name("c_total").Help("c").Register(registry);
  counters.Add({{"a", "1"}}).Increment(3.25);
  counters.Add({{"a", "2"}, {"b", "x y"}}).Increment(1e12);
  prometheus::BuildGauge().Name("g").Help("g").Register(registry).Add({}).Set(-0.001);
  auto& histogram = prometheus::BuildHistogram()
                        .Name("h_seconds")
                        .Help("h")
                        .Register(registry)
                        .Add({{"k", "v"}}, prometheus::Histogram::BucketBoundaries{0.1, 1, 10});
  for (double v : {0.05, 0.5, 5.0, 50.0, 0.1})
    histogram.Observe(v);

  const auto families = registry.Collect();
  std::ostringstream reference;
  prometheus::TextSerializer().Serialize(reference, families);
  std::string ours;
  WriteTextExposition(families, ours);

  const auto expected = Samples(reference.str());
  const auto actual = Samples(ours);
  ASSERT_EQ(actual.size(), expected.size()) << ours;
  for (const auto& [series, value] : expected) {
    auto it = actual.find(series);
    ASSERT_NE(it, actual.end()) << "missing " << series << " in\n" << ours;
    EXPECT_DOUBLE_EQ(it->second, value) << series;
  }
  EXPECT_EQ(actual.at("h_seconds_bucket{k=\"v\",le=\"1\"}"), 3);
  EXPECT_EQ(actual.at("h_seconds_bucket{k=\"v\",le=\"+Inf\"}"), 5);
}

}  // namespace
}  // namespace swarmwatch
