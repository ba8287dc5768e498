#include "agent/healthcheck.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "agent/daemon/http_server.h"

namespace swarmwatch {
namespace {

using ::testing::HasSubstr;

std::string UrlFor(const std::string& listen) {
  auto address = ParseListenAddress(listen);
  EXPECT_TRUE(address.ok()) << listen;
  return address.ok() ? HealthzUrl(*address) : "";
}

TEST(HealthzUrl, EveryInterfaceIsAskedOnLoopbackOfItsFamily) {
  EXPECT_EQ(UrlFor(":9480"), "http://127.0.0.1:9480/healthz");
  EXPECT_EQ(UrlFor("0.0.0.0:9480"), "http://127.0.0.1:9480/healthz");
  EXPECT_EQ(UrlFor("[::]:9480"), "http://[::1]:9480/healthz");
}

TEST(HealthzUrl, AGivenAddressOrNameIsAskedAsIs) {
  EXPECT_EQ(UrlFor("10.0.0.7:9100"), "http://10.0.0.7:9100/healthz");
  EXPECT_EQ(UrlFor("[fd00::7]:9480"), "http://[fd00::7]:9480/healthz");
  EXPECT_EQ(UrlFor("localhost:9480"), "http://localhost:9480/healthz");
}

// A real server on an ephemeral port answering /healthz with `status`; returns its /healthz URL.
class HealthServer {
 public:
  explicit HealthServer(int status) {
    auto address = ParseListenAddress("127.0.0.1:0");
    auto started = HttpServer::Start(*address, {{"/healthz", [status] {
                                                   HttpResponse r;
                                                   r.status = status;
                                                   r.body = "ok\n";
                                                   return r;
                                                 }}});
    EXPECT_TRUE(started.ok()) << started.error().message;
    server_ = std::move(started.value());
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->ListeningPorts().at(0)) + "/healthz";
  }

 private:
  std::unique_ptr<HttpServer> server_;
};

TEST(CheckHealth, OkOnlyWhenTheAgentAnswers200) {
  HealthServer healthy(200);
  EXPECT_TRUE(CheckHealth(healthy.url(), std::chrono::seconds(5)).ok());

  HealthServer failing(503);
  const Status refused = CheckHealth(failing.url(), std::chrono::seconds(5));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("answered 503"));
}

TEST(CheckHealth, NoAgentListeningIsAnErrorNamingTheUrl) {
  std::string url;
  {
    HealthServer gone(200);
    url = gone.url();
  }  // stopped: nothing listens on its port any more
  const Status down = CheckHealth(url, std::chrono::seconds(5));
  ASSERT_FALSE(down.ok());
  EXPECT_THAT(down.message(), HasSubstr(url));
}

}  // namespace
}  // namespace swarmwatch
