#include "agent/rightsize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/daemon/http_server.h"

namespace swarmwatch {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Labels = std::map<std::string, std::string>;

constexpr double kMiB = 1024.0 * 1024.0;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(SWARMWATCH_TESTDATA) + "/prometheus/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// An instant-vector answer as Prometheus writes it.
ApiAnswer Vector(const std::vector<std::pair<Labels, double>>& samples) {
  nlohmann::json result = nlohmann::json::array();
  for (const auto& [labels, value] : samples) {
    std::string text = std::isnan(value) ? "NaN" : nlohmann::json(value).dump();
    result.push_back({{"metric", labels}, {"value", {1765012345.678, text}}});
  }
  const nlohmann::json doc = {{"status", "success"},
                              {"data", {{"resultType", "vector"}, {"result", result}}}};
  return {200, doc.dump()};
}

Labels Service(const std::string& service, const std::string& stack = "app") {
  return {{"service", service}, {"stack", stack}};
}

Labels Spec(const std::string& name, const std::string& service, const std::string& stack = "app") {
  return {{"__name__", name}, {"service", service}, {"stack", stack}};
}

TEST(PromDuration, PrometheusUnitsLargestFirst) {
  EXPECT_DOUBLE_EQ(*ParsePromDuration("7d"), 7 * 86400);
  EXPECT_DOUBLE_EQ(*ParsePromDuration("2m"), 120);
  EXPECT_DOUBLE_EQ(*ParsePromDuration("1h30m"), 5400);
  EXPECT_DOUBLE_EQ(*ParsePromDuration("1w2d"), 9 * 86400);
  EXPECT_DOUBLE_EQ(*ParsePromDuration("1y"), 365 * 86400);
  EXPECT_DOUBLE_EQ(*ParsePromDuration("1500ms"), 1.5);
  for (const char* bad : {"", "7", "d", "7 d", "-5m", "1m1h", "1d1d", "5x", "0s", "1.5h", "5M"})
    EXPECT_FALSE(ParsePromDuration(bad).ok()) << bad;
  EXPECT_THAT(ParsePromDuration("1m1h").error().message, HasSubstr("largest first"));
}

TEST(SubqueryStep, AtMostElevenThousandPointsOnRoundSteps) {
  EXPECT_EQ(SubqueryStep(120), "1s");
  EXPECT_EQ(SubqueryStep(3600), "1s");
  EXPECT_EQ(SubqueryStep(86400), "10s");
  EXPECT_EQ(SubqueryStep(7 * 86400), "1m");
  EXPECT_EQ(SubqueryStep(30 * 86400), "5m");
  EXPECT_EQ(SubqueryStep(365 * 86400), "1h");
  EXPECT_EQ(SubqueryStep(5 * 365 * 86400), "4h");
}

TEST(RightsizeOptions, BadFlagsAreNamed) {
  EXPECT_TRUE(ValidateRightsizeOptions({.prometheus_url = "http://prometheus:9090"}).ok());
  EXPECT_TRUE(ValidateRightsizeOptions({.prometheus_url = "https://u:p@h/prometheus/"}).ok());
  EXPECT_THAT(ValidateRightsizeOptions({}).message(), HasSubstr("--prometheus: required"));
  EXPECT_THAT(ValidateRightsizeOptions({.prometheus_url = "prometheus:9090"}).message(),
              HasSubstr("not an http:// or https:// URL"));
  const Status bad_url = ValidateRightsizeOptions({.prometheus_url = "ftp://user:secret@host/"});
  EXPECT_THAT(bad_url.message(), AllOf(HasSubstr("ftp://***@host/"), Not(HasSubstr("secret"))));
  EXPECT_THAT(ValidateRightsizeOptions({.prometheus_url = "http://h:9090/?x=1"}).message(),
              HasSubstr("no query"));
  const Status both =
      ValidateRightsizeOptions({.prometheus_url = "http://h", .window = "7days", .rate = "5"});
  EXPECT_THAT(both.message(), AllOf(HasSubstr("--window: \"7days\""), HasSubstr("--rate: \"5\"")));
}

TEST(RightsizeQueries, RawPromQlOverTheWindowJoinedOnServiceAndStack) {
  const RightsizeQueries q = BuildQueries({.prometheus_url = "http://p", .window = "7d"});
  EXPECT_EQ(q.cpu_p95,
            "quantile_over_time(0.95, (max by (service, stack) (label_replace(label_replace("
            "rate(container_cpu_usage_seconds_total{container_label_com_docker_swarm_service_name!="
            "\"\"}[5m]), \"service\", \"$1\", \"container_label_com_docker_swarm_service_name\", "
            "\"(.+)\"), \"stack\", \"$1\", \"container_label_com_docker_stack_namespace\", "
            "\"(.+)\")))[7d:1m])");
  EXPECT_THAT(q.cpu_max, HasSubstr("max_over_time((max by (service, stack) ("));
  EXPECT_THAT(q.memory_p95,
              AllOf(HasSubstr("container_memory_working_set_bytes{"), HasSubstr("[7d:1m])")));
  EXPECT_THAT(q.memory_max,
              HasSubstr("max_over_time(container_memory_working_set_bytes{container_label_com_"
                        "docker_swarm_service_name!=\"\"}[7d])"));
  EXPECT_THAT(q.throttled,
              AllOf(HasSubstr("increase(container_cpu_cfs_throttled_periods_total{"),
                    HasSubstr("\"(.+)\")) / (sum by (service, stack)"), HasSubstr(" > 0)")));
  EXPECT_THAT(q.oom_kills, HasSubstr("max_over_time(container_oom_events_total{"));
  EXPECT_THAT(q.oom_kills, HasSubstr("increase(swarm_task_oom_events_total{"));
  EXPECT_THAT(q.sizing, HasSubstr("swarm_service_(reservation|limit)_(cpu_cores|memory_bytes)"));
  EXPECT_THAT(q.sizing, Not(HasSubstr("stack=")));

  const RightsizeQueries one =
      BuildQueries({.prometheus_url = "http://p", .window = "2m", .rate = "20s", .stack = "a\"b"});
  EXPECT_THAT(one.cpu_p95, AllOf(HasSubstr("container_label_com_docker_stack_namespace=\"a\\\"b\""),
                                 HasSubstr("[20s]"), HasSubstr("[2m:1s]")));
  EXPECT_THAT(one.sizing, HasSubstr(",stack=\"a\\\"b\"}"));
  // Whether anything is scraped at all: not narrowed to the stack.
  EXPECT_THAT(one.any_usage, Not(HasSubstr("stack")));
}

TEST(ParseQueryAnswer, TheApiDocsVector) {
  auto samples = ParseQueryAnswer({200, Testdata("docs_vector.json")});
  ASSERT_TRUE(samples.ok()) << samples.error().message;
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].labels,
            (Labels{{"__name__", "up"}, {"job", "prometheus"}, {"instance", "localhost:9090"}}));
  EXPECT_EQ((*samples)[0].value, 1);
  EXPECT_EQ((*samples)[1].value, 0);
}

