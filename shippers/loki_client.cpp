#include "shippers/loki_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "agent/build_info.h"
#include "agent/url_userinfo.h"

namespace swarmwatch {
namespace {

constexpr std::size_t kMaxReasonBytes = 512;
// A 400 lists every refused stream and kind of entry (a stream refused for a long label value
// repeats the value): kept whole up to this size so that what was refused can be counted.
constexpr std::size_t kMaxAnswerBytes = 256 << 10;

std::size_t CollectBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t n = size * count;
  if (body->size() < kMaxAnswerBytes) {
    body->append(data, std::min(n, kMaxAnswerBytes - body->size()));
  }
  return n;
}

std::string TrimReason(std::string_view body) {
  std::string_view text = body.substr(0, std::min(body.size(), kMaxReasonBytes));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

}  // namespace

PushResult ClassifyHttpAnswer(long status, std::string_view body,
                              std::optional<std::chrono::seconds> retry_after) {
  PushResult result;
  result.status = status;
  if (status >= 200 && status < 300) {
    result.kind = PushResult::Kind::kOk;
    return result;
  }
  std::string reason = "HTTP " + std::to_string(status);
  const std::string message = TrimReason(body);
  if (!message.empty()) {
    reason += ": " + message;
  }
  result.reason = std::move(reason);
  if (status == 429 || (status >= 500 && status < 600)) {
    result.kind = PushResult::Kind::kRetry;
    if (status == 429 || status == 503) {
      result.retry_after = retry_after;
    }
  } else {
    result.kind = PushResult::Kind::kDrop;
    result.answer = std::string(body);
  }
  return result;
}

LokiClient::LokiClient(LokiClientOptions options) : options_(std::move(options)) {
  auto userinfo = SplitUrlUserinfo(options_.url);
  if (!userinfo.ok()) {
    throw std::invalid_argument("Loki URL " + RedactUrl(options_.url) + ": " +
                                userinfo.error().message);
  }
  options_.url = std::move(userinfo->url);
  if (userinfo->present && options_.basic_auth_user.empty() &&
      options_.basic_auth_password.empty()) {
    options_.basic_auth_user = std::move(userinfo->user);
    options_.basic_auth_password = std::move(userinfo->password);
  }
  if (options_.user_agent.empty()) {
    options_.user_agent = "swarmwatch/" + std::string(Version());
  }
  curl_ = curl_easy_init();
  if (curl_ == nullptr) {
    throw std::runtime_error("curl_easy_init failed");
  }
  error_buffer_.assign(CURL_ERROR_SIZE, '\0');
  Configure();
}

LokiClient::~LokiClient() {
  curl_slist_free_all(headers_);
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

void LokiClient::Configure() {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe in threads
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response_);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer_.data());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);

  if (!options_.basic_auth_user.empty() || !options_.basic_auth_password.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, options_.basic_auth_user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, options_.basic_auth_password.c_str());
  } else if (!options_.bearer_token.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, options_.bearer_token.c_str());
  }
  if (!options_.tls_ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, options_.tls_ca_file.c_str());
  }
  if (!options_.tls_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.tls_cert_file.c_str());
  }
  if (!options_.tls_key_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.tls_key_file.c_str());
  }
  if (options_.tls_insecure_skip_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  if (options_.format == LokiFormat::kProtobuf) {
    headers_ = curl_slist_append(headers_, "Content-Type: application/x-protobuf");
  } else {
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    if (options_.json_gzip) {
      headers_ = curl_slist_append(headers_, "Content-Encoding: gzip");
    }
  }
  if (!options_.tenant.empty()) {
    headers_ = curl_slist_append(headers_, ("X-Scope-OrgID: " + options_.tenant).c_str());
  }
  headers_ = curl_slist_append(headers_, "Expect:");  // no 100-continue round trip for big batches
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers_);
}

std::string LokiClient::Encode(std::span<const LokiStream> streams) const {
  if (options_.format == LokiFormat::kProtobuf) {
    return EncodeProtobufSnappy(streams);
  }
  return EncodeJson(streams, options_.json_gzip);
}

PushResult LokiClient::Push(const std::string& body) {
  CURL* curl = static_cast<CURL*>(curl_);
  response_.clear();
  error_buffer_[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    PushResult result;
    result.kind = PushResult::Kind::kRetry;
    const char* detail =
        error_buffer_[0] != '\0' ? error_buffer_.c_str() : curl_easy_strerror(code);
    // curl never saw a userinfo; a URL in its message is redacted all the same, as the reason
    // is logged and shown on the status page.
    result.reason = RedactUrlsIn(
        std::string(code == CURLE_OPERATION_TIMEDOUT ? "timeout: " : "transport: ") + detail);
    return result;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  std::optional<std::chrono::seconds> retry_after;
  curl_off_t after = 0;
  if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0) {
    retry_after = std::chrono::seconds(after);
  }
  PushResult result = ClassifyHttpAnswer(status, response_, retry_after);
  result.reason = RedactUrlsIn(result.reason);  // Loki's (or a proxy's) answer may quote a URL
  return result;
}

Backoff::Backoff(BackoffOptions options, std::uint64_t seed) : options_(options), random_(seed) {}

std::chrono::milliseconds Backoff::Next(std::optional<std::chrono::seconds> retry_after) {
  using std::chrono::milliseconds;
  const std::int64_t min = std::max<std::int64_t>(options_.min.count(), 1);
  const std::int64_t max = std::max<std::int64_t>(options_.max.count(), min);
  // min * 2^(attempt+1), capped at max without overflowing.
  std::int64_t ceiling = min;
  for (int i = 0; i <= attempt_ && ceiling < max; ++i) {
    ceiling = std::min(max, ceiling * 2);
  }
  ++attempt_;
  std::uniform_int_distribution<std::int64_t> jitter(min, ceiling);
  std::int64_t delay = jitter(random_);
  if (retry_after) {
    const std::int64_t server =
        std::min<std::int64_t>(std::chrono::duration_cast<milliseconds>(*retry_after).count(), max);
    delay = std::max(delay, server);
  }
  return milliseconds(delay);
}

RetryPolicy::RetryPolicy(int max_attempts, BackoffOptions backoff, std::uint64_t seed)
    : max_attempts_(max_attempts), backoff_(backoff, seed) {}

RetryPolicy::Decision RetryPolicy::OnResult(const PushResult& result) {
  ++attempts_;
  Decision decision{Action::kCommit, std::chrono::milliseconds(0), {}};
  switch (result.kind) {
    case PushResult::Kind::kOk:
      decision.action = Action::kCommit;
      break;
    case PushResult::Kind::kDrop:
      decision.action = Action::kDrop;
      decision.reason = result.reason;
      break;
    case PushResult::Kind::kRetry:
      if (max_attempts_ > 0 && attempts_ >= max_attempts_) {
        decision.action = Action::kDrop;
        decision.reason =
            "gave up after " + std::to_string(attempts_) + " attempts: " + result.reason;
      } else {
        decision.action = Action::kRetry;
        decision.delay = backoff_.Next(result.retry_after);
        return decision;  // same batch: keep the attempt count and the backoff
      }
      break;
  }
  attempts_ = 0;
  backoff_.Reset();
  return decision;
}

}  // namespace swarmwatch
