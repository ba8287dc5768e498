#include "agent/daemon/metrics_endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/container_catalog.h"
#include "tests/fake_docker_api.h"

namespace swarmwatch {
namespace {

using ::testing::HasSubstr;

class OneGauge : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "answer";
    family.help = "The answer";
    family.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric metric;
    metric.gauge.value = 42;
    family.metric.push_back(metric);
    return {family};
  }
};

TEST(MetricsEndpoint, ServesEverySourceAndReusesTheBufferItIsGivenBack) {
  auto catalog = std::make_shared<ContainerCatalog>(std::make_shared<testing::FakeDockerApi>());
  SelfMetrics self(catalog);
  MetricsEndpoint endpoint({std::make_shared<OneGauge>()}, self);
  HttpResponse first = endpoint.Serve();
  EXPECT_EQ(first.status, 200);
  EXPECT_TRUE(first.compressible);
  EXPECT_THAT(first.body, HasSubstr("answer 42\n"));
  ASSERT_TRUE(first.recycle);
  first.recycle(std::move(first.body));
  // The first reuse may grow the buffer to the answer's size plus room; from then on it stays.
  HttpResponse warm = endpoint.Serve();
  const char* memory = warm.body.data();
  warm.recycle(std::move(warm.body));
  HttpResponse second = endpoint.Serve();
  EXPECT_EQ(second.body.data(), memory);  // the same allocation, not fresh pages
  EXPECT_THAT(second.body, HasSubstr("answer 42\n"));
  EXPECT_EQ(second.body.find("answer 42"), second.body.rfind("answer 42"));  // emptied first
}

}  // namespace
}  // namespace swarmwatch
