// What a Loki 400 answer says it refused. Loki validates a push entry by entry and stream by
// stream, stores what is valid and answers 400 naming the rest, grouped by identical message:
//   "2 errors like: entry for stream '{job="x", ...}' has timestamp too old: ...; 1 errors like:
//    stream '{...}' has label value too long: '...'"
// (a single error comes without the "1 errors like: " prefix). Parsing it lets the shipper count
// as dropped only the entries Loki refused, by reason, and the rest of the batch as sent.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swarmwatch {

struct LokiRefusalGroup {
  // too_old, too_new, line_too_long, out_of_order, structured_metadata_too_large,
  // structured_metadata_too_many (entries);
  // invalid_labels (a whole stream); rejected (a message not understood).
  std::string reason;
  std::size_t count = 0;  // entries for an entry reason; 1 for a stream (one group per stream)
  bool whole_stream = false;
  std::string stream;   // the stream's label set as Loki printed it, when the message names one
  std::string message;  // the group's message, for the log
};

struct LokiRefusal {
  std::vector<LokiRefusalGroup> groups;
  // False when some part of the answer was not understood: the caller cannot tell how many
  // entries were refused and counts the whole batch.
  bool understood = true;
};

LokiRefusal ParseLokiRefusal(std::string_view body);

// A push's streams as the caller knows them: label set (RenderLabelSet's) and entry count.
struct PushedStream {
  std::string_view labels;
  std::size_t entries = 0;
};

// The entries of a refused push (4xx) that Loki did not store, by reason. A 400 whose answer is
// understood counts what it names (the rest of the push was stored); whatever cannot be told
// apart (another status, a message not understood, a stream not found) counts as "rejected", so
// that a loss is never hidden.
std::map<std::string, std::size_t> CountRefused(long status, std::string_view answer,
                                                const std::vector<PushedStream>& streams);

// Whether `loki_stream`, a label set as Loki prints it in an error ({job="x", node="y", ...}),
// names the stream rendered as `ours` by RenderLabelSet. Loki adds labels of its own (a derived
// service_name); those are not compared.
bool SameLokiStream(std::string_view loki_stream, std::string_view ours);

}  // namespace swarmwatch
