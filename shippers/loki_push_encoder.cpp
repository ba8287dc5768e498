#include "shippers/loki_push_encoder.h"

#include <libdeflate.h>
#include <snappy.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <deque>
#include <memory>
#include <utility>

#include "agent/utf8.h"

namespace swarmwatch {
namespace {

// Returns `s` when it is valid UTF-8, else a repaired copy kept alive in `store`.
std::string_view Utf8Safe(std::string_view s, std::deque<std::string>* store) {
  if (IsValidUtf8(s)) {
    return s;
  }
  store->push_back(Utf8Repaired(s));
  return store->back();
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format

// Tags: (field number << 3) | wire type; wire type 0 = varint, 2 = length-delimited.
constexpr char kTagField1Len = 0x0a;
constexpr char kTagField2Len = 0x12;
constexpr char kTagField3Len = 0x1a;
constexpr char kTagField1Varint = 0x08;
constexpr char kTagField2Varint = 0x10;

inline std::size_t VarintSize(std::uint64_t v) {
  return (static_cast<std::size_t>(std::bit_width(v | 1)) + 6) / 7;
}

inline char* WriteVarint(char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Size of a length-delimited field (tag + length + payload) with a payload of `n` bytes.
inline std::size_t LenFieldSize(std::size_t n) {
  return 1 + VarintSize(n) + n;
}

inline char* WriteLenField(char* p, char tag, std::string_view bytes) {
  *p++ = tag;
  p = WriteVarint(p, bytes.size());
  std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

struct SplitTime {
  std::int64_t seconds;
  std::int32_t nanos;  // always in [0, 1e9), as google.protobuf.Timestamp requires
};

inline SplitTime Split(std::int64_t time_ns) {
  std::int64_t seconds = time_ns / 1'000'000'000;
  std::int64_t nanos = time_ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    seconds -= 1;
  }
  return {seconds, static_cast<std::int32_t>(nanos)};
}

// proto3 leaves fields at their default value (0, "") out of the encoding.
inline std::size_t TimestampSize(SplitTime t) {
  std::size_t n = 0;
  if (t.seconds != 0) {
    n += 1 + VarintSize(static_cast<std::uint64_t>(t.seconds));
  }
  if (t.nanos != 0) {
    n += 1 + VarintSize(static_cast<std::uint64_t>(t.nanos));
  }
  return n;
}

inline std::size_t StringFieldSize(std::string_view s) {
  return s.empty() ? 0 : LenFieldSize(s.size());
}

// The per-call working state: entry sizes computed by the sizing pass and used again by the writing
// pass, plus the repaired copies of strings that were not valid UTF-8 (proto3 strings must be).
struct ProtoScratch {
  std::vector<std::uint32_t> entry_sizes;
  std::vector<std::string_view> lines;
  std::vector<std::uint32_t> stream_sizes;
  std::deque<std::string> repaired;
  std::deque<std::vector<LokiLabel>> repaired_metadata;
  std::vector<std::span<const LokiLabel>> metadata;
};

// Returns `metadata` when every name and value is valid UTF-8, else a repaired copy kept alive in
// `sets` (rare: the ids put in structured metadata are ASCII).
std::span<const LokiLabel> SafeMetadata(std::span<const LokiLabel> metadata,
                                        std::deque<std::string>* strings,
                                        std::deque<std::vector<LokiLabel>>* sets) {
  for (const LokiLabel& label : metadata) {
    if (!IsValidUtf8(label.name) || !IsValidUtf8(label.value)) {
      std::vector<LokiLabel>& copy = sets->emplace_back();
      for (const LokiLabel& l : metadata) {
        copy.push_back({Utf8Safe(l.name, strings), Utf8Safe(l.value, strings)});
      }
      return copy;
    }
  }
  return metadata;
}

std::size_t LabelPairSize(const LokiLabel& label) {
  return StringFieldSize(label.name) + StringFieldSize(label.value);
}

void EncodeProtobufInto(std::span<const LokiStream> streams, std::string* out) {
  thread_local ProtoScratch scratch;
  scratch.entry_sizes.clear();
  scratch.lines.clear();
  scratch.stream_sizes.clear();
  scratch.repaired.clear();
  scratch.repaired_metadata.clear();
  scratch.metadata.clear();

  // Pass 1: sizes of every nested message, so that each length prefix is known before its payload.
  std::size_t total = 0;
  for (const LokiStream& stream : streams) {
    std::size_t stream_size = StringFieldSize(stream.labels);
    for (const LokiEntry& entry : stream.entries) {
      const std::string_view line = Utf8Safe(entry.line, &scratch.repaired);
      const std::span<const LokiLabel> metadata =
          SafeMetadata(entry.metadata, &scratch.repaired, &scratch.repaired_metadata);
      std::size_t entry_size = 1 + 1 + TimestampSize(Split(entry.time_ns));  // tag, length < 128
      entry_size += StringFieldSize(line);
      for (const LokiLabel& label : metadata) {
        entry_size += LenFieldSize(LabelPairSize(label));
      }
      scratch.entry_sizes.push_back(static_cast<std::uint32_t>(entry_size));
      scratch.lines.push_back(line);
      scratch.metadata.push_back(metadata);
      stream_size += LenFieldSize(entry_size);
    }
    scratch.stream_sizes.push_back(static_cast<std::uint32_t>(stream_size));
    total += LenFieldSize(stream_size);
  }

  // Pass 2: write.
  out->resize(total);
  char* p = out->data();
  std::size_t entry_index = 0;
  for (std::size_t s = 0; s < streams.size(); ++s) {
    const LokiStream& stream = streams[s];
    *p++ = kTagField1Len;  // PushRequest.streams
    p = WriteVarint(p, scratch.stream_sizes[s]);
    if (!stream.labels.empty()) {
      p = WriteLenField(p, kTagField1Len, stream.labels);  // StreamAdapter.labels
    }
    for (const LokiEntry& entry : stream.entries) {
      *p++ = kTagField2Len;  // StreamAdapter.entries
      p = WriteVarint(p, scratch.entry_sizes[entry_index]);
      const SplitTime t = Split(entry.time_ns);
      *p++ = kTagField1Len;  // EntryAdapter.timestamp
      *p++ = static_cast<char>(TimestampSize(t));
      if (t.seconds != 0) {
        *p++ = kTagField1Varint;  // Timestamp.seconds
        p = WriteVarint(p, static_cast<std::uint64_t>(t.seconds));
      }
      if (t.nanos != 0) {
        *p++ = kTagField2Varint;  // Timestamp.nanos
        p = WriteVarint(p, static_cast<std::uint64_t>(t.nanos));
      }
      const std::string_view line = scratch.lines[entry_index];
      if (!line.empty()) {
        p = WriteLenField(p, kTagField2Len, line);  // EntryAdapter.line
      }
      for (const LokiLabel& label : scratch.metadata[entry_index]) {
        *p++ = kTagField3Len;  // EntryAdapter.structuredMetadata
        p = WriteVarint(p, LabelPairSize(label));
        if (!label.name.empty()) {
          p = WriteLenField(p, kTagField1Len, label.name);
        }
        if (!label.value.empty()) {
          p = WriteLenField(p, kTagField2Len, label.value);
        }
      }
      ++entry_index;
    }
  }
  out->resize(static_cast<std::size_t>(p - out->data()));
}

// ---------------------------------------------------------------------------------------------
// JSON

// 0: copy as is; 1: needs an escape; 2: first byte of a multi-byte UTF-8 sequence (validate).
constexpr std::array<std::uint8_t, 256> MakeJsonClass() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 0x20; ++c) {
    table[c] = 1;
  }
  table['"'] = 1;
  table['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) {
    table[c] = 2;
  }
  return table;
}
constexpr std::array<std::uint8_t, 256> kJsonClass = MakeJsonClass();

std::string GzipCompress(std::string_view data) {
  struct CompressorDeleter {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  // Level 1: JSON is the fallback format; keep its CPU cost low.
  thread_local std::unique_ptr<libdeflate_compressor, CompressorDeleter> compressor(
      libdeflate_alloc_compressor(1));
  std::string out(libdeflate_gzip_compress_bound(compressor.get(), data.size()), '\0');
  const std::size_t n =
      libdeflate_gzip_compress(compressor.get(), data.data(), data.size(), out.data(), out.size());
  out.resize(n);
  return out;
}

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  AppendJsonEscaped(text, out);
  out->push_back('"');
}

// ---------------------------------------------------------------------------------------------
// Label sets

// Loki parses a stream's labels with Prometheus' PromQL lexer, which takes U+FFFD for a decoding
// error: Loki 3.4.6 answers 400 "parse error: invalid UTF-8 rune" to a label value holding it, raw
// or written \ufffd, in both push formats, and refuses every line of the stream. So a byte that is
// not UTF-8, and U+FFFD itself (Docker's replacement for such a byte), become this instead.
constexpr char kLokiLabelReplacement = '?';

void AppendLabelValueEscaped(std::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  for (std::size_t i = 0; i < value.size();) {
    const unsigned char c = p[i];
    if (c >= 0x80) {
      const std::size_t length = Utf8SequenceLength(p + i, value.size() - i);
      if (length == 0 || value.substr(i, length) == kUtf8Replacement) {
        out->push_back(kLokiLabelReplacement);  // one per invalid byte, as Go replaces them
        i += length == 0 ? 1 : length;
      } else {
        out->append(value.data() + i, length);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '\\':
        *out += "\\\\";
        break;
      case '"':
        *out += "\\\"";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          *out += "\\x";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

void AppendUtf8(std::uint32_t cp, std::string* out) {
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

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsNameChar(char c) {
  return IsNameStart(c) || (c >= '0' && c <= '9');
}

}  // namespace

void AppendJsonEscaped(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t run_start = 0;
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t cls = kJsonClass[p[i]];
    if (cls == 0) {
      ++i;
      continue;
    }
    if (cls == 2) {
      const std::size_t len = Utf8SequenceLength(p + i, n - i);
      if (len != 0) {
        i += len;
        continue;
      }
    }
    out->append(text.data() + run_start, i - run_start);
    const unsigned char c = p[i];
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20) {
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          *out += "\\ufffd";  // a byte that does not start a well-formed UTF-8 sequence
        }
    }
    ++i;
    run_start = i;
  }
  out->append(text.data() + run_start, n - run_start);
}

std::string EncodeProtobuf(std::span<const LokiStream> streams) {
  std::string out;
  EncodeProtobufInto(streams, &out);
  return out;
}

std::string EncodeProtobufSnappy(std::span<const LokiStream> streams) {
  // Both buffers are reused from batch to batch: a fresh megabyte each time costs page faults (and
  // zeroing), and the body that is kept until Loki answers is copied out at its exact size.
  thread_local std::string raw;
  thread_local std::string compressed;
  EncodeProtobufInto(streams, &raw);
  const std::size_t bound = snappy::MaxCompressedLength(raw.size());
  if (compressed.size() < bound) {
    compressed.resize(bound);
  }
  std::size_t n = 0;
  snappy::RawCompress(raw.data(), raw.size(), compressed.data(), &n);
  std::string body(compressed.data(), n);
  if (raw.capacity() > (64u << 20)) {
    std::string().swap(raw);  // do not keep an outsized buffer after an unusual batch
    std::string().swap(compressed);
  }
  return body;
}

std::string EncodeJson(std::span<const LokiStream> streams, bool gzip) {
  std::size_t estimate = 16;
  for (const LokiStream& stream : streams) {
    estimate += stream.labels.size() + 32;
    for (const LokiEntry& entry : stream.entries) {
      estimate += entry.line.size() + 32;
    }
  }
  std::string out;
  out.reserve(estimate + estimate / 16);
  out += R"({"streams":[)";
  std::vector<std::pair<std::string, std::string>> labels;
  bool first_stream = true;
  for (const LokiStream& stream : streams) {
    if (!first_stream) {
      out.push_back(',');
    }
    first_stream = false;
    out += R"({"stream":{)";
    labels.clear();
    ParseLabelSet(stream.labels, &labels);
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i != 0) {
        out.push_back(',');
      }
      AppendJsonString(labels[i].first, &out);
      out.push_back(':');
      AppendJsonString(labels[i].second, &out);
    }
    out += R"(},"values":[)";
    bool first_entry = true;
    for (const LokiEntry& entry : stream.entries) {
      if (!first_entry) {
        out.push_back(',');
      }
      first_entry = false;
      out += "[\"";
      out += std::to_string(entry.time_ns);
      out += "\",";
      AppendJsonString(entry.line, &out);
      if (!entry.metadata.empty()) {
        out += ",{";
        for (std::size_t i = 0; i < entry.metadata.size(); ++i) {
          if (i != 0) {
            out.push_back(',');
          }
          AppendJsonString(entry.metadata[i].name, &out);
          out.push_back(':');
          AppendJsonString(entry.metadata[i].value, &out);
        }
        out.push_back('}');
      }
      out.push_back(']');
    }
    out += "]}";
  }
  out += "]}";
  if (gzip) {
    return GzipCompress(out);
  }
  return out;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), IsNameChar);
}