// Captured from Debian's Prometheus 2.42 (tests/testdata/README.md), with the HTTP status it gave.
TEST(ParseQueryAnswer, RealAnswers) {
  auto vector = ParseQueryAnswer({200, Testdata("real_vector.json")});
  ASSERT_TRUE(vector.ok()) << vector.error().message;
  ASSERT_EQ(vector->size(), 1u);
  EXPECT_EQ((*vector)[0].labels, (Labels{{"__name__", "up"},
                                         {"instance", "127.0.0.1:19391"},
                                         {"job", "prometheus"},
                                         {"service", "prometheus"}}));
  EXPECT_EQ((*vector)[0].value, 1);

  auto empty = ParseQueryAnswer({200, Testdata("real_empty.json")});
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_THAT(*empty, IsEmpty());

  auto odd = ParseQueryAnswer({200, Testdata("real_nan_inf.json")});
  ASSERT_TRUE(odd.ok()) << odd.error().message;
  ASSERT_EQ(odd->size(), 4u);
  EXPECT_TRUE(std::isnan((*odd)[0].value));
  EXPECT_EQ((*odd)[1].value, HUGE_VAL);
  EXPECT_EQ((*odd)[2].value, -HUGE_VAL);
  EXPECT_EQ((*odd)[3].value, 1e6);

  EXPECT_EQ(ParseQueryAnswer({400, Testdata("real_bad_data.json")}).error().message,
            "answered HTTP 400: bad_data: invalid parameter \"query\": 1:24: parse error: "
            "unclosed left parenthesis");
  EXPECT_EQ(ParseQueryAnswer({422, Testdata("real_too_many_samples.json")}).error().message,
            "answered HTTP 422: execution: query processing would load too many samples into "
            "memory in query execution");
  EXPECT_EQ(ParseQueryAnswer({200, Testdata("real_scalar.json")}).error().message,
            "answered a scalar, not an instant vector");
}

