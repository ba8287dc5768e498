// The Loki push client: one HTTP POST per batch over a kept-alive libcurl handle, with the answer
// classified the way Promtail and Vector do (2xx ok; 429, 5xx and transport errors retry; other 4xx
// drop), plus the backoff and retry policy that the batcher applies between attempts.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>

#include "shippers/loki_push_encoder.h"

struct curl_slist;

namespace swarmwatch {

enum class LokiFormat : std::uint8_t { kProtobuf, kJson };

struct LokiClientOptions {
  // The full push URL, e.g. http://loki:3100/loki/api/v1/push. A user:password@ in it
  // (percent-encoded, checked by SplitUrlUserinfo beforehand: the constructor throws
  // std::invalid_argument on a bad one) is the basic auth when basic_auth_user and
  // basic_auth_password are both empty; it is never given to curl, so no curl message shows it.
  std::string url;
  std::string tenant;  // sent as X-Scope-OrgID, only when not empty
  std::string basic_auth_user;
  std::string basic_auth_password;
  std::string bearer_token;  // Authorization: Bearer <token> (ignored when basic auth is set)
  std::string tls_ca_file;
  std::string tls_cert_file;  // client certificate (with tls_key_file)
  std::string tls_key_file;
  bool tls_insecure_skip_verify = false;
  std::chrono::milliseconds timeout{10'000};  // whole request, connect included
  LokiFormat format = LokiFormat::kProtobuf;
  bool json_gzip = true;   // with kJson: gzip the body and send Content-Encoding: gzip
  std::string user_agent;  // default: swarmwatch/<version>
};

struct PushResult {
  enum class Kind : std::uint8_t {
    kOk,     // 2xx: Loki accepted the batch
    kRetry,  // 429, 5xx, timeout or connection error: send the same batch again later
    kDrop,   // any other status: Loki will never accept this batch
  };
  Kind kind = Kind::kRetry;
  long status = 0;     // HTTP status; 0 when no answer arrived
  std::string reason;  // for kRetry/kDrop: the status and Loki's message (first 512 bytes), or the
                       // transport error; any URL in it without its userinfo (RedactUrlsIn)
  std::optional<std::chrono::seconds> retry_after;  // Retry-After of a 429 or 503, if given
  std::string
      answer;  // for kDrop: Loki's whole answer (up to 256 KiB), which names what it refused
};

// Classifies an HTTP answer (pure; used by LokiClient::Push and testable on its own).
PushResult ClassifyHttpAnswer(long status, std::string_view body,
                              std::optional<std::chrono::seconds> retry_after);

class LokiClient {
 public:
  explicit LokiClient(LokiClientOptions options);
  ~LokiClient();
  LokiClient(const LokiClient&) = delete;
  LokiClient& operator=(const LokiClient&) = delete;

  // Encodes a batch in the configured format (protobuf + snappy, or JSON, gzipped if configured).
  std::string Encode(std::span<const LokiStream> streams) const;

  // POSTs a body made by Encode and classifies the answer. Blocks up to the timeout. Not
  // thread-safe: one client per pushing thread.
  PushResult Push(const std::string& body);

  // As in effect: the URL without its userinfo, which is in basic_auth_*.
  const LokiClientOptions& options() const { return options_; }

 private:
  void Configure();

  LokiClientOptions options_;
  void* curl_ = nullptr;  // CURL*
  ::curl_slist* headers_ = nullptr;
  std::string response_;
  std::string error_buffer_;
};

// Capped exponential backoff with full jitter: the n-th delay (from 0) is drawn uniformly from
// [min, min(max, min * 2^(n+1))]. Reset after a success.
struct BackoffOptions {
  std::chrono::milliseconds min{500};
  std::chrono::milliseconds max{30'000};  // a restarted Loki is found again within 30 s
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}, std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt. A server's Retry-After, when longer, wins (still capped at
  // max).
  std::chrono::milliseconds Next(std::optional<std::chrono::seconds> retry_after = std::nullopt);
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 random_;
  int attempt_ = 0;
};

// What to do with a batch after one push attempt: commit it (accepted), drop it (rejected for good,
// or out of attempts), or send it again after `delay`. Retries forever unless max_attempts > 0.
class RetryPolicy {
 public:
  enum class Action : std::uint8_t { kCommit, kDrop, kRetry };
  struct Decision {
    Action action;
    std::chrono::milliseconds delay{0};  // for kRetry
    std::string reason;  // for kDrop: Loki's answer or "gave up after N attempts: ..."
  };

  explicit RetryPolicy(int max_attempts = 0, BackoffOptions backoff = {},
                       std::uint64_t seed = std::random_device{}());

  // Call after every attempt of the current batch; after kCommit or kDrop the next call concerns a
  // new batch.
  Decision OnResult(const PushResult& result);

  int attempts() const { return attempts_; }

 private:
  int max_attempts_;
  Backoff backoff_;
  int attempts_ = 0;  // attempts made for the current batch
};

}  // namespace swarmwatch
