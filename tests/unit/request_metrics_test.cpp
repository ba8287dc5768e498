#include "exporters/request_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace swarmwatch {
namespace {

constexpr std::int64_t kNow = 1'800'000'000'000'000'000;

ContainerInfo Web(std::string id, std::string format, std::string service = "shop_web") {
  ContainerInfo c;
  c.id = std::move(id);
  c.name = service + ".1.abc";
  c.log_driver = "json-file";
  c.labels = {{"com.docker.swarm.service.name", service},
              {"com.docker.stack.namespace", "shop"},
              {"swarmwatch.access_log", std::move(format)}};
  return c;
}

std::string Apache(std::string_view request, int status, std::string_view size, long micros) {
  return "10.0.0.7 - - [26/Nov/2026:10:00:00 +0000] \"" + std::string(request) + "\" " +
         std::to_string(status) + " " + std::string(size) +
         " \"-\" \"Mozilla/5.0 \\\"quoted\\\"\" " + std::to_string(micros);
}

class RequestMetricsTest : public ::testing::Test {
 protected:
  std::shared_ptr<RequestMetrics> Make(RequestMetricsOptions options = {}) {
    options.node_name = [] { return std::string("node-1"); };
    options.not_before_ns = kNow - 1000;
    auto metrics = RequestMetrics::Create(std::move(options));
    EXPECT_TRUE(metrics.ok()) << metrics.error().message;
    return metrics.ok() ? *metrics : nullptr;
  }

  // The metric of `family` whose labels include every one of `labels`, or null.
  static const prometheus::ClientMetric* Find(const std::vector<prometheus::MetricFamily>& all,
                                              std::string_view family,
                                              const prometheus::Labels& labels) {
    for (const auto& f : all) {
      if (f.name != family)
        continue;
      for (const auto& m : f.metric) {
        const bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& want) {
          return std::any_of(m.label.begin(), m.label.end(), [&](const auto& have) {
            return have.name == want.first && have.value == want.second;
          });
        });
        if (match)
          return &m;
      }
    }
    return nullptr;
  }

  static double Requests(const std::vector<prometheus::MetricFamily>& all,
                         const prometheus::Labels& labels) {
    const auto* m = Find(all, "http_requests_total", labels);
    return m == nullptr ? -1 : m->counter.value;
  }

  // Cumulative count of the bucket with upper bound `le`.
  static std::uint64_t Bucket(const prometheus::ClientMetric& m, double le) {
    for (const auto& b : m.histogram.bucket) {
      if (b.upper_bound == le)
        return b.cumulative_count;
    }
    ADD_FAILURE() << "no bucket le=" << le;
    return 0;
  }
};

TEST_F(RequestMetricsTest, ContainersWithoutTheLabelOrWithAnUnknownFormatGetNoSink) {
  auto metrics = Make();
  ContainerInfo plain = Web("p", "");
  plain.labels.erase("swarmwatch.access_log");
  EXPECT_EQ(metrics->Attach(plain), nullptr);
  EXPECT_EQ(metrics->Attach(Web("u", "no-such-format")), nullptr);
  EXPECT_NE(metrics->Attach(Web("a", "apache")), nullptr);
  EXPECT_NE(metrics->Attach(Web("n", "nginx_combined")), nullptr);
}

TEST_F(RequestMetricsTest, CountsByMethodAndExactCodeWithServiceStackAndNode) {
  auto metrics = Make();
  auto sink = metrics->Attach(Web("a", "apache"));
  ASSERT_NE(sink, nullptr);
  sink->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "512", 1200));
  sink->Consume(LogStream::kStdout, kNow, Apache("GET /x HTTP/1.1", 200, "512", 1200));
  sink->Consume(LogStream::kStdout, kNow, Apache("POST /student HTTP/1.1", 302, "-", 5000));
  sink->Consume(LogStream::kStdout, kNow, Apache("BREW /pot HTTP/1.1", 418, "0", 10));
  sink->Consume(LogStream::kStdout, kNow, Apache("get / HTTP/1.1", 404, "10", 10));
  const auto all = metrics->metrics()->Collect();
  const prometheus::Labels base = {{"service", "shop_web"}, {"stack", "shop"}, {"node", "node-1"}};
  auto with = [&](std::string method, std::string code) {
    prometheus::Labels l = base;
    l.emplace("method", std::move(method));
    l.emplace("code", std::move(code));
    return l;
  };
  EXPECT_EQ(Requests(all, with("GET", "200")), 2);
  EXPECT_EQ(Requests(all, with("POST", "302")), 1);
  EXPECT_EQ(Requests(all, with("other", "418")), 1);
  EXPECT_EQ(Requests(all, with("other", "404")), 1);  // methods are case-sensitive
  const auto family = std::find_if(all.begin(), all.end(),
                                   [](const auto& f) { return f.name == "http_requests_total"; });
  ASSERT_NE(family, all.end());
  EXPECT_EQ(family->metric.size(), 4u);
  for (const auto& m : family->metric)
    EXPECT_EQ(m.label.size(), 5u);  // no route label unless routes are configured
}