TEST(ParseQueryAnswer, GoNumbersNaNAndInfinities) {
  const std::string body = R"({"status":"success","data":{"resultType":"vector","result":[
    {"metric":{},"value":[1,"1e+06"]},{"metric":{},"value":[1,"NaN"]},
    {"metric":{},"value":[1,"+Inf"]},{"metric":{},"value":[1,"-Inf"]},
    {"metric":{},"value":[1,"0.000123"]}]}})";
  auto samples = ParseQueryAnswer({200, body});
  ASSERT_TRUE(samples.ok()) << samples.error().message;
  ASSERT_EQ(samples->size(), 5u);
  EXPECT_EQ((*samples)[0].value, 1e6);
  EXPECT_TRUE(std::isnan((*samples)[1].value));
  EXPECT_EQ((*samples)[2].value, HUGE_VAL);
  EXPECT_EQ((*samples)[3].value, -HUGE_VAL);
  EXPECT_DOUBLE_EQ((*samples)[4].value, 0.000123);
}

TEST(ParseQueryAnswer, AnEmptyResultIsNoSamples) {
  auto samples =
      ParseQueryAnswer({200, R"({"status":"success","data":{"resultType":"vector","result":[]}})"});
  ASSERT_TRUE(samples.ok());
  EXPECT_THAT(*samples, IsEmpty());
}

TEST(ParseQueryAnswer, PrometheusErrorsAreQuoted) {
  auto bad = ParseQueryAnswer(
      {400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"})"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "answered HTTP 400: bad_data: invalid parameter \"query\": 1:5: parse error");
  auto timeout = ParseQueryAnswer(
      {503, R"({"status":"error","errorType":"timeout","error":"query timed out"})"});
  EXPECT_THAT(timeout.error().message, HasSubstr("503: timeout: query timed out"));
}

TEST(ParseQueryAnswer, WhatIsNotPrometheusIsShownBriefly) {
  auto html = ParseQueryAnswer({502, "<html>\n<head><title>502 Bad Gateway</title></head></html>"});
  ASSERT_FALSE(html.ok());
  EXPECT_THAT(html.error().message, AllOf(HasSubstr("HTTP 502 with no Prometheus API answer"),
                                          HasSubstr("<html> <head><title>502 Bad Gateway")));
  EXPECT_THAT(ParseQueryAnswer({401, ""}).error().message, HasSubstr("HTTP 401"));
  EXPECT_THAT(ParseQueryAnswer({200, std::string(1000, 'x')}).error().message, HasSubstr("..."));
  EXPECT_THAT(ParseQueryAnswer({200, "[1,2]"}).error().message, HasSubstr("no Prometheus"));
}

TEST(ParseQueryAnswer, OtherShapesAreRefused) {
  EXPECT_THAT(ParseQueryAnswer({200, Testdata("docs_scalar.json")}).error().message,
              HasSubstr("answered a scalar, not an instant vector"));
  EXPECT_THAT(ParseQueryAnswer({200, R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{"a":1},"value":[1,"1"]}]}})"})
                  .error()
                  .message,
              HasSubstr("not shaped as an instant query's answer"));
  EXPECT_THAT(ParseQueryAnswer({200, R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{},"value":[1,"one"]}]}})"})
                  .error()
                  .message,
              HasSubstr("not a number: \"one\""));
  EXPECT_THAT(ParseQueryAnswer({200, R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{},"value":[1]}]}})"})
                  .error()
                  .message,
              HasSubstr("[time, \"value\"]"));
  EXPECT_FALSE(ParseQueryAnswer({500, R"({"status":"success","data":{"resultType":"vector",
      "result":[]}})"})
                   .ok());
}

TEST(ParseQueryAnswer, WarningsArePassedOn) {
  std::vector<std::string> warnings;
  auto samples = ParseQueryAnswer({200, R"({"status":"success","warnings":["remote read partial"],
               "data":{"resultType":"vector","result":[]}})"},
                                  &warnings);
  ASSERT_TRUE(samples.ok());
  EXPECT_THAT(warnings, ElementsAre("remote read partial"));
}

