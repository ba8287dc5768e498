// loki_receiver: a Loki-compatible push endpoint for the tests and benchmarks. It decodes what Loki
// decodes (raw snappy + logproto.PushRequest via libprotobuf's generated classes, or JSON,
// optionally gzipped), enforces Loki's documented validation, stores what it accepted, and can be
// told to answer 429/500/400 or to hang. Usage:
//   loki_receiver --listen 127.0.0.1:0 [--max-line-size 262144] [--no-store-lines]
// It prints "listening on http://127.0.0.1:<port>" to stderr, and its CPU time on SIGTERM/SIGINT.
//   POST /loki/api/v1/push
//   GET  /test/entries[?offset=N&limit=M]  accepted entries, one JSON object a line
//   GET  /test/stats                        counts (entries, bytes, pushes, rejected by status,
//   ...) POST /test/mode?answer=ok|429|500|400|hang[&count=N][&retry_after=S] POST /test/reset
#include <CivetServer.h>
#include <libdeflate.h>
#include <signal.h>
#include <snappy.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "push.pb.h"

namespace {

// ---------------------------------------------------------------------------------------------
// Decoded push, independent of the wire format.

struct DecodedEntry {
  std::int64_t ts = 0;
  std::string_view line;
  // Structured metadata: [metadata_begin, metadata_begin + metadata_count) of the push's flat list
  // (one list per push instead of one allocation per entry).
  std::uint32_t metadata_begin = 0;
  std::uint32_t metadata_count = 0;
};
using MetadataList = std::vector<std::pair<std::string_view, std::string_view>>;
struct DecodedStream {
  std::string_view labels;
  std::vector<DecodedEntry> entries;
};

// ---------------------------------------------------------------------------------------------
// Label sets in Prometheus' syntax, parsed independently of the agent's code.

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsNameChar(char c) {
  return IsNameStart(c) || (c >= '0' && c <= '9');
}

int Hex(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void PutUtf8(std::uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Whether `s` is well-formed UTF-8 (RFC 3629) and holds no U+FFFD.
bool ValidUtf8WithoutReplacement(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    std::uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000) || cp == 0xFFFD)
      return false;
    i += n;
  }
  return true;
}

// Returns an error message, or nullopt with `out` filled (in the order written).
std::optional<std::string> ParseLabels(std::string_view s,
                                       std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
      ++i;
  };
  auto err = [&](const std::string& what) {
    return std::optional<std::string>("parse error at position " + std::to_string(i) + ": " + what);
  };
  ws();
  if (i >= s.size() || s[i] != '{')
    return err("expected '{'");
  ++i;
  while (true) {
    ws();
    if (i < s.size() && s[i] == '}') {
      ++i;
      break;
    }
    if (i >= s.size() || !IsNameStart(s[i]))
      return err("expected label name");
    const std::size_t start = i;
    while (i < s.size() && IsNameChar(s[i]))
      ++i;
    std::string name(s.substr(start, i - start));
    ws();
    if (i >= s.size() || s[i] != '=')
      return err("expected '=' after label name");
    ++i;
    ws();
    if (i >= s.size() || s[i] != '"')
      return err("expected quoted label value");
    ++i;
    std::string value;
    while (true) {
      if (i >= s.size())
        return err("unterminated quoted string");
      const char c = s[i++];
      if (c == '"')
        break;
      if (c == '\n')
        return err("newline in quoted string");
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (i >= s.size())
        return err("unterminated escape");
      const char e = s[i++];
      switch (e) {
        case '\\':
        case '"':
        case '\'':
          value.push_back(e);
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case 'x':
          if (i + 2 > s.size() || Hex(s[i]) < 0 || Hex(s[i + 1]) < 0)
            return err("bad \\x escape");
          value.push_back(static_cast<char>(Hex(s[i]) * 16 + Hex(s[i + 1])));
          i += 2;
          break;
        case 'u':
        case 'U': {
          const std::size_t n = e == 'u' ? 4 : 8;
          if (i + n > s.size())
            return err("bad unicode escape");
          std::uint32_t cp = 0;
          for (std::size_t k = 0; k < n; ++k) {
            const int h = Hex(s[i + k]);
            if (h < 0)
              return err("bad unicode escape");
            cp = cp * 16 + static_cast<std::uint32_t>(h);
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
            return err("bad unicode escape");
          i += n;
          PutUtf8(cp, &value);
          break;
        }
        default:
          return err(std::string("unknown escape \\") + e);
      }
    }
    // Loki parses labels with Prometheus' PromQL lexer, which cannot tell U+FFFD from a byte
    // that is not UTF-8: Loki 3.4.6 answers this to both (raw or escaped, either push format).
    if (!ValidUtf8WithoutReplacement(value))
      return std::optional<std::string>("parse error: invalid UTF-8 rune");
    out->emplace_back(std::move(name), std::move(value));
    ws();
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == '}') {
      ++i;
      break;
    }
    return err("expected ',' or '}'");
  }
  ws();
  if (i != s.size())
    return err("unexpected text after '}'");
  return std::nullopt;
}

