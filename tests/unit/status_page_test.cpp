#include "agent/daemon/status_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/daemon/status_history.h"
#include "agent/daemon/status_sampler.h"

namespace swarmwatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(StatusHistory, KeepsSpacedPointsUpToCapacityAndComputesCores) {
  StatusHistory history(/*capacity=*/3, /*spacing=*/10);
  history.RecordContainer("a", 100, 1.0, 1000, std::nullopt);
  history.RecordContainer("a", 105, 9.0, 9999, std::nullopt);  // too soon: dropped
  history.RecordContainer("a", 110, 3.0, 2000, 4096.0);
  history.RecordContainer("a", 120, 3.5, 3000, 4096.0);
  history.RecordContainer("a", 130, 0.5, 4000, 4096.0);  // restarted: counter from zero
  auto series = history.Container("a");
  ASSERT_TRUE(series);
  ASSERT_EQ(series->points.size(), 3u);
  EXPECT_EQ(series->points.front().time, 110);
  EXPECT_EQ(series->points.back().memory_bytes, 4000);
  EXPECT_EQ(series->memory_limit_bytes, 4096.0);
  EXPECT_EQ(series->CpuCores(), (std::vector<double>{0.05, 0}));
  EXPECT_EQ(history.last_container_time(), 130);
  history.Retain({"b"});
  EXPECT_FALSE(history.Container("a"));
}

TEST(StatusHistory, RequestRatesOverTheLastInterval) {
  StatusHistory history(30, 10);
  history.RecordRequests("web", 100, 50);
  EXPECT_TRUE(history.RequestRates().empty());  // one point is no rate
  history.RecordRequests("web", 110, 80);
  history.RecordRequests("proxy", 100, 10);
  history.RecordRequests("proxy", 120, 10);
  EXPECT_EQ(history.RequestRates(), (std::map<std::string, double>{{"proxy", 0}, {"web", 3}}));
}

TEST(StatusSampler, APageViewReadsContainersOnlyWhenScrapesHaveNot) {
  auto history = std::make_shared<StatusHistory>(30, 9);
  double now = 1000;
  int reads = 0;
  double requests = 0;
  StatusSamplerSources sources;
  sources.read_containers = [&] {
    ++reads;
    history->RecordContainer("c1", now, 1, 1, std::nullopt);
  };
  sources.request_totals = [&] { return std::map<std::string, double>{{"web", requests}}; };
  sources.container_ids = [] { return std::vector<std::string>{"c1"}; };
  sources.now = [&] { return now; };
  StatusSampler sampler(history, sources, std::chrono::seconds(10));
  sampler.BeforePageView();  // nothing recorded yet: read
  EXPECT_EQ(reads, 1);
  now = 1010;
  history->RecordContainer("c1", now, 2, 2, std::nullopt);  // a scrape read them
  requests = 50;
  sampler.AfterScrape();
  sampler.BeforePageView();
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(history->RequestRates().at("web"), 5);
  now = 1025;
  sampler.BeforePageView();  // no scrape for 15 s
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(history->Container("c1")->points.size(), 3u);
  now = 25;  // the clock set back, no scrape since
  sampler.BeforePageView();
  EXPECT_EQ(reads, 3);
}

TEST(StatusHistory, AClockSetBackStartsTheSeriesAgain) {
  StatusHistory history(30, 9);
  history.RecordContainer("c1", 1764140000, 1, 1, std::nullopt);
  history.RecordContainer("c1", 1764140010, 2, 1, std::nullopt);
  history.RecordRequests("web", 1764140000, 10);
  history.RecordRequests("web", 1764140010, 20);
  // Set back an hour: recorded from there on, not only once the clock is past 1764140010 again.
  history.RecordContainer("c1", 1764136410, 3, 1, std::nullopt);
  history.RecordContainer("c1", 1764136420, 5, 1, std::nullopt);
  EXPECT_EQ(history.Container("c1")->CpuCores(), std::vector<double>{0.2});
  EXPECT_EQ(history.last_container_time(), 1764136420);
  history.RecordRequests("web", 1764136410, 30);
  history.RecordRequests("web", 1764136420, 50);
  EXPECT_EQ(history.RequestRates().at("web"), 2);
}

TEST(Sparkline, ScalesToTheHighestValueAndNeedsTwoPoints) {
  EXPECT_EQ(Sparkline(std::vector<double>{1.0}), "");
  const std::string svg = Sparkline(std::vector<double>{0, 2, 1}, 100, 21);
  EXPECT_THAT(svg, HasSubstr(R"(points="0.0,20.0 50.0,1.0 100.0,10.5")"));
  EXPECT_THAT(svg, HasSubstr("<svg"));
}

ContainerInfo Task(std::string id, std::string name, std::string service, bool running) {
  ContainerInfo c;
  c.id = std::move(id);
  c.name = std::move(name);
  c.image = "shop/web:1.2";
  c.running = running;
  if (!service.empty())
    c.labels = {{"com.docker.swarm.service.name", std::move(service)}};
  return c;
}

