#include "shippers/loki_client.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace swarmwatch {
namespace {

// Now, as the receiver (like Loki) refuses entries older than a week or ahead of its clock.
const std::int64_t kT0 = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();

using std::chrono::milliseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// Pure parts: classification, backoff, retry policy.

TEST(ClassifyHttpAnswer, FollowsPromtailAndVector) {
  EXPECT_EQ(ClassifyHttpAnswer(204, "", std::nullopt).kind, PushResult::Kind::kOk);
  EXPECT_EQ(ClassifyHttpAnswer(200, "", std::nullopt).kind, PushResult::Kind::kOk);
  for (const long status : {429L, 500L, 502L, 503L, 504L}) {
    EXPECT_EQ(ClassifyHttpAnswer(status, "busy", std::nullopt).kind, PushResult::Kind::kRetry)
        << status;
  }
  for (const long status : {400L, 401L, 403L, 404L, 413L, 301L}) {
    EXPECT_EQ(ClassifyHttpAnswer(status, "no", std::nullopt).kind, PushResult::Kind::kDrop)
        << status;
  }
  const PushResult drop = ClassifyHttpAnswer(400, std::string(2000, 'm') + "\n", std::nullopt);
  EXPECT_EQ(drop.status, 400);
  EXPECT_EQ(drop.reason, "HTTP 400: " + std::string(512, 'm'));
  EXPECT_EQ(ClassifyHttpAnswer(429, "", seconds(7)).retry_after, seconds(7));
  EXPECT_EQ(ClassifyHttpAnswer(503, "", seconds(7)).retry_after, seconds(7));
  EXPECT_EQ(ClassifyHttpAnswer(500, "", seconds(7)).retry_after, std::nullopt);
}

TEST(Backoff, GrowsWithinBoundsAndResets) {
  Backoff backoff(BackoffOptions{milliseconds(500), milliseconds(300'000)}, 42);
  std::int64_t ceiling = 500;
  for (int i = 0; i < 30; ++i) {
    ceiling = std::min<std::int64_t>(ceiling * 2, 300'000);
    const milliseconds delay = backoff.Next();
    EXPECT_GE(delay.count(), 500) << i;
    EXPECT_LE(delay.count(), ceiling) << i;
  }
  EXPECT_EQ(backoff.attempt(), 30);
  backoff.Reset();
  EXPECT_LE(backoff.Next().count(), 1000);

  // Full jitter: late delays spread over the whole [min, max] range.
  Backoff late(BackoffOptions{}, 7);
  for (int i = 0; i < 20; ++i) {
    late.Next();
  }
  std::int64_t low = INT64_MAX;
  std::int64_t high = 0;
  for (int i = 0; i < 200; ++i) {
    const auto d = late.Next().count();
    low = std::min(low, d);
    high = std::max(high, d);
  }
  // The default cap is 30 s: full jitter spreads the delays over [0.5 s, 30 s].
  EXPECT_LT(low, 6'000);
  EXPECT_GT(high, 24'000);
  EXPECT_LE(high, 30'000);
}

TEST(Backoff, SameSeedSameSequenceAndRetryAfterWins) {
  Backoff a(BackoffOptions{}, 1234);
  Backoff b(BackoffOptions{}, 1234);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(a.Next(), b.Next());
  }
  Backoff c(BackoffOptions{milliseconds(500), milliseconds(10'000)}, 1);
  EXPECT_EQ(c.Next(seconds(5)), milliseconds(5000));
  EXPECT_EQ(c.Next(seconds(3600)), milliseconds(10'000));  // capped at max
}

TEST(RetryPolicy, RetriesForeverByDefault) {
  RetryPolicy policy(0, BackoffOptions{}, 3);
  PushResult retry;
  retry.kind = PushResult::Kind::kRetry;
  retry.reason = "HTTP 500";
  for (int i = 0; i < 1000; ++i) {
    const auto decision = policy.OnResult(retry);
    ASSERT_EQ(decision.action, RetryPolicy::Action::kRetry);
    ASSERT_GE(decision.delay, milliseconds(500));
    ASSERT_LE(decision.delay, milliseconds(30'000));
  }
  PushResult ok;
  ok.kind = PushResult::Kind::kOk;
  EXPECT_EQ(policy.OnResult(ok).action, RetryPolicy::Action::kCommit);
  EXPECT_EQ(policy.attempts(), 0);
  EXPECT_LE(policy.OnResult(retry).delay, milliseconds(1000));  // backoff reset by the success
}

TEST(RetryPolicy, GivesUpAfterMaxAttemptsAndDropsRejectedBatches) {
  RetryPolicy policy(3, BackoffOptions{}, 3);
  PushResult retry;
  retry.kind = PushResult::Kind::kRetry;
  retry.reason = "timeout: x";
  EXPECT_EQ(policy.OnResult(retry).action, RetryPolicy::Action::kRetry);
  EXPECT_EQ(policy.OnResult(retry).action, RetryPolicy::Action::kRetry);
  const auto last = policy.OnResult(retry);
  EXPECT_EQ(last.action, RetryPolicy::Action::kDrop);
  EXPECT_EQ(last.reason, "gave up after 3 attempts: timeout: x");
  // The next batch starts afresh.
  EXPECT_EQ(policy.OnResult(retry).action, RetryPolicy::Action::kRetry);
  PushResult rejected;
  rejected.kind = PushResult::Kind::kDrop;
  rejected.reason = "HTTP 400: bad labels";
  const auto drop = policy.OnResult(rejected);
  EXPECT_EQ(drop.action, RetryPolicy::Action::kDrop);
  EXPECT_EQ(drop.reason, "HTTP 400: bad labels");
  EXPECT_EQ(policy.attempts(), 0);
}

// ---------------------------------------------------------------------------------------------
// LokiClient against the tests' Loki receiver, a real process on loopback.

class ReceiverProcess {
 public:
  // Starts loki_receiver on `listen` and waits for its "listening on" line.
  explicit ReceiverProcess(const std::string& listen, std::vector<std::string> extra_args = {}) {
    int fds[2];
    if (pipe(fds) != 0) {
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> args = {LOKI_RECEIVER_BIN, "--listen", listen};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn(&pid_, LOKI_RECEIVER_BIN, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    stderr_ = fdopen(fds[0], "r");
    char line[256];
    if (stderr_ != nullptr && std::fgets(line, sizeof line, stderr_) != nullptr) {
      const std::string text = line;
      const auto colon = text.rfind(':');
      if (text.starts_with("listening on http://") && colon != std::string::npos) {
        port_ = std::stoi(text.substr(colon + 1));
      }
    }
  }
  ~ReceiverProcess() { Stop(); }
  ReceiverProcess(const ReceiverProcess&) = delete;
  ReceiverProcess& operator=(const ReceiverProcess&) = delete;

  // SIGTERM, then returns what it printed on exit (its CPU time).
  std::string Stop() {
    std::string rest;
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      char buf[512];
      while (stderr_ != nullptr && std::fgets(buf, sizeof buf, stderr_) != nullptr) {
        rest += buf;
      }
      waitpid(pid_, nullptr, 0);
      pid_ = 0;
    }
    if (stderr_ != nullptr) {
      std::fclose(stderr_);
      stderr_ = nullptr;
    }
    return rest;
  }

  int port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = 0;
  FILE* stderr_ = nullptr;
  int port_ = 0;
};

std::size_t Collect(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// A plain HTTP call to the receiver's test endpoints.
std::string Http(const std::string& method, const std::string& url, long* status = nullptr) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  const CURLcode code = curl_easy_perform(curl);
  EXPECT_EQ(code, CURLE_OK) << url;
  if (status != nullptr) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
  }
  curl_easy_cleanup(curl);
  return body;
}

std::vector<nlohmann::json> Entries(const ReceiverProcess& receiver) {
  std::vector<nlohmann::json> out;
  std::istringstream lines(Http("GET", receiver.base() + "/test/entries"));
  std::string line;
  while (std::getline(lines, line)) {
    out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

nlohmann::json Stats(const ReceiverProcess& receiver) {
  return nlohmann::json::parse(Http("GET", receiver.base() + "/test/stats"));
}

class LokiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    receiver_ = std::make_unique<ReceiverProcess>("127.0.0.1:0");
    ASSERT_GT(receiver_->port(), 0);
    streams_.resize(1);
    streams_[0].labels = R"({job="docker",node="n1"})";
    streams_[0].entries = {{kT0 + 1, "first line", metadata_},
                           {kT0 + 2, "second \"line\" caf\xC3\xA9", {}}};
  }

  LokiClientOptions Options() const {
    LokiClientOptions options;
    options.url = receiver_->base() + "/loki/api/v1/push";
    // Generous: the receiver is another process, under ASan beside a busy suite once past 2 s.
    options.timeout = milliseconds(10000);
    return options;
  }

  void ExpectStored(const std::string& tenant) {
    const auto entries = Entries(*receiver_);
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0]["labels"], (nlohmann::json{{"job", "docker"}, {"node", "n1"}}));
    EXPECT_EQ(entries[0]["ts"], std::to_string(kT0 + 1));
    EXPECT_EQ(entries[0]["line"], "first line");
    EXPECT_EQ(entries[0]["metadata"], (nlohmann::json{{"task_id", "t1"}}));
    EXPECT_EQ(entries[0]["tenant"], tenant);
    EXPECT_EQ(entries[1]["ts"], std::to_string(kT0 + 2));
    EXPECT_EQ(entries[1]["line"], "second \"line\" caf\xC3\xA9");
    EXPECT_EQ(entries[1]["metadata"], nlohmann::json::object());
  }

  std::vector<LokiLabel> metadata_ = {{"task_id", "t1"}};
  std::vector<LokiStream> streams_;
  std::unique_ptr<ReceiverProcess> receiver_;
};

TEST_F(LokiClientTest, ProtobufPushIsAcceptedAndStoredExactly) {
  LokiClient client(Options());
  const PushResult result = client.Push(client.Encode(streams_));
  EXPECT_EQ(result.kind, PushResult::Kind::kOk) << result.reason;
  EXPECT_EQ(result.status, 204);
  ExpectStored("");
  const auto stats = Stats(*receiver_);
  EXPECT_EQ(stats["last_request"]["content_type"], "application/x-protobuf");
  EXPECT_EQ(stats["last_request"]["content_encoding"], "");
  EXPECT_EQ(stats["last_request"]["tenant"], "");  // no X-Scope-OrgID without a tenant
  EXPECT_EQ(stats["last_request"]["user_agent"], "swarmwatch/" SWARMWATCH_VERSION);
  EXPECT_EQ(stats["pushes"], 1);
}

TEST_F(LokiClientTest, GzippedJsonPushWithTenantAndBasicAuth) {
  LokiClientOptions options = Options();
  options.format = LokiFormat::kJson;
  options.json_gzip = true;
  options.tenant = "team-a";
  options.basic_auth_user = "user";
  options.basic_auth_password = "secret";
  LokiClient client(options);
  const PushResult result = client.Push(client.Encode(streams_));
  EXPECT_EQ(result.kind, PushResult::Kind::kOk) << result.reason;
  ExpectStored("team-a");
  const auto stats = Stats(*receiver_);
  EXPECT_EQ(stats["last_request"]["content_type"], "application/json");
  EXPECT_EQ(stats["last_request"]["content_encoding"], "gzip");
  EXPECT_EQ(stats["last_request"]["tenant"], "team-a");
  EXPECT_EQ(stats["last_request"]["authorization"], "Basic dXNlcjpzZWNyZXQ=");  // user:secret
}

TEST_F(LokiClientTest, BearerTokenArrives) {
  LokiClientOptions options = Options();
  options.bearer_token = "tok3n";
  LokiClient client(options);
  EXPECT_EQ(client.Push(client.Encode(streams_)).kind, PushResult::Kind::kOk);
  EXPECT_EQ(Stats(*receiver_)["last_request"]["authorization"], "Bearer tok3n");
}

// Issue 15, defect 6: user and password may come from the URL, percent-decoded, as curl and
// Promtail take them.
TEST_F(LokiClientTest, UserAndPasswordFromTheUrlArriveAsBasicAuth) {
  LokiClientOptions options = Options();
  options.url = "http://us%40er:p%3As%25s@127.0.0.1:" + std::to_string(receiver_->port()) +
                "/loki/api/v1/push";
  LokiClient client(options);
  const PushResult result = client.Push(client.Encode(streams_));
  EXPECT_EQ(result.kind, PushResult::Kind::kOk) << result.reason;
  // base64("us@er:p:s%s")
  EXPECT_EQ(Stats(*receiver_)["last_request"]["authorization"], "Basic dXNAZXI6cDpzJXM=");
}

TEST_F(LokiClientTest, TransportErrorsDoNotShowTheUrlsPassword) {
  LokiClientOptions options = Options();
  options.url =
      "http://user:pw-Zq9@127.0.0.1:" + std::to_string(receiver_->port()) + "/loki/api/v1/push";
  receiver_->Stop();
  LokiClient client(options);
  const PushResult down = client.Push(client.Encode(streams_));
  EXPECT_EQ(down.kind, PushResult::Kind::kRetry);
  EXPECT_EQ(down.reason.find("pw-Zq9"), std::string::npos) << down.reason;
  options.url = "http://user:pw-Zq9@no-such-host.invalid/loki/api/v1/push";
  LokiClient unresolved(options);
  const PushResult nowhere = unresolved.Push(unresolved.Encode(streams_));
  EXPECT_EQ(nowhere.kind, PushResult::Kind::kRetry);
  EXPECT_EQ(nowhere.reason.find("pw-Zq9"), std::string::npos) << nowhere.reason;
}

TEST_F(LokiClientTest, InvalidPushIsDroppedWithLokisMessage) {
  LokiClient client(Options());
  std::vector<LokiStream> bad(1);
  bad[0].labels = "{job=docker}";
  bad[0].entries = {{1, "x", {}}};
  PushResult result = client.Push(client.Encode(bad));
  EXPECT_EQ(result.kind, PushResult::Kind::kDrop);
  EXPECT_EQ(result.status, 400);
  EXPECT_NE(result.reason.find("HTTP 400: Error parsing labels '{job=docker}'"), std::string::npos)
      << result.reason;

  // Loki 3 takes a stream's entries out of order within its window (an hour back), but not
  // beyond it, nor older than a week; the answer says which.
  ASSERT_EQ(client.Push(client.Encode(streams_)).kind, PushResult::Kind::kOk);
  std::vector<LokiStream> older(1);
  older[0].labels = streams_[0].labels;
  older[0].entries = {{kT0 - 1'000'000'000, "a second back", {}}};
  EXPECT_EQ(client.Push(client.Encode(older)).kind, PushResult::Kind::kOk);
  older[0].entries = {{kT0 - 7'200'000'000'000, "two hours back", {}}};
  result = client.Push(client.Encode(older));
  EXPECT_EQ(result.kind, PushResult::Kind::kDrop);
  EXPECT_NE(result.reason.find("entry out of order"), std::string::npos) << result.reason;
  older[0].entries = {{5, "too old", {}}, {6, "too old too", {}}};
  result = client.Push(client.Encode(older));
  EXPECT_EQ(result.kind, PushResult::Kind::kDrop);
  EXPECT_EQ(result.answer.rfind("2 errors like: entry for stream '{job=\"docker\", node=\"n1\"}' "
                                "has timestamp too old: 1970-01-01T00:00:00Z",
                                0),
            0U)
      << result.answer;

  // No labels at all.
  std::vector<LokiStream> unlabelled(1);
  unlabelled[0].labels = "{}";
  unlabelled[0].entries = {{1, "x", {}}};
  result = client.Push(client.Encode(unlabelled));
  EXPECT_EQ(result.kind, PushResult::Kind::kDrop);
  EXPECT_NE(result.reason.find("at least one label pair"), std::string::npos) << result.reason;
}

TEST_F(LokiClientTest, AnswersToldByTheTestAreClassified) {
  LokiClient client(Options());
  const std::string body = client.Encode(streams_);

  Http("POST", receiver_->base() + "/test/mode?answer=429&count=1&retry_after=3");
  PushResult result = client.Push(body);
  EXPECT_EQ(result.kind, PushResult::Kind::kRetry);
  EXPECT_EQ(result.status, 429);
  EXPECT_EQ(result.retry_after, seconds(3));

  Http("POST", receiver_->base() + "/test/mode?answer=500&count=1");
  result = client.Push(body);
  EXPECT_EQ(result.kind, PushResult::Kind::kRetry);
  EXPECT_EQ(result.status, 500);

  Http("POST", receiver_->base() + "/test/mode?answer=400&count=1");
  result = client.Push(body);
  EXPECT_EQ(result.kind, PushResult::Kind::kDrop);
  EXPECT_EQ(result.status, 400);
  EXPECT_NE(result.reason.find("answering 400"), std::string::npos) << result.reason;

  // The counts ran out: back to accepting.
  result = client.Push(body);
  EXPECT_EQ(result.kind, PushResult::Kind::kOk) << result.reason;
  const auto stats = Stats(*receiver_);
  EXPECT_EQ(stats["rejected"]["429"], 1);
  EXPECT_EQ(stats["rejected"]["500"], 1);
  EXPECT_EQ(stats["rejected"]["400"], 1);
  EXPECT_EQ(stats["entries"], 2);
}

TEST_F(LokiClientTest, HangingLokiIsRetriedAfterTheTimeout) {
  LokiClientOptions options = Options();
  // Long enough for a push on a fresh connection under sanitizers: a push the client gave up on
  // but the receiver stored would make the same entries "out of order" below.
  options.timeout = milliseconds(1000);
  LokiClient client(options);
  Http("POST", receiver_->base() + "/test/mode?answer=hang");
  const auto start = std::chrono::steady_clock::now();
  const PushResult result = client.Push(client.Encode(streams_));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.kind, PushResult::Kind::kRetry);
  EXPECT_EQ(result.status, 0);
  EXPECT_TRUE(result.reason.starts_with("timeout")) << result.reason;
  EXPECT_GE(elapsed, milliseconds(900));
  EXPECT_LT(elapsed, milliseconds(3000));
  Http("POST", receiver_->base() + "/test/mode?answer=ok");
  // The same client works again. Its next push opens a new connection, which under sanitizers on
  // a busy machine was once seen to take longer than the 1 s timeout itself: up to three tries (a
  // client that stayed broken fails them all). Each starts from an empty receiver: a push given up
  // on may still have been stored, and the same entries again would be "out of order".
  PushResult again;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Http("POST", receiver_->base() + "/test/reset");
    again = client.Push(client.Encode(streams_));
    if (again.kind != PushResult::Kind::kRetry)
      break;
  }
  EXPECT_EQ(again.kind, PushResult::Kind::kOk) << again.reason;
}

TEST_F(LokiClientTest, ReceiverDownIsRetriedAndTheSameClientRecovers) {
  LokiClient client(Options());
  const std::string body = client.Encode(streams_);
  ASSERT_EQ(client.Push(body).kind, PushResult::Kind::kOk);  // a kept-alive connection exists
  const int port = receiver_->port();
  const std::string exit_report = receiver_->Stop();
  EXPECT_NE(exit_report.find("loki_receiver cpu:"), std::string::npos) << exit_report;

  const PushResult down = client.Push(body);
  EXPECT_EQ(down.kind, PushResult::Kind::kRetry);
  EXPECT_EQ(down.status, 0);
  EXPECT_TRUE(down.reason.starts_with("transport: ")) << down.reason;

  // Up again on the same port (the receiver reuses the address).
  receiver_ = std::make_unique<ReceiverProcess>("127.0.0.1:" + std::to_string(port));
  ASSERT_EQ(receiver_->port(), port);
  const PushResult up = client.Push(body);
  EXPECT_EQ(up.kind, PushResult::Kind::kOk) << up.reason;
  ExpectStored("");
}

TEST(LokiReceiver, EnforcesTheMaximumLineSize) {
  ReceiverProcess receiver("127.0.0.1:0", {"--max-line-size", "10"});
  ASSERT_GT(receiver.port(), 0);
  LokiClientOptions options;
  options.url = receiver.base() + "/loki/api/v1/push";
  LokiClient client(options);
  std::vector<LokiStream> streams(1);
  streams[0].labels = R"({job="x"})";
  streams[0].entries = {{kT0 + 1, "short", {}}, {kT0 + 2, "much too long a line", {}}};
  const PushResult result = client.Push(client.Encode(streams));
  EXPECT_EQ(result.kind, PushResult::Kind::kDrop);
  EXPECT_NE(result.reason.find("Max entry size '10' bytes exceeded for stream '{job=\"x\"}'"),
            std::string::npos)
      << result.reason;
  // Like Loki, the valid entry of the push was kept.
  EXPECT_EQ(Stats(receiver)["entries"], 1);
}

}  // namespace
}  // namespace swarmwatch
