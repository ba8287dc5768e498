#include "shippers/loki_refusal.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "shippers/loki_push_encoder.h"

namespace swarmwatch {
namespace {

constexpr std::string_view kGroupPrefix = " errors like: ";
constexpr std::string_view kSeparator = "; ";

// The text between the first "'{" and its matching "}'" (label values are quoted, so a '}' inside
// one is skipped).
std::optional<std::string> QuotedStream(std::string_view message) {
  const std::size_t open = message.find("'{");
  if (open == std::string_view::npos)
    return std::nullopt;
  bool in_value = false;
  for (std::size_t i = open + 1; i < message.size(); ++i) {
    const char c = message[i];
    if (in_value) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_value = false;
    } else if (c == '"') {
      in_value = true;
    } else if (c == '}') {
      return std::string(message.substr(open + 1, i - open));
    }
  }
  return std::nullopt;
}

// The count after "total ignored: " in Loki's out-of-order message.
std::optional<std::size_t> TotalIgnored(std::string_view message) {
  constexpr std::string_view kTotal = "total ignored: ";
  const std::size_t at = message.find(kTotal);
  if (at == std::string_view::npos)
    return std::nullopt;
  std::size_t n = 0;
  const char* begin = message.data() + at + kTotal.size();
  const auto [end, ec] = std::from_chars(begin, message.data() + message.size(), n);
  if (ec != std::errc() || end == begin)
    return std::nullopt;
  return n;
}

LokiRefusalGroup Classify(std::string_view message, std::size_t count) {
  LokiRefusalGroup group;
  group.count = count;
  group.message = std::string(message);
  if (auto stream = QuotedStream(message))
    group.stream = std::move(*stream);
  const auto has = [&](std::string_view text) { return message.find(text) != std::string::npos; };
  if (message.starts_with("entry for stream ") && has("has timestamp too old")) {
    group.reason = "too_old";
  } else if (message.starts_with("entry for stream ") && has("has timestamp too new")) {
    group.reason = "too_new";
  } else if (message.starts_with("Max entry size ")) {
    group.reason = "line_too_long";
  } else if (message.starts_with("stream '") && has("' has structured metadata too large: ")) {
    group.reason = "structured_metadata_too_large";  // one entry's, though worded as a stream's
  } else if (message.starts_with("stream '") &&
             has("' has too many structured metadata labels: ")) {
    group.reason = "structured_metadata_too_many";
  } else if (message.starts_with("entry with timestamp ") && has("entry out of order")) {
    group.reason = "out_of_order";
    if (auto ignored = TotalIgnored(message))
      group.count = *ignored * count;
    else
      group.reason = "rejected";
  } else if (message.starts_with("stream '{") && !group.stream.empty()) {
    group.reason = "invalid_labels";
    group.whole_stream = true;
  } else {
    group.reason = "rejected";
  }
  return group;
}

}  // namespace

LokiRefusal ParseLokiRefusal(std::string_view body) {
  LokiRefusal refusal;
  while (!body.empty() && (body.back() == '\n' || body.back() == ' '))
    body.remove_suffix(1);
  if (body.empty()) {
    refusal.understood = false;
    return refusal;
  }
  // "N errors like: <message>; M errors like: <message>". A message may hold "; " (in a quoted
  // label value or line), so a group ends only where the next "; <digits> errors like: " starts.
  const auto group_start = [](std::string_view text, std::size_t at, std::size_t* count,
                              std::size_t* message_at) {
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text.data() + at, text.data() + text.size(), n);
    if (ec != std::errc() || end == text.data() + at)
      return false;
    const std::size_t after = static_cast<std::size_t>(end - text.data());
    if (text.substr(after, kGroupPrefix.size()) != kGroupPrefix)
      return false;
    *count = n;
    *message_at = after + kGroupPrefix.size();
    return true;
  };
  std::size_t count = 0;
  std::size_t message_at = 0;
  if (!group_start(body, 0, &count, &message_at)) {
    // One error alone, without the prefix; several joined by newlines in older Lokis.
    std::size_t start = 0;
    while (start < body.size()) {
      std::size_t end = body.find('\n', start);
      if (end == std::string_view::npos)
        end = body.size();
      if (end > start)
        refusal.groups.push_back(Classify(body.substr(start, end - start), 1));
      start = end + 1;
    }
  } else {
    while (true) {
      std::size_t next = message_at;
      std::size_t next_count = 0;
      std::size_t next_message_at = 0;
      bool found = false;
      while ((next = body.find(kSeparator, next)) != std::string_view::npos) {
        if (group_start(body, next + kSeparator.size(), &next_count, &next_message_at)) {
          found = true;
          break;
        }
        next += kSeparator.size();
      }
      const std::size_t end = found ? next : body.size();
      refusal.groups.push_back(Classify(body.substr(message_at, end - message_at), count));
      if (!found)
        break;
      count = next_count;
      message_at = next_message_at;
    }
  }
  for (const LokiRefusalGroup& group : refusal.groups) {
    if (group.reason == "rejected")
      refusal.understood = false;
  }
  return refusal;
}

bool SameLokiStream(std::string_view loki_stream, std::string_view ours) {
  std::vector<std::pair<std::string, std::string>> theirs, mine;
  if (!ParseLabelSet(loki_stream, &theirs) || !ParseLabelSet(ours, &mine))
    return false;
  // Every label of ours is there with its value; Loki's own additions are allowed.
  for (const auto& [name, value] : mine) {
    bool found = false;
    for (const auto& [their_name, their_value] : theirs) {
      if (their_name == name) {
        found = their_value == value;
        break;
      }
    }
    if (!found)
      return false;
  }
  for (const auto& [name, value] : theirs) {
    if (name == "service_name")
      continue;
    bool ours_too = false;
    for (const auto& pair : mine)
      ours_too = ours_too || pair.first == name;
    if (!ours_too)
      return false;
  }
  return true;
}

std::map<std::string, std::size_t> CountRefused(long status, std::string_view answer,
                                                const std::vector<PushedStream>& streams) {
  std::size_t total = 0;
  for (const PushedStream& stream : streams)
    total += stream.entries;
  std::map<std::string, std::size_t> refused;
  std::size_t known = 0;
  bool all_known = status == 400;
  if (status == 400) {
    const LokiRefusal refusal = ParseLokiRefusal(answer);
    all_known = refusal.understood;
    for (const LokiRefusalGroup& group : refusal.groups) {
      if (group.reason == "rejected")
        continue;
      std::size_t count = group.count;
      if (group.whole_stream) {
        const auto it =
            std::find_if(streams.begin(), streams.end(), [&](const PushedStream& stream) {
              return SameLokiStream(group.stream, stream.labels);
            });
        if (it == streams.end()) {
          all_known = false;
          continue;
        }
        count = it->entries;
      }
      count = std::min(count, total - known);
      if (count == 0)
        continue;
      refused[group.reason] += count;
      known += count;
    }
  }
  if (!all_known && total > known)
    refused["rejected"] += total - known;
  return refused;
}

}  // namespace swarmwatch