TEST_F(RequestMetricsTest, DurationsAndSizesLandInTheirBuckets) {
  auto metrics = Make();
  auto sink = metrics->Attach(Web("a", "apache"));
  sink->Consume(LogStream::kStdout, kNow, Apache("GET /fast HTTP/1.1", 200, "900", 3000));
  sink->Consume(LogStream::kStdout, kNow, Apache("GET /slow HTTP/1.1", 200, "20000", 300000));
  sink->Consume(LogStream::kStdout, kNow, Apache("HEAD / HTTP/1.1", 200, "-", 12000000));
  const auto all = metrics->metrics()->Collect();
  const auto* duration = Find(all, "http_request_duration_seconds", {{"service", "shop_web"}});
  ASSERT_NE(duration, nullptr);
  EXPECT_EQ(duration->histogram.sample_count, 3u);
  EXPECT_DOUBLE_EQ(duration->histogram.sample_sum, 0.003 + 0.3 + 12);
  EXPECT_EQ(Bucket(*duration, 0.005), 1u);
  EXPECT_EQ(Bucket(*duration, 0.25), 1u);
  EXPECT_EQ(Bucket(*duration, 0.5), 2u);
  EXPECT_EQ(Bucket(*duration, 10), 2u);
  EXPECT_EQ(duration->histogram.bucket.back().cumulative_count, 3u);  // +Inf
  const auto* size = Find(all, "http_response_size_bytes", {{"service", "shop_web"}});
  ASSERT_NE(size, nullptr);
  EXPECT_EQ(size->histogram.sample_count, 3u);  // "-" is an empty body
  EXPECT_EQ(Bucket(*size, 100), 1u);
  EXPECT_EQ(Bucket(*size, 1000), 2u);
  EXPECT_EQ(Bucket(*size, 10000), 2u);
  EXPECT_EQ(Bucket(*size, 100000), 3u);
}

TEST_F(RequestMetricsTest, StderrHistoryAndMalformedLinesAreNotRequests) {
  auto metrics = Make();
  auto sink = metrics->Attach(Web("a", "apache"));
  sink->Consume(LogStream::kStderr, kNow, Apache("GET / HTTP/1.1", 200, "1", 1));
  sink->Consume(LogStream::kStdout, kNow - 5000, Apache("GET / HTTP/1.1", 200, "1", 1));
  sink->Consume(LogStream::kStdout, kNow, "AH00558: apache2: Could not reliably determine");
  sink->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "1", 1));
  const auto all = metrics->metrics()->Collect();
  EXPECT_EQ(Requests(all, {{"method", "GET"}, {"code", "200"}}), 1);
  const auto* unparsed =
      Find(all, "swarmwatch_access_log_unparsed_lines_total", {{"service", "shop_web"}});
  ASSERT_NE(unparsed, nullptr);
  EXPECT_EQ(unparsed->counter.value, 1);
}

TEST_F(RequestMetricsTest, ReplicasOfAServiceShareItsSeriesAndServicesStayApart) {
  auto metrics = Make();
  auto one = metrics->Attach(Web("a1", "apache"));
  auto two = metrics->Attach(Web("a2", "apache"));
  auto other = metrics->Attach(Web("b1", "apache", "shop_admin"));
  one->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "1", 1));
  two->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "1", 1));
  other->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "1", 1));
  const auto all = metrics->metrics()->Collect();
  EXPECT_EQ(Requests(all, {{"service", "shop_web"}, {"code", "200"}}), 2);
  EXPECT_EQ(Requests(all, {{"service", "shop_admin"}, {"code", "200"}}), 1);
}

