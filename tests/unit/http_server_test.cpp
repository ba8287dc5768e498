#include "agent/daemon/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "agent/open_file_limit.h"
#include "tests/gunzip.h"

namespace swarmwatch {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// Raw TCP clients: the tests need connections that stay idle or stop in the middle of a request
// line, which no HTTP client library makes.
int ConnectNonBlocking(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Waits until every socket finished connecting (the kernel completes the handshake whether or not
// the server accepted yet); false if one failed or `limit` passed.
bool AllConnected(const std::vector<int>& fds, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  std::vector<pollfd> waiting;
  for (int fd : fds)
    waiting.push_back({fd, POLLOUT, 0});
  while (!waiting.empty()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || ::poll(waiting.data(), waiting.size(), static_cast<int>(left)) < 0)
      return false;
    std::vector<pollfd> still;
    for (const pollfd& p : waiting) {
      if ((p.revents & (POLLERR | POLLHUP)) != 0)
        return false;
      if ((p.revents & POLLOUT) == 0)
        still.push_back({p.fd, POLLOUT, 0});
    }
    waiting.swap(still);
  }
  return true;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

struct Reply {
  bool answered = false;  // a whole answer (to the end of its Content-Length) came back
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  double seconds = 0;  // from connecting to the last byte
};

// Parses one answer at the start of `data`; false while it is incomplete.
bool ParseReply(const std::string& data, bool head, Reply& reply) {
  const std::size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos)
    return false;
  reply.headers.clear();
  std::size_t line_start = data.find("\r\n") + 2;
  reply.status = std::atoi(data.substr(9, 3).c_str());  // "HTTP/1.1 200 OK"
  while (line_start < end) {
    const std::size_t line_end = data.find("\r\n", line_start);
    const std::string line = data.substr(line_start, line_end - line_start);
    const std::size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& ch : name)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    reply.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    line_start = line_end + 2;
  }
  const std::size_t length =
      head ? 0
           : std::stoul(reply.headers.count("content-length") ? reply.headers["content-length"]
                                                              : "0");
  if (data.size() < end + 4 + length)
    return false;
  reply.body = data.substr(end + 4, length);
  return true;
}

// One request on a new connection, waiting at most `limit` for the whole answer.
Reply Exchange(int port, const std::string& request,
               std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  Reply reply;
  const auto start = Clock::now();
  const int fd = ConnectNonBlocking(port);
  if (fd < 0 || !AllConnected({fd}, limit) || !SendAll(fd, request)) {
    if (fd >= 0)
      ::close(fd);
    return reply;
  }
  const bool head = request.starts_with("HEAD ");
  std::string data;
  char buffer[65536];
  while (!reply.answered) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(start + limit - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0)
      break;
    data.append(buffer, static_cast<std::size_t>(n));
    reply.answered = ParseReply(data, head, reply);
  }
  reply.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (reply.answered && head) {
    // Anything after a HEAD answer's headers would be a body sent by mistake: wait a little.
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0 && ::recv(fd, buffer, sizeof buffer, 0) > 0)
      reply.body = "<bytes after a HEAD answer>";
  }
  ::close(fd);
  return reply;
}

std::string Get(const std::string& path, const std::string& extra_headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
}