// Prometheus as a table of answers, by the exact PromQL BuildQueries writes.
class FakePrometheus {
 public:
  explicit FakePrometheus(const RightsizeOptions& options) : q_(BuildQueries(options)) {
    const ApiAnswer none = Vector({});
    for (const std::string* query :
         {&q_.presence, &q_.sizing, &q_.cpu_p95, &q_.cpu_max, &q_.memory_p95, &q_.memory_max,
          &q_.throttled, &q_.oom_kills, &q_.any_usage})
      answers_[*query] = none;
    answers_[q_.presence] = Vector({{{{"__name__", "swarm_service_desired_tasks"}}, 4},
                                    {{{"__name__", "swarm_node_capacity_cpu_cores"}}, 1}});
  }
  const RightsizeQueries& q() const { return q_; }
  void Answer(const std::string& query, ApiAnswer answer) { answers_[query] = std::move(answer); }
  QueryTransport transport() {
    return [this](const std::string& promql) -> Result<ApiAnswer> {
      asked.push_back(promql);
      const auto it = answers_.find(promql);
      if (it == answers_.end()) {
        ADD_FAILURE() << "unexpected query " << promql;
        return Error{"unexpected query"};
      }
      return it->second;
    };
  }
  std::vector<std::string> asked;

 private:
  RightsizeQueries q_;
  std::map<std::string, ApiAnswer> answers_;
};

TEST(CollectReport, JoinsUsageWithTheServicesOfNow) {
  const RightsizeOptions options{.prometheus_url = "http://admin:hunter2@prom:9090/prometheus"};
  FakePrometheus prom(options);
  const auto& q = prom.q();
  prom.Answer(q.sizing, Vector({
                            {Spec("swarm_service_desired_tasks", "app_web"), 2},
                            {Spec("swarm_service_reservation_memory_bytes", "app_web"), 256 * kMiB},
                            {Spec("swarm_service_desired_tasks", "app_cpu"), 1},
                            {Spec("swarm_service_limit_cpu_cores", "app_cpu"), 0.2},
                            {Spec("swarm_service_desired_tasks", "app_idle"), 0},
                            {Spec("swarm_service_reservation_cpu_cores", "app_idle"), 0.25},
                            {Spec("swarm_service_desired_tasks", "loose", ""), 1},
                        }));
  prom.Answer(q.cpu_p95, Vector({{Service("app_web"), 0.001},
                                 {Service("app_cpu"), 0.2},
                                 {Service("loose", ""), 0.0},
                                 {Service("app_old"), 0.3}}));
  prom.Answer(q.cpu_max, Vector({{Service("app_web"), 0.002}, {Service("app_cpu"), 0.2}}));
  prom.Answer(q.memory_p95, Vector({{Service("app_web"), 20 * kMiB},
                                    {Service("app_cpu"), 1 * kMiB},
                                    {Service("loose", ""), 2 * kMiB}}));
  prom.Answer(q.memory_max, Vector({{Service("app_web"), 20.5 * kMiB},
                                    {Service("app_cpu"), 1 * kMiB},
                                    {Service("loose", ""), std::nan("")}}));
  prom.Answer(q.throttled, Vector({{Service("app_cpu"), 0.93}}));
  prom.Answer(q.oom_kills, Vector({{Service("app_web"), 0}, {Service("app_cpu"), 0}}));

  auto report = CollectReport(options, prom.transport());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->prometheus, "http://***@prom:9090/prometheus");
  EXPECT_EQ(report->step, "1m");
  // By stack, then service; services outside a stack first.
  ASSERT_EQ(report->services.size(), 3u);
  const ServiceReport& loose = report->services[0];
  const ServiceReport& cpu = report->services[1];
  const ServiceReport& web = report->services[2];
  EXPECT_EQ(loose.service, "loose");
  EXPECT_EQ(loose.stack, "");
  EXPECT_EQ(loose.usage.memory_max, 0);  // NaN is no figure
  EXPECT_EQ(loose.suggestion.verdict, Verdict::kFits);

  EXPECT_EQ(cpu.service, "app_cpu");
  EXPECT_EQ(cpu.stack, "app");
  EXPECT_TRUE(cpu.cfs_periods);
  EXPECT_DOUBLE_EQ(cpu.usage.throttled_ratio, 0.93);
  EXPECT_EQ(cpu.sizing.cpu_limit, 0.2);
  EXPECT_FALSE(cpu.sizing.cpu_reservation);
  EXPECT_EQ(cpu.suggestion.verdict, Verdict::kStarved);
  EXPECT_DOUBLE_EQ(cpu.suggestion.cpu_limit, 0.30);

  EXPECT_EQ(web.service, "app_web");
  EXPECT_FALSE(web.cfs_periods);
  EXPECT_EQ(web.sizing.memory_reservation, 256 * kMiB);
  EXPECT_EQ(web.suggestion.verdict, Verdict::kOverReserved);
  EXPECT_EQ(web.suggestion.memory_reservation, 24ULL << 20);
  EXPECT_EQ(UpdateCommand(web),
            "docker service update --reserve-cpu 0.01 --reserve-memory 24MiB --limit-cpu 0.01 "
            "--limit-memory 31MiB app_web");

  EXPECT_THAT(report->without_usage, ElementsAre("app_idle"));
  EXPECT_THAT(report->gone, ElementsAre("app_old"));
  // The usage queries are not asked again to explain an empty report: there is none.
  EXPECT_THAT(prom.asked, Not(testing::Contains(q.any_usage)));
}