TEST(StatusPage, ShowsEveryContainerWithItsServiceFiguresLagAndWebRates) {
  auto containers = std::make_shared<ContainerMap>();
  (*containers)["id1"] = Task("id1", "shop_web.1.abcdef0123", "shop_web", true);
  (*containers)["id2"] = Task("id2", "<script>x</script>", "", false);
  StatusHistory history(30, 1);
  history.RecordContainer("id1", 100, 10, 50 << 20, 256.0 * (1 << 20));
  history.RecordContainer("id1", 110, 15, 60 << 20, 256.0 * (1 << 20));
  history.RecordContainer("id1", 120, 17, 70 << 20, 256.0 * (1 << 20));
  StatusPageData data;
  data.node = "worker-1";
  data.version = "0.1.0";
  EngineInfo engine;
  engine.server_version = "20.10.24";
  engine.swarm_node_id = "n1";
  data.engine = engine;
  data.ready = true;
  data.containers = containers;
  data.history = &history;
  data.loki_url = "http://loki:3100/loki/api/v1/push";
  data.loki_error = "HTTP 503: <overloaded>";
  data.log_lag = {{"id1", 3 << 20}};
  data.held_log_bytes = 5 << 20;
  data.request_totals = {{"shop_web", 1234}};
  data.request_rates = {{"shop_web", 4.5}};
  const HttpResponse page = RenderStatusPage(data);
  EXPECT_EQ(page.status, 200);
  const std::string& html = page.body;
  EXPECT_THAT(html, HasSubstr(R"(<meta http-equiv="refresh" content="10">)"));
  EXPECT_THAT(html, HasSubstr(R"(<meta name="viewport")"));
  EXPECT_THAT(html, Not(HasSubstr("src=")));  // no external asset
  EXPECT_THAT(html, Not(HasSubstr("href=\"http")));
  EXPECT_THAT(html, HasSubstr("worker-1"));
  EXPECT_THAT(html, HasSubstr("Docker 20.10.24, Swarm worker"));
  EXPECT_THAT(html, HasSubstr(R"(data-id="id1" data-name="shop_web.1.abcdef0123")"
                              R"( data-state="running" data-cpu="0.2000" data-memory="73400320")"
                              R"( data-lag="3145728">)"));
  EXPECT_THAT(html, HasSubstr(">shop_web.1<small>service shop_web</small>"));
  EXPECT_THAT(html, HasSubstr("0.200"));  // 2 s of CPU over the last 10 s
  EXPECT_THAT(html, HasSubstr("70.0 MiB<small>of 256.0 MiB</small>"));
  EXPECT_THAT(html, HasSubstr("3.0 MiB"));  // log lag
  EXPECT_THAT(
      html,
      HasSubstr(R"(Held rotated logs: <span id="held-logs" data-bytes="5242880">5.0 MiB</span>)"));
  EXPECT_THAT(html, HasSubstr("<polyline"));
  EXPECT_THAT(html, HasSubstr("last error: HTTP 503: &lt;overloaded&gt;"));
  EXPECT_THAT(html, HasSubstr(R"(data-state="stopped")"));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;x&lt;/script&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(
      html,
      HasSubstr(
          R"(<tr data-service="shop_web" data-rate="4.500"><td>shop_web</td><td class="n">4.50</td><td class="n">1234</td>)"));
}

TEST(StatusPage, SaysWhenThePositionsFileCannotBeSaved) {
  StatusPageData data;
  data.containers = std::make_shared<ContainerMap>();
  data.loki_url = "http://loki:3100/loki/api/v1/push";
  EXPECT_THAT(RenderStatusPage(data).body, Not(HasSubstr("positions-error")));
  data.positions_error = "create a temporary file beside /ro/positions.json: <Read-only>";
  EXPECT_THAT(RenderStatusPage(data).body,
              HasSubstr(R"(<span class="bad" id="positions-error">not saved: create a temporary )"
                        R"(file beside /ro/positions.json: &lt;Read-only&gt;</span>)"));
}

TEST(StatusPage, SaysWhatIsMissingWithoutEngineLokiOrWebServices) {
  StatusPageData data;
  data.containers = std::make_shared<ContainerMap>();
  const std::string html = RenderStatusPage(data).body;
  EXPECT_THAT(html, HasSubstr("Docker engine not connected"));
  EXPECT_THAT(html, HasSubstr("not synced"));
  EXPECT_THAT(html, HasSubstr("not configured (logs are not shipped)"));
  EXPECT_THAT(html, HasSubstr("No container is labelled swarmwatch.access_log."));
}

// Issue 15, defect 6: the page has no authentication; Loki's URL may hold user:password@.
TEST(StatusPage, ShowsLokisUrlWithoutItsUserinfo) {
  StatusPageData data;
  data.containers = std::make_shared<ContainerMap>();
  data.loki_url = "http://user:s3cret@loki:3100/loki/api/v1/push";
  std::string html = RenderStatusPage(data).body;
  EXPECT_THAT(html, HasSubstr("pushing</span> to http://***@loki:3100/loki/api/v1/push"));
  EXPECT_THAT(html, Not(HasSubstr("s3cret")));
  EXPECT_THAT(html, Not(HasSubstr("user:")));

  data.loki_error = "transport: cannot reach http://user:s3cret@loki:3100/loki/api/v1/push";
  html = RenderStatusPage(data).body;
  EXPECT_THAT(html, HasSubstr("last error: transport: cannot reach http://***@loki:3100/"));
  EXPECT_THAT(html, Not(HasSubstr("s3cret")));
}

}  // namespace
}  // namespace swarmwatch