// Loki's default limits (limits_config) that the receiver enforces as Loki does.
constexpr std::size_t kMaxLabelValueLength = 2048;
constexpr std::int64_t kRejectOldSamplesMaxAgeNs = 168LL * 3600 * 1'000'000'000;  // 1 week
constexpr std::int64_t kCreationGracePeriodNs = 10LL * 60 * 1'000'000'000;        // 10 minutes
// Half of the ingester's max_chunk_age (2 h): how far back an out-of-order entry is still taken.
constexpr std::int64_t kOutOfOrderWindowNs = 3600LL * 1'000'000'000;

std::string Rfc3339(std::int64_t ns) {
  const std::time_t seconds = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string RenderCanonical(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i != 0)
      out += ", ";
    out += labels[i].first + "=\"";
    for (const char c : labels[i].second) {
      if (c == '"' || c == '\\')
        out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    out += "\"";
  }
  return out + "}";
}

// ---------------------------------------------------------------------------------------------
// Storage

struct StoredEntry {
  std::int64_t ts;
  std::uint32_t stream;
  std::uint32_t chunk;
  std::uint32_t offset;
  std::uint32_t line_len;
  std::uint32_t meta_len;  // encoded after the line: u32 name len, name, u32 value len, value, ...
};

struct StreamState {
  std::uint32_t tenant;
  std::string canonical;
  std::vector<std::pair<std::string, std::string>> labels;
  std::int64_t last_ts = 0;
  bool has_last = false;
};

constexpr std::size_t kChunkBytes = 64u << 20;

struct Mode {
  std::string answer = "ok";
  long remaining = -1;  // -1: until changed
  long retry_after = -1;
  std::uint64_t generation = 0;
};

struct Receiver {
  std::size_t max_line_size = 262144;
  bool store_lines = true;

  std::mutex mu;
  std::condition_variable changed;
  bool shutting_down = false;
  Mode mode;

  std::vector<std::string> tenants;
  std::unordered_map<std::string, std::uint32_t> tenant_index;
  std::vector<StreamState> streams;
  std::unordered_map<std::string, std::uint32_t> stream_index;  // tenant \x01 canonical labels
  std::vector<StoredEntry> entries;
  std::vector<std::unique_ptr<char[]>> chunks;
  std::size_t chunk_used = kChunkBytes;
  std::uint64_t entry_count = 0;
  std::uint64_t line_bytes = 0;
  std::uint64_t pushes = 0;    // answered 2xx
  std::uint64_t requests = 0;  // every push request
  std::map<int, std::uint64_t> rejected;
  nlohmann::json last_request = nlohmann::json::object();

  void Reset() {
    tenants.clear();
    tenant_index.clear();
    streams.clear();
    stream_index.clear();
    entries.clear();
    entries.shrink_to_fit();
    chunks.clear();
    chunk_used = kChunkBytes;
    entry_count = line_bytes = pushes = requests = 0;
    rejected.clear();
    last_request = nlohmann::json::object();
  }