TEST(CollectReport, NoManagerScrapedIsAnError) {
  const RightsizeOptions options{.prometheus_url = "http://prom:9090"};
  FakePrometheus prom(options);
  prom.Answer(prom.q().presence, Vector({}));
  auto report = CollectReport(options, prom.transport());
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.error().message,
              AllOf(HasSubstr("Prometheus at http://prom:9090: has no swarm_service_desired_tasks"),
                    HasSubstr("no Swarm manager's swarmwatch is scraped")));
}

TEST(CollectReport, ManagersWithoutTheReservationSeriesAreAnError) {
  const RightsizeOptions options{.prometheus_url = "http://prom:9090"};
  FakePrometheus prom(options);
  prom.Answer(prom.q().presence, Vector({{{{"__name__", "swarm_service_desired_tasks"}}, 3}}));
  auto report = CollectReport(options, prom.transport());
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.error().message, AllOf(HasSubstr("no swarm_node_capacity_cpu_cores"),
                                            HasSubstr("swarm_service_reservation_*")));
}

TEST(CollectReport, NoTaskSeriesAtAllMeansNoAgentIsScraped) {
  const RightsizeOptions options{.prometheus_url = "http://prom:9090", .window = "2m"};
  FakePrometheus prom(options);
  prom.Answer(prom.q().sizing, Vector({{Spec("swarm_service_desired_tasks", "app_web"), 1}}));
  auto report = CollectReport(options, prom.transport());
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.error().message,
              AllOf(HasSubstr("Prometheus at http://prom:9090: has no container series of Swarm "
                              "tasks"),
                    HasSubstr("in the last 2m: no node's swarmwatch is scraped")));
}

TEST(CollectReport, AStackWithoutSeriesIsAnErrorNamingIt) {
  const RightsizeOptions options{.prometheus_url = "http://prom:9090", .stack = "shop"};
  FakePrometheus prom(options);
  prom.Answer(prom.q().any_usage, Vector({{{}, 12}}));
  auto report = CollectReport(options, prom.transport());
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.error().message,
              HasSubstr("has no container series of stack \"shop\" in the last 7d"));
}

TEST(CollectReport, UnreachableOrFailingPrometheusIsAnErrorNamingTheUrl) {
  const RightsizeOptions options{.prometheus_url = "http://u:pw@prom:9090"};
  auto down = CollectReport(options, [](const std::string&) -> Result<ApiAnswer> {
    return Error{"cannot reach it: Couldn't connect to server"};
  });
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().message,
            "Prometheus at http://***@prom:9090: cannot reach it: Couldn't connect to server");

  FakePrometheus prom(options);
  prom.Answer(
      prom.q().cpu_p95,
      {422,
       R"({"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"})"});
  auto failing = CollectReport(options, prom.transport());
  ASSERT_FALSE(failing.ok());
  EXPECT_THAT(failing.error().message,
              AllOf(HasSubstr("Prometheus at http://***@prom:9090: asked for the services' usage: "
                              "answered HTTP 422: execution: query processing would load too many"),
                    HasSubstr("query: quantile_over_time(0.95")));
}

ServiceReport Row(const std::string& service, ServiceUsage usage, ServiceSizing sizing,
                  bool cfs = false) {
  ServiceReport r{
      .service = service, .stack = "app", .usage = usage, .sizing = sizing, .cfs_periods = cfs};
  r.suggestion = Suggest(r.usage, r.sizing);
  return r;
}

