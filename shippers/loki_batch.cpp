#include "shippers/loki_batch.h"

#include <utility>

namespace swarmwatch {

std::shared_ptr<const StreamIdentity> MakeStreamIdentity(
    std::string labels, std::vector<std::pair<std::string, std::string>> metadata,
    std::string container, std::string service) {
  auto identity = std::make_shared<StreamIdentity>();
  identity->labels = std::move(labels);
  identity->container = std::move(container);
  identity->service = std::move(service);
  for (auto& entry : metadata) {  // (a structured binding hides the moves from clang-tidy)
    identity->metadata_storage.push_back(std::move(entry.first));
    identity->metadata_storage.push_back(std::move(entry.second));
  }
  identity->metadata_storage.emplace_back("truncated");
  identity->metadata_storage.emplace_back("true");
  // Views only once the storage no longer grows.
  const auto& storage = identity->metadata_storage;
  for (std::size_t i = 0; i + 1 < storage.size(); i += 2) {
    const LokiLabel label{storage[i], storage[i + 1]};
    if (i + 2 < storage.size())
      identity->metadata.push_back(label);
    identity->truncated_metadata.push_back(label);
  }
  return identity;
}

LokiBatch::LokiBatch(std::size_t expected_bytes, std::string arena)
    : arena_(std::move(arena)), opened_(std::chrono::steady_clock::now()) {
  arena_.clear();
  arena_.reserve(expected_bytes);
}

void LokiBatch::AddLine(const std::shared_ptr<const StreamIdentity>& stream, std::int64_t time_ns,
                        std::string_view line, bool truncated) {
  auto [it, inserted] = stream_index_.try_emplace(stream.get(), streams_.size());
  if (inserted)
    streams_.push_back(Stream{stream, {}});
  std::vector<Entry>& entries = streams_[it->second].entries;
  entries.push_back(Entry{time_ns, static_cast<std::uint32_t>(arena_.size()),
                          static_cast<std::uint32_t>(line.size()), truncated});
  arena_.append(line);
  line_bytes_ += line.size();
  ++entries_;
}

void LokiBatch::Seal(std::string body) {
  body_ = std::move(body);
  stream_counts_.clear();
  stream_counts_.reserve(streams_.size());
  for (const Stream& stream : streams_)
    stream_counts_.push_back(StreamCount{stream.identity, stream.entries.size()});
  spare_arena_ = std::move(arena_);
  arena_ = std::string();
  std::vector<Stream>().swap(streams_);
  stream_index_.clear();
}

std::vector<LokiStream> LokiBatch::Streams() const {
  std::vector<LokiStream> result;
  result.reserve(streams_.size());
  for (const Stream& stream : streams_) {
    LokiStream& out = result.emplace_back();
    out.labels = stream.identity->labels;
    out.entries.reserve(stream.entries.size());
    for (const Entry& e : stream.entries) {
      out.entries.push_back(
          LokiEntry{e.time_ns, std::string_view(arena_).substr(e.offset, e.length),
                    e.truncated ? std::span<const LokiLabel>(stream.identity->truncated_metadata)
                                : std::span<const LokiLabel>(stream.identity->metadata)});
    }
  }
  return result;
}

}  // namespace swarmwatch