std::string SanitizeLabelName(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) {
    out.push_back('_');
  }
  for (const char c : name) {
    out.push_back(IsNameChar(c) ? c : '_');
  }
  return out;
}

std::string RenderLabelSet(std::span<const LokiLabel> labels) {
  std::vector<std::pair<std::string, std::string_view>> sorted;
  sorted.reserve(labels.size());
  for (const LokiLabel& label : labels) {
    if (!label.value.empty()) {
      sorted.emplace_back(SanitizeLabelName(label.name), label.value);
    }
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "{";
  const std::string* previous = nullptr;
  for (const auto& [name, value] : sorted) {
    if (previous != nullptr && *previous == name) {
      continue;
    }
    if (previous != nullptr) {
      out.push_back(',');
    }
    previous = &name;
    out += name;
    out += "=\"";
    AppendLabelValueEscaped(value, &out);
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

bool ParseLabelSet(std::string_view text, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) {
      ++i;
    }
  };
  skip_spaces();
  if (i >= text.size() || text[i] != '{') {
    return false;
  }
  ++i;
  skip_spaces();
  if (i < text.size() && text[i] == '}') {
    ++i;
    skip_spaces();
    return i == text.size();
  }
  while (true) {
    skip_spaces();
    const std::size_t name_start = i;
    while (i < text.size() && IsNameChar(text[i])) {
      ++i;
    }
    std::string name(text.substr(name_start, i - name_start));
    if (!IsValidLabelName(name)) {
      return false;
    }
    skip_spaces();
    if (i >= text.size() || text[i] != '=') {
      return false;
    }
    ++i;
    skip_spaces();
    if (i >= text.size() || text[i] != '"') {
      return false;
    }
    ++i;
    std::string value;
    while (true) {
      if (i >= text.size()) {
        return false;
      }
      const char c = text[i++];
      if (c == '"') {
        break;
      }
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (i >= text.size()) {
        return false;
      }
      const char e = text[i++];
      switch (e) {
        case '\\':
        case '"':
        case '\'':
          value.push_back(e);
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'x': {
          if (i + 2 > text.size() || HexValue(text[i]) < 0 || HexValue(text[i + 1]) < 0) {
            return false;
          }
          value.push_back(static_cast<char>(HexValue(text[i]) * 16 + HexValue(text[i + 1])));
          i += 2;
          break;
        }
        case 'u': {
          if (i + 4 > text.size()) {
            return false;
          }
          std::uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) {
            const int h = HexValue(text[i + k]);
            if (h < 0) {
              return false;
            }
            cp = cp * 16 + static_cast<std::uint32_t>(h);
          }
          i += 4;
          AppendUtf8(cp, &value);
          break;
        }
        default:
          return false;
      }
    }
    out->emplace_back(std::move(name), std::move(value));
    skip_spaces();
    if (i >= text.size()) {
      return false;
    }
    if (text[i] == ',') {
      ++i;
      continue;
    }
    if (text[i] == '}') {
      ++i;
      skip_spaces();
      return i == text.size();
    }
    return false;
  }
}

}  // namespace swarmwatch
