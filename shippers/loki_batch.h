// One batch of log lines on its way to Loki: the lines copied into one arena, grouped into
// streams by label set, and the file position each container may commit once Loki accepted it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shippers/log_record.h"
#include "shippers/loki_push_encoder.h"

namespace swarmwatch {

// What a stream is: its rendered label set and the structured metadata of its lines. Shared by the
// batches that hold lines of that stream, so it outlives a container that went away meanwhile.
struct StreamIdentity {
  std::string labels;                         // {job="docker",...}, RenderLabelSet's output
  std::vector<std::string> metadata_storage;  // name, value, name, value, ...
  std::vector<LokiLabel> metadata;            // views into metadata_storage
  std::vector<LokiLabel> truncated_metadata;  // the same plus truncated="true"
  // Whose lines these are, for the per-container count of lines sent.
  std::string container;
  std::string service;
};

std::shared_ptr<const StreamIdentity> MakeStreamIdentity(
    std::string labels, std::vector<std::pair<std::string, std::string>> metadata,
    std::string container = {}, std::string service = {});

class LokiBatch {
 public:
  // `arena` is storage to reuse (a sealed batch's, see TakeArena), cleared and grown as needed.
  explicit LokiBatch(std::size_t expected_bytes, std::string arena = {});

  // Copies the line, with the time Docker wrote for it: Loki takes a stream's entries out of
  // order (since 2.4, within its ingester's window), so a time is never rewritten.
  void AddLine(const std::shared_ptr<const StreamIdentity>& stream, std::int64_t time_ns,
               std::string_view line, bool truncated);
  // Once Loki accepted this batch, `container_id` may resume after `position`.
  void SetCommit(const std::string& container_id, FilePosition position) {
    commits_[container_id] = position;
  }

  // The streams as the encoder wants them; views into this batch, valid until Seal.
  std::vector<LokiStream> Streams() const;

  // Keeps the encoded push body and frees the lines: a batch waiting for Loki holds only the
  // (compressed) body. Counts, commits and sizes stay.
  void Seal(std::string body);
  // After Seal: the line storage, for the next batch to reuse.
  std::string TakeArena() { return std::move(spare_arena_); }
  const std::string& body() const { return body_; }

  // Bytes of the files the batch's lines were read from (JSON and partial pieces included): what
  // the read-ahead budget counts.
  void AddFileBytes(std::size_t bytes) { file_bytes_ += bytes; }
  std::size_t file_bytes() const { return file_bytes_; }

  std::size_t bytes() const { return line_bytes_; }
  std::size_t entries() const { return entries_; }
  bool empty() const { return entries_ == 0; }
  std::chrono::steady_clock::time_point opened() const { return opened_; }
  // Each stream's label set and number of entries; kept after Seal, to count what Loki refused.
  struct StreamCount {
    std::shared_ptr<const StreamIdentity> identity;
    std::size_t entries = 0;
  };
  const std::vector<StreamCount>& stream_counts() const { return stream_counts_; }
  const std::map<std::string, FilePosition>& commits() const { return commits_; }

  // Numbers batches in the order they were sealed, for committing each container in order.
  void SetSequence(std::uint64_t sequence) { sequence_ = sequence; }
  std::uint64_t sequence() const { return sequence_; }

 private:
  struct Entry {
    std::int64_t time_ns;
    std::uint32_t offset;
    std::uint32_t length;
    bool truncated;
  };
  struct Stream {
    std::shared_ptr<const StreamIdentity> identity;
    std::vector<Entry> entries;
  };

  std::string arena_;
  std::size_t line_bytes_ = 0;
  std::string body_;
  std::string spare_arena_;
  std::vector<Stream> streams_;
  std::map<const StreamIdentity*, std::size_t> stream_index_;
  std::map<std::string, FilePosition> commits_;
  std::vector<StreamCount> stream_counts_;
  std::size_t entries_ = 0;
  std::size_t file_bytes_ = 0;
  std::uint64_t sequence_ = 0;
  std::chrono::steady_clock::time_point opened_;
};

}  // namespace swarmwatch
