// Encoders for Loki's push API: logproto.PushRequest (shippers/push.proto) written by hand and
// compressed with raw snappy, or Loki's JSON push body (optionally gzipped); plus label-set
// rendering. The protobuf encoder is on the shipper's hot path, so it writes the wire format
// straight into one buffer instead of building libprotobuf message objects.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace swarmwatch {

struct LokiLabel {
  std::string_view name;
  std::string_view value;
};

// One log line. The views must outlive the encoder call; `metadata` (structured metadata, e.g. the
// task and container ids) usually points at storage shared by every line of one container.
struct LokiEntry {
  std::int64_t time_ns = 0;  // nanoseconds since the epoch
  std::string_view line;
  std::span<const LokiLabel> metadata;
};

// One stream: a label set in Loki's syntax ({job="x",node="y"}, see RenderLabelSet) and its
// entries, which Loki wants in timestamp order.
struct LokiStream {
  std::string labels;
  std::vector<LokiEntry> entries;
};

// The serialized logproto.PushRequest, uncompressed (what EncodeProtobufSnappy compresses).
std::string EncodeProtobuf(std::span<const LokiStream> streams);

// The body of a `Content-Type: application/x-protobuf` push: PushRequest compressed with snappy's
// block format (not the framed format), as Loki expects.
std::string EncodeProtobufSnappy(std::span<const LokiStream> streams);

// The body of a `Content-Type: application/json` push:
// {"streams":[{"stream":{"job":"x"},"values":[["<ns>","line",{"meta":"data"}]]}]}. Invalid UTF-8 in
// lines, labels and metadata is replaced by U+FFFD (Loki rejects JSON that is not UTF-8). With gzip
// the result is gzip-compressed (send it with `Content-Encoding: gzip`).
std::string EncodeJson(std::span<const LokiStream> streams, bool gzip);

// Whether `name` is a valid Loki/Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*.
bool IsValidLabelName(std::string_view name);

// Turns any string into a valid label name: every byte outside [a-zA-Z0-9_] becomes '_', and a
// leading digit (or an empty name) gets a '_' prepended. "com.docker.stack" -> "com_docker_stack".
std::string SanitizeLabelName(std::string_view name);

// Renders a label set in Loki's syntax, {a="b",c="d"}, sorted by name (Loki's canonical order, so
// the same set always gives the same string). Names are sanitised; values are escaped as Prometheus
// does (\\, \", \n and other control bytes), and each byte that is not UTF-8, and U+FFFD itself,
// becomes '?': Loki refuses a stream label holding U+FFFD (see AppendLabelValueEscaped). Labels
// with an empty value are left out (in Prometheus' model an empty value means the label is
// absent); of duplicate names the first is kept.
std::string RenderLabelSet(std::span<const LokiLabel> labels);

// Parses a label set rendered by RenderLabelSet (or written by hand in the same syntax) back into
// pairs (values unescaped). Returns false on a syntax error.
bool ParseLabelSet(std::string_view text, std::vector<std::pair<std::string, std::string>>* out);

// Appends `text` to `out` as JSON string content (no quotes), escaping as JSON requires and
// replacing invalid UTF-8 sequences by \ufffd.
void AppendJsonEscaped(std::string_view text, std::string* out);

}  // namespace swarmwatch
