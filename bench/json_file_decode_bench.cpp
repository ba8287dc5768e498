// Throughput of the json-file decoder (and the partial-line joiner behind it) on lines shaped like
// a Swarm node's logs: ~70% nginx/Apache access lines with real user agents, ~20% logfmt, ~7% JSON
// application lines, ~3% stderr errors and stack-trace heads, escaped the way Docker escapes them
// (\" \\ and \u003c \u003e \u0026). Reports lines/s, bytes/s and heap allocations per line,
// counted by the global operator new below.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "bench/allocation_counter.h"
#include "shippers/json_file_decoder.h"
#include "shippers/partial_line_joiner.h"

namespace {

using swarmwatch::DecodedLine;
using swarmwatch::DecodeJsonFileLine;

// Docker's json-file encoding of one log text (what its jsonlog writer does).
std::string JsonFileLine(const std::string& text, bool stderr_stream, std::uint64_t n) {
  std::string out = R"({"log":")";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\u0009";
        break;
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  char time[64];
  std::snprintf(time, sizeof time, "2026-11-26T07:%02u:%02u.%09uZ", unsigned(n / 60000 % 60),
                unsigned(n / 1000 % 60), unsigned(n % 1000 * 997 + 12345));
  out += R"(\n","stream":")";
  out += stderr_stream ? "stderr" : "stdout";
  out += R"(","time":")";
  out += time;
  out += "\"}";
  return out;
}

const char* const kAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.4.0",
    "Prometheus/2.48.0",
    "kube-probe/1.28",
    "Go-http-client/1.1",
};
const char* const kPaths[] = {
    "/",
    "/api/v1/orders",
    "/api/v1/orders/8812?expand=items&page=2",
    "/static/js/app.4f2c1e.js",
    "/healthz",
    "/login?next=%2Faccount",
    "/api/v1/search?q=blue+shoes&size=42",
};
const char* const kMethods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD"};
const int kCodes[] = {200, 200, 200, 200, 304, 301, 404, 500, 201, 204};

enum Kind { kAccess, kLogfmt, kJson, kError, kKinds };

std::string Text(Kind kind, std::mt19937& rng) {
  auto pick = [&](auto& array) { return array[rng() % (sizeof array / sizeof array[0])]; };
  char buf[512];
  switch (kind) {
    case kAccess:
      if (rng() % 2 == 0) {  // nginx "combined"
        std::snprintf(buf, sizeof buf,
                      "10.0.%u.%u - - [26/Nov/2026:07:16:%02u +0000] \"%s %s HTTP/1.1\" %d %u "
                      "\"-\" \"%s\"",
                      unsigned(rng() % 8), unsigned(rng() % 250), unsigned(rng() % 60),
                      pick(kMethods), pick(kPaths), pick(kCodes), unsigned(rng() % 50000),
                      pick(kAgents));
      } else {  // Apache with the referer and the time taken
        std::snprintf(buf, sizeof buf,
                      "172.18.0.%u - alice [26/Nov/2026:07:16:%02u +0000] \"%s %s HTTP/1.1\" %d "
                      "%u \"https://shop.example.com/\" \"%s\" %u",
                      unsigned(rng() % 250), unsigned(rng() % 60), pick(kMethods), pick(kPaths),
                      pick(kCodes), unsigned(rng() % 50000), pick(kAgents),
                      unsigned(rng() % 900000));
      }
      break;
    case kLogfmt:
      std::snprintf(buf, sizeof buf,
                    "ts=2026-11-26T07:16:03.%03uZ level=%s caller=orders/handler.go:%u "
                    "msg=\"order %s\" order_id=%08x customer=c-%u items=%u amount_cents=%u "
                    "duration_ms=%u.%u trace_id=%016llx",
                    unsigned(rng() % 1000), rng() % 5 == 0 ? "warn" : "info", unsigned(rng() % 400),
                    rng() % 2 == 0 ? "created" : "updated", unsigned(rng()),
                    unsigned(rng() % 100000), unsigned(rng() % 9), unsigned(rng() % 100000),
                    unsigned(rng() % 300), unsigned(rng() % 10),
                    static_cast<unsigned long long>(rng()) << 32 | rng());
      break;
    case kJson:
      std::snprintf(buf, sizeof buf,
                    "{\"level\":\"info\",\"ts\":\"2026-11-26T07:16:03.%03uZ\",\"msg\":\"payment "
                    "<accepted> & settled\",\"order\":%u,\"amount\":%u.%02u,\"currency\":\"EUR\","
                    "\"provider\":\"stripe\",\"latency_ms\":%u}",
                    unsigned(rng() % 1000), unsigned(rng() % 100000), unsigned(rng() % 500),
                    unsigned(rng() % 100), unsigned(rng() % 2000));
      break;
    default:
      switch (rng() % 3) {
        case 0:
          std::snprintf(buf, sizeof buf,
                        "2026-11-26 07:16:03,%03u ERROR [worker-%u] Traceback (most recent call "
                        "last): File \"/app/orders/tasks.py\", line %u, in settle",
                        unsigned(rng() % 1000), unsigned(rng() % 8), unsigned(rng() % 500));
          break;
        case 1:
          std::snprintf(buf, sizeof buf,
                        "Exception in thread \"main\" java.lang.NullPointerException: Cannot "
                        "invoke \"String.length()\" because \"name\" is null at "
                        "com.example.orders.OrderService.create(OrderService.java:%u)",
                        unsigned(rng() % 500));
          break;
        default:
          std::snprintf(buf, sizeof buf,
                        "\tat com.example.orders.OrderController.post(OrderController.java:%u) "
                        "~[orders-2.4.1.jar:2.4.1]",
                        unsigned(rng() % 500));
      }
  }
  return buf;
}