// A scrape's worth of text (~200 KiB) that takes ~10 ms to make, as the agent's /metrics does.
std::string MetricsText() {
  std::string text;
  for (int i = 0; i < 4000; ++i)
    text += "container_cpu_usage_seconds_total{id=\"/docker/" + std::to_string(i) + "\"} 1.5\n";
  return text;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The agent raises its limit at start (main.cpp); the server sizes its limit from it.
    RaiseOpenFileLimit();
    Start({});
  }

  void Start(const HttpServerOptions& options) {
    server_.reset();
    auto address = ParseListenAddress("127.0.0.1:0");
    ASSERT_TRUE(address.ok());
    auto started = HttpServer::Start(
        *address,
        {
            {"/metrics",
             [this] {
               std::this_thread::sleep_for(std::chrono::milliseconds(10));
               HttpResponse response{200, "text/plain; version=0.0.4; charset=utf-8", metrics_text_,
                                     true};
               response.recycle = [this](std::string&&) { recycled_.fetch_add(1); };
               return response;
             }},
            {"/healthz",
             [] {
               return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
             }},
            {"/ready",
             [] {
               return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"};
             }},
            {"/slow",
             [this] {
               slow_started_.set_value();
               slow_release_.wait();
               return HttpResponse{200, "text/plain; charset=utf-8", "slow\n"};
             }},
        },
        options);
    ASSERT_TRUE(started.ok()) << started.error().message;
    server_ = std::move(started).value();
    ASSERT_FALSE(server_->ListeningPorts().empty());
    port_ = server_->ListeningPorts().front();
    ASSERT_NE(port_, 0);  // the ephemeral port the kernel chose, read back
  }

  // Each endpoint answers 200 within a second; prints the times for the record.
  void ExpectEveryEndpointAnswersWithinASecond(const char* when) {
    for (const char* path : {"/metrics", "/healthz", "/ready"}) {
      const Reply reply = Exchange(port_, Get(path, "Connection: close\r\n"));
      EXPECT_TRUE(reply.answered) << path << " " << when << ": no answer in 5 s";
      EXPECT_EQ(reply.status, 200) << path << " " << when;
      EXPECT_LT(reply.seconds, 1.0) << path << " " << when;
      std::printf("  %-8s %s: %.1f ms\n", path, when, reply.seconds * 1000);
    }
  }

  const std::string metrics_text_ = MetricsText();
  std::atomic<int> recycled_{0};
  std::promise<void> slow_started_;
  std::shared_future<void> slow_release_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

struct HeldConnections {
  std::vector<int> fds;
  ~HeldConnections() { Close(); }
  void Close() {
    for (int fd : fds)
      ::close(fd);
    fds.clear();
  }
};