TEST_F(RequestMetricsTest, AServicesSeriesGoWithItsLastContainer) {
  // Regression: 200 churned containers left 100 series of services long gone.
  auto metrics = Make();
  auto a = metrics->Attach(Web("a", "apache"));
  auto b = metrics->Attach(Web("b", "apache"));
  auto other = metrics->Attach(Web("c", "apache", "shop_api"));
  a->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "10", 100));
  b->Consume(LogStream::kStdout, kNow, Apache("POST /x HTTP/1.1", 500, "-", 100));
  b->Consume(LogStream::kStdout, kNow, "not an access log line");
  other->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "10", 100));
  const auto families = [&](std::string_view name, const prometheus::Labels& labels) {
    return Find(metrics->metrics()->Collect(), name, labels) != nullptr;
  };
  a.reset();  // one replica gone: the service's series stay
  EXPECT_EQ(Requests(metrics->metrics()->Collect(), {{"service", "shop_web"}, {"code", "200"}}), 1);
  EXPECT_TRUE(families("swarmwatch_access_log_unparsed_lines_total", {{"service", "shop_web"}}));
  b.reset();  // the last one: every series of the service goes
  for (std::string_view name :
       {"http_requests_total", "http_request_duration_seconds", "http_response_size_bytes",
        "swarmwatch_access_log_unparsed_lines_total"}) {
    EXPECT_FALSE(families(name, {{"service", "shop_web"}})) << name;
    EXPECT_TRUE(families(name, {{"service", "shop_api"}})) << name;
  }
  // A new task of the service counts from zero again.
  auto again = metrics->Attach(Web("d", "apache"));
  again->Consume(LogStream::kStdout, kNow, Apache("GET / HTTP/1.1", 200, "10", 100));
  EXPECT_EQ(Requests(metrics->metrics()->Collect(), {{"service", "shop_web"}, {"code", "200"}}), 1);
}

TEST_F(RequestMetricsTest, NginxRequestTimeIsTheDuration) {
  auto metrics = Make();
  auto sink = metrics->Attach(Web("n", "nginx", "shop_proxy"));
  sink->Consume(LogStream::kStdout, kNow,
                "::1 - - [26/Nov/2026:10:00:00 +0000] \"GET /student/7 HTTP/2.0\" 200 1543 \"-\" "
                "\"curl/8.4.0\" 0.742 0.740");
  const auto all = metrics->metrics()->Collect();
  EXPECT_EQ(Requests(all, {{"service", "shop_proxy"}, {"method", "GET"}, {"code", "200"}}), 1);
  const auto* duration = Find(all, "http_request_duration_seconds", {{"service", "shop_proxy"}});
  ASSERT_NE(duration, nullptr);
  EXPECT_DOUBLE_EQ(duration->histogram.sample_sum, 0.742);
  EXPECT_EQ(Bucket(*duration, 0.5), 0u);
  EXPECT_EQ(Bucket(*duration, 1), 1u);
}