  char* Allocate(std::size_t n, std::uint32_t* chunk, std::uint32_t* offset) {
    if (chunk_used + n > kChunkBytes) {
      chunks.push_back(std::make_unique<char[]>(std::max(n, kChunkBytes)));
      chunk_used = 0;
    }
    *chunk = static_cast<std::uint32_t>(chunks.size() - 1);
    *offset = static_cast<std::uint32_t>(chunk_used);
    char* p = chunks.back().get() + chunk_used;
    chunk_used += n;
    if (n > kChunkBytes)
      chunk_used = kChunkBytes;
    return p;
  }
};

Receiver g_receiver;

// ---------------------------------------------------------------------------------------------
// HTTP helpers

void Respond(mg_connection* conn, int status, std::string_view body,
             std::string_view content_type = "text/plain; charset=utf-8",
             const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  mg_response_header_start(conn, status);
  if (!body.empty() || status != 204) {
    mg_response_header_add(conn, "Content-Type", std::string(content_type).c_str(), -1);
  }
  mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
  for (const auto& [name, value] : extra) {
    mg_response_header_add(conn, name.c_str(), value.c_str(), -1);
  }
  mg_response_header_send(conn);
  if (!body.empty())
    mg_write(conn, body.data(), body.size());
}

std::string ReadBody(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  std::string body;
  if (info->content_length > 0) {
    body.resize(static_cast<std::size_t>(info->content_length));
    std::size_t got = 0;
    while (got < body.size()) {
      const int n = mg_read(conn, body.data() + got, body.size() - got);
      if (n <= 0)
        break;
      got += static_cast<std::size_t>(n);
    }
    body.resize(got);
    return body;
  }
  char buf[65536];
  int n;
  while ((n = mg_read(conn, buf, sizeof buf)) > 0)
    body.append(buf, static_cast<std::size_t>(n));
  return body;
}

std::string Header(mg_connection* conn, const char* name) {
  const char* v = mg_get_header(conn, name);
  return v != nullptr ? std::string(v) : std::string();
}

std::string QueryParam(mg_connection* conn, const char* name) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (info->query_string == nullptr)
    return {};
  char buf[256];
  const int n =
      mg_get_var(info->query_string, std::strlen(info->query_string), name, buf, sizeof buf);
  return n >= 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

