// Throughput of the access-log parser on 1,000,000 generated Apache combined lines with %D (the
// predefined `apache` format), the stack's web tier: IPv4 and IPv6 clients, real browser, bot and
// tool user agents, paths with and without query strings, 2xx-5xx, "-" sizes. Each benchmark
// iteration is one pass over the million lines; lines/s is items_per_second. Heap allocations
// are counted by the global operator new below and reported per line (must be 0).
//
//   BM_Parse:             AccessLogParser::Parse only.
//   BM_ParseAndObserve:   the agent's request metrics (RequestMetrics' sink for a container
//                         labelled swarmwatch.access_log=apache): parse, http_requests_total
//                         {method,code} incremented, the duration and size histograms observed.
//                         Allocations are counted after one warm-up pass has made every series.
//   BM_ParseObserveRoute: the same with a route label from 6 patterns.
//   BM_ParseNginx:        the predefined `nginx` format on the same requests.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/allocation_counter.h"
#include "exporters/access_log_parser.h"
#include "exporters/request_metrics.h"

namespace {

using swarmwatch::AccessLogEntry;
using swarmwatch::AccessLogParser;

constexpr std::size_t kLines = 1'000'000;

const char* const kAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 \\\"quoted\\\" (compatible; odd-bot/1.0)",
    "curl/8.4.0",
    "Prometheus/2.48.0",
    "python-requests/2.31.0",
    "-",
};
const char* const kPaths[] = {
    "/",
    "/index.php",
    "/student/1842",
    "/student/1842/edit",
    "/api/v1/items?page=2&size=50",
    "/api/v1/items/77/edit",
    "/static/css/app.4f2c1e.css",
    "/static/js/vendor.91ab03.js",
    "/login?next=%2Fstudent%2F1842",
    "/search?q=blue+shoes&sort=price",
    "/favicon.ico",
    "/healthz",
};
const char* const kReferers[] = {"-", "https://school.example.com/",
                                 "https://school.example.com/student/1842",
                                 "https://www.google.com/"};
const char* const kMethods[] = {"GET",  "GET",  "GET",  "GET", "GET",    "GET",
                                "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"};
const int kStatuses[] = {200, 200, 200, 200, 200, 200, 304, 302, 201, 204, 404, 403, 500, 503};

struct Corpus {
  std::string data;
  std::vector<std::string_view> lines;
};

// One line per request, in the `apache` (combined + %D) or `nginx` format.
Corpus Generate(bool nginx) {
  std::mt19937 rng(42);
  auto pick = [&](const auto& array) { return array[rng() % (sizeof array / sizeof array[0])]; };
  std::vector<std::size_t> ends;
  Corpus corpus;
  corpus.data.reserve(kLines * 220);
  char buf[1024];
  for (std::size_t i = 0; i < kLines; ++i) {
    char addr[64];
    if (rng() % 10 == 0) {
      std::snprintf(addr, sizeof addr, "2001:db8:%x::%x", unsigned(rng() % 0xffff),
                    unsigned(rng() % 0xffff));
    } else {
      std::snprintf(addr, sizeof addr, "%u.%u.%u.%u", unsigned(rng() % 223 + 1),
                    unsigned(rng() % 256), unsigned(rng() % 256), unsigned(rng() % 254 + 1));
    }
    const int status = pick(kStatuses);
    char size[32];
    if (status == 304 || status == 204 || rng() % 50 == 0) {
      std::snprintf(size, sizeof size, "%s", nginx ? "0" : "-");
    } else {
      std::snprintf(size, sizeof size, "%u", unsigned(rng() % 200000));
    }
    // Log-normal-ish latencies: most a few ms, some slow.
    const unsigned micros = unsigned(200 + rng() % 5000) * (rng() % 20 == 0 ? 100 : 1);
    const char* user = rng() % 30 == 0 ? "alice" : "-";
    const unsigned second = unsigned(i / 1000 % 60);
    int n = 0;
    if (nginx) {
      n = std::snprintf(buf, sizeof buf,
                        "%s - %s [26/Nov/2026:07:%02u:%02u +0000] \"%s %s HTTP/1.1\" %d %s "
                        "\"%s\" \"%s\" %u.%03u %u.%03u",
                        addr, user, unsigned(i / 60000 % 60), second, pick(kMethods), pick(kPaths),
                        status, size, pick(kReferers), pick(kAgents), micros / 1000000,
                        micros / 1000 % 1000, micros / 1000000, micros / 1000 % 1000);
    } else {
      n = std::snprintf(buf, sizeof buf,
                        "%s - %s [26/Nov/2026:07:%02u:%02u +0000] \"%s %s HTTP/1.1\" %d %s "
                        "\"%s\" \"%s\" %u",
                        addr, user, unsigned(i / 60000 % 60), second, pick(kMethods), pick(kPaths),
                        status, size, pick(kReferers), pick(kAgents), micros);
    }
    corpus.data.append(buf, static_cast<std::size_t>(n));
    ends.push_back(corpus.data.size());
  }
  std::size_t begin = 0;
  for (const std::size_t end : ends) {
    corpus.lines.emplace_back(corpus.data.data() + begin, end - begin);
    begin = end;
  }
  return corpus;
}