// A json-file log as one buffer ('\n'-separated), as the follower would read it.
struct Corpus {
  std::string data;
  std::size_t lines = 0;
};

Corpus MakeCorpus(int only_kind, std::size_t lines) {
  std::mt19937 rng(42);
  Corpus c;
  for (std::size_t i = 0; i < lines; ++i) {
    Kind kind = static_cast<Kind>(only_kind);
    if (only_kind < 0) {
      const unsigned r = rng() % 100;
      kind = r < 70 ? kAccess : r < 90 ? kLogfmt : r < 97 ? kJson : kError;
    }
    c.data += JsonFileLine(Text(kind, rng), kind == kError, i);
    c.data += '\n';
  }
  c.lines = lines;
  return c;
}

// Logfmt lines without quotes: the text has no escape but the final "\n" (the zero-copy path).
Corpus MakeUnescapedCorpus(std::size_t lines) {
  std::mt19937 rng(7);
  Corpus c;
  for (std::size_t i = 0; i < lines; ++i) {
    std::string text = Text(kLogfmt, rng);
    std::erase(text, '"');
    c.data += JsonFileLine(text, false, i);
    c.data += '\n';
  }
  c.lines = lines;
  return c;
}

constexpr std::size_t kCorpusLines = 20000;

template <class PerLine>
void Run(benchmark::State& state, const Corpus& corpus, PerLine per_line) {
  std::uint64_t lines = 0;
  const std::uint64_t allocations_before = swarmwatch::bench::AllocationCount();
  for (auto _ : state) {
    const char* p = corpus.data.data();
    const char* end = p + corpus.data.size();
    while (p != end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      per_line(std::string_view(p, nl - p));
      p = nl + 1;
    }
    lines += corpus.lines;
  }
  const std::uint64_t allocations = swarmwatch::bench::AllocationCount() - allocations_before;
  state.SetItemsProcessed(static_cast<std::int64_t>(lines));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus.data.size()));
  state.counters["bytes_per_line"] = static_cast<double>(corpus.data.size()) / corpus.lines;
  state.counters["allocs_per_line"] = static_cast<double>(allocations) / lines;
}

void Decode(benchmark::State& state, const Corpus& corpus) {
  std::string scratch;
  DecodedLine out;
  std::size_t bad = 0;
  Run(state, corpus, [&](std::string_view line) {
    if (!DecodeJsonFileLine(line, out, scratch)) {
      ++bad;
    }
    benchmark::DoNotOptimize(out);
  });
  if (bad != 0) {
    state.SkipWithError("a generated line did not decode");
  }
}

void BM_DecodeMix(benchmark::State& state) {
  static const Corpus corpus = MakeCorpus(-1, kCorpusLines);
  Decode(state, corpus);
}
BENCHMARK(BM_DecodeMix);

void BM_DecodeUnescaped(benchmark::State& state) {
  static const Corpus corpus = MakeUnescapedCorpus(kCorpusLines);
  Decode(state, corpus);
}
BENCHMARK(BM_DecodeUnescaped);

void BM_DecodeKind(benchmark::State& state) {
  static const Corpus corpora[kKinds] = {
      MakeCorpus(kAccess, kCorpusLines), MakeCorpus(kLogfmt, kCorpusLines),
      MakeCorpus(kJson, kCorpusLines), MakeCorpus(kError, kCorpusLines)};
  static const char* const kNames[kKinds] = {"access", "logfmt", "json", "stderr"};
  state.SetLabel(kNames[state.range(0)]);
  Decode(state, corpora[state.range(0)]);
}
BENCHMARK(BM_DecodeKind)->DenseRange(0, kKinds - 1);

// Decode plus the joiner, which copies each line into a LogRecord (one allocation per line
// longer than std::string's inline buffer): what the shipper pays before batching.
void BM_DecodeAndJoinMix(benchmark::State& state) {
  static const Corpus corpus = MakeCorpus(-1, kCorpusLines);
  std::string scratch;
  DecodedLine out;
  swarmwatch::PartialLineJoiner joiner(std::size_t{256} * 1024);
  std::uint64_t offset = 0;
  std::size_t bytes = 0;
  Run(state, corpus, [&](std::string_view line) {
    if (DecodeJsonFileLine(line, out, scratch)) {
      if (auto record = joiner.Feed(out, offset)) {
        bytes += record->line.size();
      }
    }
    offset += line.size() + 1;
  });
  benchmark::DoNotOptimize(bytes);
}
BENCHMARK(BM_DecodeAndJoinMix);

}  // namespace

BENCHMARK_MAIN();