bool Gunzip(const std::string& in, std::string* out) {
  struct Deleter {
    void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
  };
  thread_local std::unique_ptr<libdeflate_decompressor, Deleter> d(libdeflate_alloc_decompressor());
  std::size_t size = in.size() * 4 + 1024;
  if (in.size() >= 18) {  // ISIZE trailer: the uncompressed size modulo 2^32
    std::uint32_t isize;
    std::memcpy(&isize, in.data() + in.size() - 4, 4);
    size = std::max<std::size_t>(size, isize);
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    out->resize(size);
    std::size_t actual = 0;
    const auto r =
        libdeflate_gzip_decompress(d.get(), in.data(), in.size(), out->data(), size, &actual);
    if (r == LIBDEFLATE_SUCCESS) {
      out->resize(actual);
      return true;
    }
    if (r != LIBDEFLATE_INSUFFICIENT_SPACE)
      return false;
    size *= 2;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Decoding

std::optional<std::string> ParseNanos(std::string_view s, std::int64_t* out) {
  if (s.empty() || s.size() > 19)
    return "invalid timestamp '" + std::string(s) + "'";
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9')
      return "invalid timestamp '" + std::string(s) + "'";
    v = v * 10 + (c - '0');
  }
  *out = v;
  return std::nullopt;
}

std::optional<std::string> DecodeJson(const std::string& body, nlohmann::json* doc,
                                      std::vector<DecodedStream>* out, MetadataList* metadata) {
  *doc = nlohmann::json::parse(body, nullptr, false);
  if (doc->is_discarded() || !doc->is_object())
    return "loghttp push: invalid JSON body";
  const auto streams = doc->find("streams");
  if (streams == doc->end())
    return std::nullopt;  // nothing to push
  if (!streams->is_array())
    return "loghttp push: 'streams' must be an array";
  for (const auto& s : *streams) {
    if (!s.is_object())
      return "loghttp push: a stream must be an object";
    DecodedStream stream;
    // The JSON labels arrive as an object; render them into the label-set syntax below.
    const auto labels = s.find("stream");
    if (labels == s.end() || !labels->is_object()) {
      return "loghttp push: a stream needs a 'stream' object of labels";
    }
    const auto values = s.find("values");
    if (values == s.end() || !values->is_array()) {
      return "loghttp push: a stream needs a 'values' array";
    }
    for (const auto& v : *values) {
      if (!v.is_array() || v.size() < 2 || v.size() > 3) {
        return "loghttp push: a value must be [\"<ts>\", \"<line>\"(, {metadata})]";
      }
      if (!v[0].is_string()) {
        return "loghttp push: timestamp must be a string of integer nanoseconds, got " +
               v[0].dump();
      }
      if (!v[1].is_string())
        return "loghttp push: the line must be a string";
      DecodedEntry e;
      e.metadata_begin = static_cast<std::uint32_t>(metadata->size());
      const auto& ts = v[0].get_ref<const std::string&>();
      if (auto error = ParseNanos(ts, &e.ts))
        return "loghttp push: " + *error;
      e.line = v[1].get_ref<const std::string&>();
      if (v.size() == 3) {
        if (!v[2].is_object())
          return "loghttp push: structured metadata must be an object";
        for (const auto& [k, mv] : v[2].items()) {
          if (!mv.is_string())
            return "loghttp push: structured metadata values must be strings";
          metadata->emplace_back(std::string_view(k), mv.get_ref<const std::string&>());
          ++e.metadata_count;
        }
      }
      stream.entries.push_back(e);
    }
    out->push_back(std::move(stream));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The push endpoint

// Renders a JSON stream's label object as label-set text so both formats share the validation.
std::string JsonLabelsText(const nlohmann::json& labels) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels.items()) {
    if (!first)
      out += ",";
    first = false;
    out += k + "=" + nlohmann::json(v.is_string() ? v.get<std::string>() : v.dump()).dump();
  }
  return out + "}";
}

class PushHandler : public CivetHandler {
 public:
  bool handlePost(CivetServer* /*server*/, mg_connection* conn) override {
    const std::string raw = ReadBody(conn);
    const std::string tenant = Header(conn, "X-Scope-OrgID");
    const std::string content_type = Header(conn, "Content-Type");
    const std::string content_encoding = Header(conn, "Content-Encoding");

    Mode mode;
    {
      std::lock_guard lock(g_receiver.mu);
      ++g_receiver.requests;
      g_receiver.last_request = {{"content_type", content_type},
                                 {"content_encoding", content_encoding},
                                 {"tenant", tenant},
                                 {"authorization", Header(conn, "Authorization")},
                                 {"user_agent", Header(conn, "User-Agent")},
                                 {"body_bytes", raw.size()}};
      mode = g_receiver.mode;
      if (g_receiver.mode.answer != "ok" && g_receiver.mode.remaining > 0 &&
          --g_receiver.mode.remaining == 0) {
        g_receiver.mode.answer = "ok";
        g_receiver.mode.remaining = -1;
      }
    }
    if (mode.answer == "hang") {
      std::unique_lock lock(g_receiver.mu);
      g_receiver.changed.wait_for(lock, std::chrono::minutes(10), [&] {
        return g_receiver.shutting_down || g_receiver.mode.generation != mode.generation;
      });
      ++g_receiver.rejected[503];
      lock.unlock();
      Respond(conn, 503, "hang ended\n");
      return true;
    }
    if (mode.answer != "ok") {
      const int status = std::atoi(mode.answer.c_str());
      std::vector<std::pair<std::string, std::string>> extra;
      if (mode.retry_after >= 0)
        extra.emplace_back("Retry-After", std::to_string(mode.retry_after));
      {
        std::lock_guard lock(g_receiver.mu);
        ++g_receiver.rejected[status];
      }
      Respond(conn, status, "loki_receiver: answering " + mode.answer + " as told\n",
              "text/plain; charset=utf-8", extra);
      return true;
    }

    const auto [status, message] = Ingest(raw, tenant, content_type, content_encoding);
    {
      std::lock_guard lock(g_receiver.mu);
      if (status / 100 == 2) {
        ++g_receiver.pushes;
      } else {
        ++g_receiver.rejected[status];
      }
    }
    Respond(conn, status, message);
    return true;
  }

 private:
  static std::pair<int, std::string> Ingest(const std::string& raw, const std::string& tenant,
                                            const std::string& content_type,
                                            const std::string& content_encoding) {
    std::string inflated;
    const std::string* body = &raw;
    if (content_encoding == "gzip") {
      if (!Gunzip(raw, &inflated))
        return {400, "gzip: invalid compressed body\n"};
      body = &inflated;
    } else if (!content_encoding.empty()) {
      return {415, "Content-Encoding " + content_encoding + " not supported\n"};
    }

    std::vector<DecodedStream> streams;
    MetadataList metadata;
    std::vector<std::string> json_labels;  // keeps JSON label text alive
    nlohmann::json doc;
    google::protobuf::Arena arena;
    std::string uncompressed;
    const std::string_view type =
        std::string_view(content_type)
            .substr(0, std::min(content_type.find(';'), content_type.size()));
    if (type == "application/json") {
      if (auto error = DecodeJson(*body, &doc, &streams, &metadata))
        return {400, *error + "\n"};
      const auto& js = doc.find("streams");
      json_labels.reserve(streams.size());
      for (std::size_t i = 0; i < streams.size(); ++i) {
        json_labels.push_back(JsonLabelsText((*js)[i]["stream"]));
        streams[i].labels = json_labels.back();
      }
    } else {
      // Loki treats every other content type as protobuf; an uncompressed body is the snappy error.
      if (!snappy::Uncompress(body->data(), body->size(), &uncompressed)) {
        return {400, "snappy: corrupt input\n"};
      }
      auto* request = google::protobuf::Arena::CreateMessage<logproto::PushRequest>(&arena);
      if (!request->ParseFromString(uncompressed)) {
        return {400, "proto: cannot parse logproto.PushRequest\n"};
      }
      streams.reserve(static_cast<std::size_t>(request->streams_size()));
      for (const auto& s : request->streams()) {
        DecodedStream stream;
        stream.labels = s.labels();
        stream.entries.reserve(static_cast<std::size_t>(s.entries_size()));
        for (const auto& e : s.entries()) {
          DecodedEntry entry;
          entry.ts = e.timestamp().seconds() * 1'000'000'000 + e.timestamp().nanos();
          entry.line = e.line();
          entry.metadata_begin = static_cast<std::uint32_t>(metadata.size());
          entry.metadata_count = static_cast<std::uint32_t>(e.structuredmetadata_size());
          for (const auto& m : e.structuredmetadata()) {
            metadata.emplace_back(m.name(), m.value());
          }
          stream.entries.push_back(entry);
        }
        streams.push_back(std::move(stream));
      }
    }
    return Validate(streams, metadata, tenant);
  }

  // Loki's distributor and ingester checks. Like Loki, valid entries of a partly invalid push are
  // kept and the push is answered 400 naming what was refused.
  static std::pair<int, std::string> Validate(const std::vector<DecodedStream>& streams,
                                              const MetadataList& metadata,
                                              const std::string& tenant) {
    std::vector<std::string> errors;
    std::vector<std::pair<std::string, std::string>> labels;
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    std::lock_guard lock(g_receiver.mu);
    auto& r = g_receiver;
    auto [tenant_it, new_tenant] =
        r.tenant_index.try_emplace(tenant, static_cast<std::uint32_t>(r.tenants.size()));
    if (new_tenant)
      r.tenants.push_back(tenant);
    const std::uint32_t tenant_id = tenant_it->second;
    for (const DecodedStream& stream : streams) {
      if (auto error = ParseLabels(stream.labels, &labels)) {
        errors.push_back("Error parsing labels '" + std::string(stream.labels) +
                         "' with error: " + *error);
        continue;
      }
      std::erase_if(labels, [](const auto& l) { return l.second.empty(); });
      if (labels.empty()) {
        errors.emplace_back("error at least one label pair is required per stream");
        continue;
      }
      std::stable_sort(labels.begin(), labels.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      const std::string canonical = RenderCanonical(labels);
      const auto dup =
          std::adjacent_find(labels.begin(), labels.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; });
      if (dup != labels.end()) {
        errors.push_back("stream '" + canonical + "' has duplicate label name: '" + dup->first +
                         "'");
        continue;
      }
      const auto long_value = std::find_if(labels.begin(), labels.end(), [](const auto& l) {
        return l.second.size() > kMaxLabelValueLength;
      });
      if (long_value != labels.end()) {
        errors.push_back("stream '" + canonical + "' has label value too long: '" +
                         long_value->second + "'");
        continue;
      }
      std::string key = std::to_string(tenant_id) + "\x01" + canonical;
      auto [it, is_new] =
          r.stream_index.try_emplace(std::move(key), static_cast<std::uint32_t>(r.streams.size()));
      if (is_new) {
        r.streams.push_back(StreamState{tenant_id, canonical, labels, 0, false});
      }
      const std::uint32_t stream_id = it->second;
      std::size_t out_of_order = 0;
      std::int64_t first_ignored_ts = 0;
      for (const DecodedEntry& e : stream.entries) {
        if (e.line.size() > r.max_line_size) {
          errors.push_back("Max entry size '" + std::to_string(r.max_line_size) +
                           "' bytes exceeded for stream '" + canonical +
                           "' while adding an entry with length '" + std::to_string(e.line.size()) +
                           "' bytes");
          continue;
        }
        if (e.ts < now_ns - kRejectOldSamplesMaxAgeNs) {
          errors.push_back(
              "entry for stream '" + canonical + "' has timestamp too old: " + Rfc3339(e.ts) +
              ", oldest acceptable timestamp is: " + Rfc3339(now_ns - kRejectOldSamplesMaxAgeNs));
          continue;
        }
        if (e.ts > now_ns + kCreationGracePeriodNs) {
          errors.push_back("entry for stream '" + canonical +
                           "' has timestamp too new: " + Rfc3339(e.ts));
          continue;
        }
        StreamState& state = r.streams[stream_id];
        // Loki 2.4+ takes a stream's entries out of order (unordered_writes) within its window.
        if (state.has_last && e.ts < state.last_ts - kOutOfOrderWindowNs) {
          if (out_of_order++ == 0)
            first_ignored_ts = e.ts;
          continue;
        }
        state.last_ts = std::max(state.last_ts, e.ts);
        state.has_last = true;
        StoredEntry stored{e.ts, stream_id, 0, 0, 0, 0};
        if (r.store_lines) {
          std::size_t meta_len = 0;
          for (const auto& [k, v] : std::span(metadata).subspan(e.metadata_begin, e.metadata_count))
            meta_len += 8 + k.size() + v.size();
          char* p = r.Allocate(e.line.size() + meta_len, &stored.chunk, &stored.offset);
          std::memcpy(p, e.line.data(), e.line.size());
          p += e.line.size();
          for (const auto& [k, v] :
               std::span(metadata).subspan(e.metadata_begin, e.metadata_count)) {
            for (const std::string_view part : {k, v}) {
              const auto n = static_cast<std::uint32_t>(part.size());
              std::memcpy(p, &n, 4);
              std::memcpy(p + 4, part.data(), part.size());
              p += 4 + part.size();
            }
          }
          stored.line_len = static_cast<std::uint32_t>(e.line.size());
          stored.meta_len = static_cast<std::uint32_t>(meta_len);
          r.entries.push_back(stored);
        }
        ++r.entry_count;
        r.line_bytes += e.line.size();
      }
      if (out_of_order > 0) {
        errors.push_back("entry with timestamp " + std::to_string(first_ignored_ts) +
                         " ignored, reason: 'entry out of order' for stream: " + canonical +
                         ",\ntotal ignored: " + std::to_string(out_of_order) + " out of " +
                         std::to_string(stream.entries.size()));
      }
    }
    if (errors.empty())
      return {204, ""};
    if (errors.size() == 1)
      return {400, errors.front() + "\n"};
    // Loki 3 groups identical messages: "2 errors like: <message>; 1 errors like: <message>".
    std::vector<std::pair<std::string, std::size_t>> groups;
    for (const std::string& error : errors) {
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const auto& g) { return g.first == error; });
      if (it == groups.end())
        groups.emplace_back(error, 1);
      else
        ++it->second;
    }
    std::string message;
    for (const auto& [error, count] : groups)
      message += (message.empty() ? "" : "; ") + std::to_string(count) + " errors like: " + error;
    return {400, message + "\n"};
  }
};