const Corpus& ApacheCorpus() {
  static const Corpus corpus = Generate(false);
  return corpus;
}
const Corpus& NginxCorpus() {
  static const Corpus corpus = Generate(true);
  return corpus;
}

// The agent's request metrics for one container labelled swarmwatch.access_log=apache, as the log
// reader feeds them: each line parsed and counted in prometheus-cpp's counters and histograms.
std::unique_ptr<swarmwatch::LogLineSink> WebSink(swarmwatch::RequestMetrics& metrics) {
  swarmwatch::ContainerInfo web;
  web.id = "0123456789abcdef";
  web.name = "shop_web.1.x";
  web.labels = {{"com.docker.swarm.service.name", "shop_web"},
                {"com.docker.stack.namespace", "shop"},
                {"swarmwatch.access_log", "apache"}};
  return metrics.Attach(web);
}

std::shared_ptr<swarmwatch::RequestMetrics> MakeMetrics(std::vector<std::string> routes = {}) {
  swarmwatch::RequestMetricsOptions options;
  options.routes = std::move(routes);
  options.node_name = [] { return std::string("node-1"); };
  return std::move(swarmwatch::RequestMetrics::Create(std::move(options))).value();
}

void Report(benchmark::State& state, const Corpus& corpus, std::uint64_t allocations,
            std::uint64_t parsed) {
  const auto lines = static_cast<double>(state.iterations()) * static_cast<double>(kLines);
  state.SetItemsProcessed(static_cast<std::int64_t>(lines));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(corpus.data.size()));
  state.counters["allocs_per_line"] = static_cast<double>(allocations) / lines;
  state.counters["parsed_fraction"] = static_cast<double>(parsed) / lines;
}

AccessLogParser MakeParser(const char* name) {
  return std::move(swarmwatch::MakeAccessLogParser(name)).value();
}

// The parser alone over a corpus in its format.
void ParseOnly(benchmark::State& state, const Corpus& corpus, const char* format) {
  const AccessLogParser parser = MakeParser(format);
  AccessLogEntry entry;
  std::uint64_t parsed = 0;
  const std::uint64_t before = swarmwatch::bench::AllocationCount();
  for (auto _ : state) {
    for (const std::string_view line : corpus.lines) {
      parsed += parser.Parse(line, entry) ? 1 : 0;
      benchmark::DoNotOptimize(entry);
    }
  }
  Report(state, corpus, swarmwatch::bench::AllocationCount() - before, parsed);
}

void BM_Parse(benchmark::State& state) {
  ParseOnly(state, ApacheCorpus(), "apache");
}

// Every series the corpus makes exists after one pass: the measured passes allocate nothing.
void ParseAndObserve(benchmark::State& state, std::vector<std::string> routes) {
  const Corpus& corpus = ApacheCorpus();
  auto metrics = MakeMetrics(std::move(routes));
  auto sink = WebSink(*metrics);
  for (const std::string_view line : corpus.lines)
    sink->Consume(swarmwatch::LogStream::kStdout, 1, line);
  const std::uint64_t before = swarmwatch::bench::AllocationCount();
  for (auto _ : state) {
    for (const std::string_view line : corpus.lines)
      sink->Consume(swarmwatch::LogStream::kStdout, 1, line);
  }
  const std::uint64_t allocations = swarmwatch::bench::AllocationCount() - before;
  double requests = 0;
  for (const auto& family : metrics->metrics()->Collect()) {
    if (family.name == "http_requests_total") {
      for (const auto& metric : family.metric)
        requests += metric.counter.value;
    }
  }
  // Lines counted as requests (not unparsed) per line fed, warm-up pass included.
  const double fed = static_cast<double>(state.iterations() + 1) * static_cast<double>(kLines);
  Report(state, corpus, allocations, 0);
  state.counters["parsed_fraction"] = requests / fed;
}

void BM_ParseAndObserve(benchmark::State& state) {
  ParseAndObserve(state, {});
}

void BM_ParseObserveRoute(benchmark::State& state) {
  ParseAndObserve(state, {"/student/{id}", "/student/{id}/edit", "/api/v1/items",
                          "/api/v1/items/{id}/edit", "/static/*", "/"});
}

void BM_ParseNginx(benchmark::State& state) {
  ParseOnly(state, NginxCorpus(), "nginx");
}

BENCHMARK(BM_Parse)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_ParseAndObserve)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_ParseObserveRoute)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_ParseNginx)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
