#include "shippers/log_lag_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace swarmwatch {
namespace {

std::map<std::string, double> Series(const LogLagMetrics& lag) {
  std::map<std::string, double> out;
  const auto families = lag.Collect();
  EXPECT_EQ(families.size(), 1U);
  EXPECT_EQ(families.at(0).name, "swarmwatch_log_lag_bytes");
  for (const auto& metric : families.at(0).metric) {
    EXPECT_EQ(metric.label.size(), 1U);
    out[metric.label.at(0).value] = metric.gauge.value;
  }
  return out;
}

TEST(LogLagMetrics, OneSeriesPerCurrentNameAndNoneOnceForgotten) {
  LogLagMetrics lag;
  lag.Set("id1", "web", 10);
  lag.Set("id2", "db", 5);
  EXPECT_EQ(Series(lag), (std::map<std::string, double>{{"db", 5}, {"web", 10}}));
  lag.Rename("id1", "web-old");
  lag.Set("id3", "web", 7);  // the name reused by another container
  EXPECT_EQ(Series(lag), (std::map<std::string, double>{{"db", 5}, {"web", 7}, {"web-old", 10}}));
  lag.Forget("id1");
  EXPECT_EQ(Series(lag), (std::map<std::string, double>{{"db", 5}, {"web", 7}}));
  EXPECT_EQ(lag.ById(), (std::map<std::string, std::uint64_t>{{"id2", 5}, {"id3", 7}}));
}

TEST(LogLagMetrics, TwoContainersOfOneNameAtOnceMakeOneSeries) {
  // A rename not seen yet: two ids under one name; the exposition must not repeat a series.
  LogLagMetrics lag;
  lag.Set("a", "x", 1);
  lag.Set("b", "x", 2);
  EXPECT_EQ(Series(lag), (std::map<std::string, double>{{"x", 3}}));
  lag.Rename("missing", "y");  // nothing to rename
  EXPECT_EQ(Series(lag), (std::map<std::string, double>{{"x", 3}}));
}

}  // namespace
}  // namespace swarmwatch