// ---------------------------------------------------------------------------------------------
// Test control endpoints

class EntriesHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    const std::string offset_text = QueryParam(conn, "offset");
    const std::string limit_text = QueryParam(conn, "limit");
    const std::size_t offset = offset_text.empty() ? 0 : std::stoull(offset_text);
    const std::size_t limit = limit_text.empty() ? SIZE_MAX : std::stoull(limit_text);
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", "application/x-ndjson", -1);
    mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
    mg_response_header_send(conn);
    std::string out;
    std::lock_guard lock(g_receiver.mu);
    const auto& r = g_receiver;
    for (std::size_t i = offset; i < r.entries.size() && i - offset < limit; ++i) {
      const StoredEntry& e = r.entries[i];
      const StreamState& s = r.streams[e.stream];
      const char* p = r.chunks[e.chunk].get() + e.offset;
      nlohmann::json j;
      j["labels"] = nlohmann::json::object();
      for (const auto& [k, v] : s.labels)
        j["labels"][k] = v;
      j["ts"] = std::to_string(e.ts);
      j["line"] = std::string(p, e.line_len);
      j["metadata"] = nlohmann::json::object();
      const char* m = p + e.line_len;
      const char* end = m + e.meta_len;
      while (m < end) {
        std::uint32_t kn, vn;
        std::memcpy(&kn, m, 4);
        std::string k(m + 4, kn);
        m += 4 + kn;
        std::memcpy(&vn, m, 4);
        j["metadata"][k] = std::string(m + 4, vn);
        m += 4 + vn;
      }
      j["tenant"] = r.tenants[s.tenant];
      out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += '\n';
      if (out.size() > (1u << 20)) {
        mg_send_chunk(conn, out.data(), static_cast<unsigned>(out.size()));
        out.clear();
      }
    }
    if (!out.empty())
      mg_send_chunk(conn, out.data(), static_cast<unsigned>(out.size()));
    mg_send_chunk(conn, "", 0);
    return true;
  }
};

class StatsHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    nlohmann::json j;
    {
      std::lock_guard lock(g_receiver.mu);
      const auto& r = g_receiver;
      j["entries"] = r.entry_count;
      j["bytes"] = r.line_bytes;
      j["pushes"] = r.pushes;
      j["requests"] = r.requests;
      j["streams"] = r.streams.size();
      j["rejected"] = nlohmann::json::object();
      for (const auto& [status, n] : r.rejected)
        j["rejected"][std::to_string(status)] = n;
      j["last_request"] = r.last_request;
      j["mode"] = r.mode.answer;
    }
    Respond(conn, 200, j.dump() + "\n", "application/json");
    return true;
  }
};

class ModeHandler : public CivetHandler {
 public:
  bool handlePost(CivetServer* /*server*/, mg_connection* conn) override {
    ReadBody(conn);
    const std::string answer = QueryParam(conn, "answer");
    if (answer != "ok" && answer != "429" && answer != "500" && answer != "400" &&
        answer != "503" && answer != "hang") {
      Respond(conn, 400, "answer must be ok|429|500|503|400|hang\n");
      return true;
    }
    const std::string count = QueryParam(conn, "count");
    const std::string retry_after = QueryParam(conn, "retry_after");
    {
      std::lock_guard lock(g_receiver.mu);
      Mode& m = g_receiver.mode;
      m.answer = answer;
      m.remaining = count.empty() ? -1 : std::stol(count);
      m.retry_after = retry_after.empty() ? -1 : std::stol(retry_after);
      ++m.generation;
    }
    g_receiver.changed.notify_all();
    Respond(conn, 200, "ok\n");
    return true;
  }
};