RightsizeReport SampleReport() {
  RightsizeReport report{
      .prometheus = "http://prom:9090", .window = "7d", .step = "1m", .rate = "5m"};
  report.services.push_back(
      Row("app_db",
          {.cpu_p95 = 0.1, .cpu_max = 0.2, .memory_p95 = 100 * kMiB, .memory_max = 120 * kMiB},
          {.cpu_reservation = 0.12,
           .cpu_limit = 1,
           .memory_reservation = 120 * kMiB,
           .memory_limit = 1024 * kMiB},
          true));
  report.services.push_back(
      Row("app_web",
          {.cpu_p95 = 0.001, .cpu_max = 0.002, .memory_p95 = 20 * kMiB, .memory_max = 20.4 * kMiB},
          {.memory_reservation = 256 * kMiB}));
  report.without_usage = {"app_idle"};
  return report;
}

TEST(FormatTable, OneRowPerServiceThenWhyAndTheCommands) {
  const std::string table = FormatTable(SampleReport());
  EXPECT_THAT(table, HasSubstr("Right-sizing from http://prom:9090 over the last 7d"));
  EXPECT_THAT(table, HasSubstr("SERVICE  VERDICT        CPU p95/max  RESERVED  LIMIT  SUGGESTED"));
  EXPECT_THAT(table, HasSubstr("app_db   fits           0.10/0.20    0.12      1.00   0.12/0.30"));
  EXPECT_THAT(table, HasSubstr("app_web  over-reserved  0.001/0.002  -         -      0.01/0.01"));
  EXPECT_THAT(table, HasSubstr("20MiB/20MiB     256MiB    -        24MiB/31MiB    -          0\n"));
  EXPECT_THAT(table, HasSubstr("0.0%"));  // app_db has a quota: its ratio is a figure
  EXPECT_THAT(table,
              HasSubstr("Why:\n  app_web (over-reserved): memory: reserves 256MiB, 10.7x the "
                        "suggested 24MiB\n"));
  EXPECT_THAT(table, HasSubstr("To apply the suggestions:\n  docker service update --reserve-cpu "
                               "0.01 --reserve-memory 24MiB --limit-cpu 0.01 --limit-memory 31MiB "
                               "app_web\n"));
  EXPECT_THAT(table, Not(HasSubstr("app_db\n")));  // fits: no command
  EXPECT_THAT(table, HasSubstr("No container series in the window (no task ran, or no agent saw "
                               "it): app_idle"));

  RightsizeReport fits = SampleReport();
  fits.services.pop_back();
  EXPECT_THAT(FormatTable(fits), HasSubstr("Every service fits: nothing to change."));
}

TEST(FormatJson, EverythingForScripts) {
  const auto doc = nlohmann::json::parse(FormatJson(SampleReport()));
  EXPECT_EQ(doc["prometheus"], "http://prom:9090");
  EXPECT_EQ(doc["window"], "7d");
  EXPECT_TRUE(doc["stack"].is_null());
  ASSERT_EQ(doc["services"].size(), 2u);
  const auto& db = doc["services"][0];
  EXPECT_EQ(db["verdict"], "fits");
  EXPECT_TRUE(db["command"].is_null());
  EXPECT_EQ(db["cpu"]["throttled_ratio"], 0.0);
  const auto& web = doc["services"][1];
  EXPECT_EQ(web["service"], "app_web");
  EXPECT_EQ(web["stack"], "app");
  EXPECT_EQ(web["verdict"], "over-reserved");
  EXPECT_EQ(web["reasons"].size(), 1u);
  EXPECT_TRUE(web["cpu"]["reserved"].is_null());
  EXPECT_TRUE(web["cpu"]["throttled_ratio"].is_null());
  EXPECT_EQ(web["cpu"]["suggested_reservation"], 0.01);
  EXPECT_EQ(web["memory"]["reserved"], 256 * kMiB);
  EXPECT_EQ(web["memory"]["suggested_reservation"], 24 << 20);
  EXPECT_EQ(web["memory"]["suggested_limit"], 31 << 20);
  EXPECT_EQ(web["memory"]["oom_kills"], 0);
  EXPECT_THAT(web["command"].get<std::string>(), HasSubstr("--reserve-memory 24MiB"));
  EXPECT_EQ(doc["without_usage"], nlohmann::json::array({"app_idle"}));
}