// A client that connects and sends nothing, or stops in the middle of the request line, holds a
// CivetWeb worker thread until its 10 s timeout: four of them stopped every answer.
TEST_F(HttpServerTest, AnswersWhileAThousandIdleAndAThousandHalfSentConnectionsAreHeld) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < 8192)
    GTEST_SKIP() << "needs 8192 open files (2,000 held connections, both ends, and the server's "
                    "quarter of the limit); the limit is "
                 << limit.rlim_cur;
  HeldConnections idle;
  HeldConnections half_sent;
  for (int i = 0; i < 1000; ++i) {
    idle.fds.push_back(ConnectNonBlocking(port_));
    half_sent.fds.push_back(ConnectNonBlocking(port_));
    ASSERT_GE(idle.fds.back(), 0);
    ASSERT_GE(half_sent.fds.back(), 0);
  }
  ASSERT_TRUE(AllConnected(idle.fds, std::chrono::seconds(10)));
  ASSERT_TRUE(AllConnected(half_sent.fds, std::chrono::seconds(10)));
  for (int fd : half_sent.fds)
    ASSERT_TRUE(SendAll(fd, "GET /metr"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the server take them all

  ExpectEveryEndpointAnswersWithinASecond("with 2,000 connections held");
  idle.Close();
  half_sent.Close();
  ExpectEveryEndpointAnswersWithinASecond("right after they closed");
}

TEST_F(HttpServerTest, HeadAnswersLikeGetWithoutABody) {
  for (const std::string encoding : {"", "Accept-Encoding: gzip\r\n"}) {
    const Reply get = Exchange(port_, Get("/metrics", encoding));
    ASSERT_TRUE(get.answered);
    const Reply head =
        Exchange(port_, "HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + encoding + "\r\n");
    ASSERT_TRUE(head.answered);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(head.headers.at("content-length"), std::to_string(get.body.size()));
    EXPECT_EQ(head.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(head.headers.at("cache-control"), "no-store");
    EXPECT_EQ(head.headers.count("content-encoding"), get.headers.count("content-encoding"));
  }
  const Reply healthz = Exchange(port_, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.headers.at("content-length"), "3");
}

TEST_F(HttpServerTest, RoutesByExactPathWithACleanNotFound) {
  for (const char* path : {"/nope", "/metrics/", "/metricsx", "/healthz/x", "/"}) {
    const Reply reply = Exchange(port_, Get(path));
    ASSERT_TRUE(reply.answered) << path;
    EXPECT_EQ(reply.status, 404) << path;
    EXPECT_EQ(reply.body, "not found\n") << path;
    EXPECT_EQ(reply.headers.at("cache-control"), "no-store");
  }
  const Reply query = Exchange(port_, Get("/healthz?verbose=1"));  // the query is not the path
  EXPECT_EQ(query.status, 200);
  EXPECT_EQ(query.body, "ok\n");
  const Reply post =
      Exchange(port_, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers.at("allow"), "GET, HEAD");
}

TEST_F(HttpServerTest, GzipsWhenAcceptedAndGivesTheBodyBack) {
  const Reply plain = Exchange(port_, Get("/metrics"));
  ASSERT_TRUE(plain.answered);
  EXPECT_EQ(plain.body, metrics_text_);
  EXPECT_EQ(plain.headers.count("content-encoding"), 0u);
  const Reply gzip = Exchange(port_, Get("/metrics", "Accept-Encoding: gzip, deflate\r\n"));
  ASSERT_TRUE(gzip.answered);
  EXPECT_EQ(gzip.headers.at("content-encoding"), "gzip");
  EXPECT_LT(gzip.body.size(), metrics_text_.size() / 4);
  EXPECT_EQ(testing::Gunzip(gzip.body), metrics_text_);
  const Reply refused = Exchange(port_, Get("/metrics", "Accept-Encoding: gzip;q=0\r\n"));
  EXPECT_EQ(refused.body, metrics_text_);
  // /healthz is not compressible: plain whatever the client accepts.
  const Reply small = Exchange(port_, Get("/healthz", "Accept-Encoding: gzip\r\n"));
  EXPECT_EQ(small.body, "ok\n");
  // Each body is handed back once sent (the last maybe just after the client read it).
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (recycled_.load() < 3 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(recycled_.load(), 3);
}

// Prometheus keeps its connection open from one scrape to the next.
TEST_F(HttpServerTest, ServesSeveralRequestsOnOneConnection) {
  const int fd = ConnectNonBlocking(port_);
  ASSERT_TRUE(AllConnected({fd}, std::chrono::seconds(5)));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(SendAll(fd, Get("/healthz")));
    std::string data;
    Reply reply;
    char buffer[4096];
    while (!reply.answered) {
      pollfd p{fd, POLLIN, 0};
      ASSERT_GT(::poll(&p, 1, 5000), 0);
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      ASSERT_GT(n, 0) << "the server closed the connection after " << i << " answers";
      data.append(buffer, static_cast<std::size_t>(n));
      reply.answered = ParseReply(data, false, reply);
    }
    EXPECT_EQ(reply.body, "ok\n");
  }
  ::close(fd);
}

// A handler that takes long (a scrape of a busy node, the status page) holds only its own thread.
TEST_F(HttpServerTest, HealthzAnswersWhileAnotherRequestIsBeingServed) {
  std::promise<void> release;
  slow_release_ = release.get_future().share();
  auto slow = std::async(std::launch::async, [this] { return Exchange(port_, Get("/slow")); });
  slow_started_.get_future().wait();
  const Reply healthz = Exchange(port_, Get("/healthz"));
  EXPECT_EQ(healthz.status, 200);
  EXPECT_LT(healthz.seconds, 1.0);
  release.set_value();
  EXPECT_EQ(slow.get().body, "slow\n");
}

TEST_F(HttpServerTest, ClosesAConnectionThatSendsNothingForTheIdleTimeout) {
  HttpServerOptions options;
  options.idle_timeout = std::chrono::seconds(1);
  Start(options);
  const int fd = ConnectNonBlocking(port_);
  ASSERT_TRUE(AllConnected({fd}, std::chrono::seconds(5)));
  ASSERT_TRUE(SendAll(fd, "GET /metr"));
  const auto start = Clock::now();
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(::poll(&p, 1, 5000), 0) << "still open after 5 s";
  char byte;
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0);  // closed, without an answer
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(900));
  ::close(fd);
}

TEST_F(HttpServerTest, ATakenPortIsAnErrorNamingTheAddress) {
  auto address = ParseListenAddress("127.0.0.1:" + std::to_string(port_));
  ASSERT_TRUE(address.ok());
  auto second = HttpServer::Start(*address, {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.error().message,
              HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(port_)));
  EXPECT_THAT(second.error().message, HasSubstr("in use"));
}

TEST(HttpServer, ListensOnIPv6Loopback) {
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  const bool ipv6 = probe >= 0 && ::bind(probe, reinterpret_cast<const sockaddr*>(&loopback),
                                         sizeof loopback) == 0;
  if (probe >= 0)
    ::close(probe);
  if (!ipv6)
    GTEST_SKIP() << "no IPv6 loopback here";
  auto address = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(address.ok());
  auto server = HttpServer::Start(*address, {{"/healthz", [] { return HttpResponse{}; }}});
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_NE(server.value()->ListeningPorts().front(), 0);
}

}  // namespace
}  // namespace swarmwatch