class ResetHandler : public CivetHandler {
 public:
  bool handlePost(CivetServer* /*server*/, mg_connection* conn) override {
    ReadBody(conn);
    {
      std::lock_guard lock(g_receiver.mu);
      g_receiver.Reset();
      g_receiver.mode.answer = "ok";
      g_receiver.mode.remaining = -1;
      ++g_receiver.mode.generation;
    }
    g_receiver.changed.notify_all();
    Respond(conn, 200, "ok\n");
    return true;
  }
};

void PrintCpu() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double user = static_cast<double>(usage.ru_utime.tv_sec) + usage.ru_utime.tv_usec / 1e6;
  const double sys = static_cast<double>(usage.ru_stime.tv_sec) + usage.ru_stime.tv_usec / 1e6;
  std::fprintf(stderr,
               "loki_receiver cpu: user %.3f s, system %.3f s, total %.3f s; max rss %ld KiB\n",
               user, sys, user + sys, usage.ru_maxrss);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  std::string threads = "32";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--listen") {
      listen = value();
    } else if (arg == "--max-line-size") {
      g_receiver.max_line_size = std::stoull(value());
    } else if (arg == "--no-store-lines") {
      g_receiver.store_lines = false;
    } else if (arg == "--threads") {
      threads = value();
    } else {
      std::fprintf(stderr,
                   "usage: loki_receiver --listen HOST:PORT [--max-line-size BYTES] "
                   "[--no-store-lines] [--threads N]\n");
      return 2;
    }
  }

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  mg_init_library(0);
  PushHandler push;
  EntriesHandler entries;
  StatsHandler stats;
  ModeHandler mode;
  ResetHandler reset;
  std::unique_ptr<CivetServer> server;
  try {
    server = std::make_unique<CivetServer>(std::vector<std::string>{
        "listening_ports", listen, "num_threads", threads, "enable_keep_alive", "yes",
        "request_timeout_ms", "60000", "tcp_nodelay", "1"});
  } catch (const CivetException& e) {
    std::fprintf(stderr, "loki_receiver: cannot listen on %s: %s\n", listen.c_str(), e.what());
    return 1;
  }
  server->addHandler("/loki/api/v1/push", push);
  server->addHandler("/test/entries", entries);
  server->addHandler("/test/stats", stats);
  server->addHandler("/test/mode", mode);
  server->addHandler("/test/reset", reset);
  const std::vector<int> ports = server->getListeningPorts();
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::fprintf(stderr, "listening on http://%s:%d\n", host.c_str(), ports.empty() ? 0 : ports[0]);
  std::fflush(stderr);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  // Report and leave at once: stopping CivetWeb's workers cleanly takes about two seconds, and the
  // tests restart the receiver on the same port ("Loki down") many times. Nothing needs flushing.
  PrintCpu();
  std::fflush(stderr);
  std::_Exit(0);
}