TEST(UpdateCommand, NamesThatNeedQuotingAreQuoted) {
  ServiceReport odd = Row("it's odd", {}, {});
  EXPECT_THAT(UpdateCommand(odd), testing::EndsWith(" 'it'\\''s odd'"));
}

// A server answering /api/v1/query with `body`; returns its base URL.
class FakeApiServer {
 public:
  FakeApiServer(int status, std::string body) {
    auto address = ParseListenAddress("127.0.0.1:0");
    auto started = HttpServer::Start(*address, {{"/prefix/api/v1/query", [status, body] {
                                                   HttpResponse r;
                                                   r.status = status;
                                                   r.content_type = "application/json";
                                                   r.body = body;
                                                   return r;
                                                 }}});
    EXPECT_TRUE(started.ok()) << started.error().message;
    server_ = std::move(started.value());
  }
  std::string base() const {
    return "http://127.0.0.1:" + std::to_string(server_->ListeningPorts().at(0)) + "/prefix";
  }

 private:
  std::unique_ptr<HttpServer> server_;
};

TEST(CurlQueryTransport, AsksUnderTheBaseUrlsPath) {
  const std::string body = Testdata("docs_vector.json");
  FakeApiServer server(200, body);
  // A trailing slash and a userinfo change nothing for a server that wants no auth.
  auto answer = CurlQueryTransport(server.base() + "/", std::chrono::seconds(10))("up == 1");
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, body);

  FakeApiServer failing(503, R"({"status":"error","errorType":"unavailable","error":"x"})");
  auto refused = CurlQueryTransport(failing.base(), std::chrono::seconds(10))("up");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 503);
}

TEST(CurlQueryTransport, NobodyListeningSaysSo) {
  std::string base;
  {
    FakeApiServer gone(200, "{}");
    base = gone.base();
  }
  auto answer = CurlQueryTransport(base, std::chrono::seconds(10))("up");
  ASSERT_FALSE(answer.ok());
  EXPECT_THAT(answer.error().message, HasSubstr("cannot reach it: Couldn't connect to server"));
}

TEST(RightsizeCommandLine, ItsOwnFlagsAndNoSettings) {
  auto loaded = LoadConfig({"rightsize", "--prometheus", "http://prom:9090"},
                           {{"SWARMWATCH_NO_SUCH_SETTING", "x"}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->action, ConfigAction::kRightsize);
  EXPECT_EQ(loaded->rightsize.prometheus_url, "http://prom:9090");
  EXPECT_EQ(loaded->rightsize.window, "7d");
  EXPECT_EQ(loaded->rightsize.rate, "5m");
  EXPECT_EQ(loaded->rightsize.stack, "");
  EXPECT_FALSE(loaded->rightsize.json);

  auto all = LoadConfig({"rightsize", "--prometheus=http://p", "--window", "2m", "--rate", "20s",
                         "--stack", "app", "--json"},
                        {});
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(all->rightsize.window, "2m");
  EXPECT_EQ(all->rightsize.rate, "20s");
  EXPECT_EQ(all->rightsize.stack, "app");
  EXPECT_TRUE(all->rightsize.json);

  auto missing = LoadConfig({"rightsize"}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("--prometheus"));
  auto bad = LoadConfig({"rightsize", "--prometheus", "http://u:secret@p", "--window", "week"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message,
              AllOf(HasSubstr("--window: \"week\""), Not(HasSubstr("secret"))));
  // The agent's settings are not its flags.
  EXPECT_FALSE(
      LoadConfig({"rightsize", "--prometheus", "http://p", "--docker-host", "x"}, {}).ok());
}

TEST(RightsizeCommandLine, HelpStatesTheRule) {
  auto help = LoadConfig({"rightsize", "--help"}, {});
  ASSERT_TRUE(help.ok()) << help.error().message;
  EXPECT_EQ(help->action, ConfigAction::kHelp);
  EXPECT_THAT(help->help_text,
              AllOf(HasSubstr("--prometheus"), HasSubstr("--window"), HasSubstr("--json"),
                    HasSubstr("--stack"), HasSubstr("reservation = p95 over the window x 1.2")));
  auto main_help = LoadConfig({"--help"}, {});
  ASSERT_TRUE(main_help.ok());
  EXPECT_THAT(main_help->help_text, HasSubstr("rightsize"));
}

}  // namespace
}  // namespace swarmwatch