TEST_F(RequestMetricsTest, AFormatWithoutDurationHasNoDurationHistogram) {
  auto metrics = Make();
  auto sink = metrics->Attach(Web("c", "apache_combined"));
  sink->Consume(LogStream::kStdout, kNow,
                "10.0.0.7 - - [26/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"");
  const auto all = metrics->metrics()->Collect();
  EXPECT_EQ(Requests(all, {{"code", "200"}}), 1);
  EXPECT_EQ(Find(all, "http_request_duration_seconds", {{"service", "shop_web"}}), nullptr);
  EXPECT_NE(Find(all, "http_response_size_bytes", {{"service", "shop_web"}}), nullptr);
}

TEST_F(RequestMetricsTest, RoutesLabelRequestsWhenConfigured) {
  RequestMetricsOptions options;
  options.routes = {"/student/{id}", "/static/*"};
  auto metrics = Make(options);
  auto sink = metrics->Attach(Web("a", "apache"));
  sink->Consume(LogStream::kStdout, kNow, Apache("GET /student/4 HTTP/1.1", 200, "1", 1));
  sink->Consume(LogStream::kStdout, kNow, Apache("GET /student/5?x=1 HTTP/1.1", 200, "1", 1));
  sink->Consume(LogStream::kStdout, kNow, Apache("GET /static/a/b.css HTTP/1.1", 200, "1", 1));
  sink->Consume(LogStream::kStdout, kNow, Apache("GET /elsewhere HTTP/1.1", 200, "1", 1));
  const auto all = metrics->metrics()->Collect();
  EXPECT_EQ(Requests(all, {{"route", "/student/{id}"}, {"code", "200"}}), 2);
  EXPECT_EQ(Requests(all, {{"route", "/static/*"}}), 1);
  EXPECT_EQ(Requests(all, {{"route", "other"}}), 1);
  const auto* duration = Find(all, "http_request_duration_seconds", {{"route", "/student/{id}"}});
  ASSERT_NE(duration, nullptr);
  EXPECT_EQ(duration->histogram.sample_count, 2u);
}

TEST_F(RequestMetricsTest, UserFormatsAreCompiledOnceAndNamedByTheLabel) {
  RequestMetricsOptions options;
  options.formats = {{"timed", AccessLogSyntax::kApache, R"(%h "%r" %>s %b %{ms}T)"}};
  auto metrics = Make(options);
  auto sink = metrics->Attach(Web("t", "timed"));
  ASSERT_NE(sink, nullptr);
  sink->Consume(LogStream::kStdout, kNow, "10.1.1.1 \"DELETE /student/3 HTTP/1.1\" 204 - 42");
  const auto all = metrics->metrics()->Collect();
  EXPECT_EQ(Requests(all, {{"method", "DELETE"}, {"code", "204"}}), 1);
  const auto* duration = Find(all, "http_request_duration_seconds", {{"service", "shop_web"}});
  ASSERT_NE(duration, nullptr);
  EXPECT_DOUBLE_EQ(duration->histogram.sample_sum, 0.042);
}

TEST_F(RequestMetricsTest, BadSettingsAreRejectedNamingWhatIsWrong) {
  auto error = [](RequestMetricsOptions options) {
    auto made = RequestMetrics::Create(std::move(options));
    return made.ok() ? std::string() : made.error().message;
  };
  RequestMetricsOptions taken;
  taken.formats = {{"nginx", AccessLogSyntax::kNginx, "$status"}};
  EXPECT_NE(error(taken).find("format nginx: the name is taken"), std::string::npos)
      << error(taken);
  RequestMetricsOptions no_status;
  no_status.formats = {{"short", AccessLogSyntax::kApache, "%h %r"}};
  EXPECT_NE(error(no_status).find("has no status field"), std::string::npos) << error(no_status);
  RequestMetricsOptions bad_format;
  bad_format.formats = {{"broken", AccessLogSyntax::kApache, "%h %{Referer"}};
  EXPECT_NE(error(bad_format).find("format broken:"), std::string::npos) << error(bad_format);
  RequestMetricsOptions bad_route;
  bad_route.routes = {"student/{id}"};
  EXPECT_NE(error(bad_route).find("route pattern \"student/{id}\""), std::string::npos)
      << error(bad_route);
  RequestMetricsOptions bad_buckets;
  bad_buckets.duration_buckets = {0.1, 0.05};
  EXPECT_NE(error(bad_buckets).find("duration buckets: buckets must increase"), std::string::npos)
      << error(bad_buckets);
}

TEST_F(RequestMetricsTest, ServiceAndStackFallBackToComposeThenTheContainerName) {
  ContainerInfo compose;
  compose.name = "app-web-1";
  compose.labels = {{"com.docker.compose.service", "web"}, {"com.docker.compose.project", "app"}};
  EXPECT_EQ(RequestMetrics::ServiceOf(compose), "web");
  EXPECT_EQ(RequestMetrics::StackOf(compose), "app");
  ContainerInfo bare;
  bare.name = "lonely";
  EXPECT_EQ(RequestMetrics::ServiceOf(bare), "lonely");
  EXPECT_EQ(RequestMetrics::StackOf(bare), "");
}

}  // namespace
}  // namespace swarmwatch
