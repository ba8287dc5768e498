#include "agent/curl_docker_api.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace swarmwatch {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string Chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

// A canned HTTP server on a unix socket in a temp dir: one thread accepts connections one at a
// time, reads a request's headers and hands the connection to `handler`; the connection is closed
// when the handler returns.
class UnixHttpServer {
 public:
  using Handler = std::function<void(int fd, const std::string& request_head)>;

  explicit UnixHttpServer(Handler handler) : handler_(std::move(handler)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("swarmwatch_curl_test_" + std::to_string(::getpid()) + "_" + std::to_string(++count_));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "docker.sock").string();
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 8) != 0) {
      ADD_FAILURE() << "cannot listen on " << path_ << ": " << std::strerror(errno);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~UnixHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
    std::filesystem::remove_all(dir_);
  }
  UnixHttpServer(const UnixHttpServer&) = delete;
  UnixHttpServer& operator=(const UnixHttpServer&) = delete;

  std::string host() const { return "unix://" + path_; }
  std::vector<std::string> requests() {
    const std::lock_guard lock(mu_);
    return requests_;
  }
  bool stopping() const { return stop_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        continue;
      }
      // Serve requests on this connection until the client closes it (keep-alive).
      while (!stop_) {
        std::string head;
        char c;
        while (head.find("\r\n\r\n") == std::string::npos) {
          pollfd q{fd, POLLIN, 0};
          if (::poll(&q, 1, 20) <= 0) {
            if (stop_) {
              break;
            }
            continue;
          }
          if (::recv(fd, &c, 1, 0) != 1) {
            break;
          }
          head += c;
        }
        if (head.find("\r\n\r\n") == std::string::npos) {
          break;
        }
        {
          const std::lock_guard lock(mu_);
          requests_.push_back(head.substr(0, head.find("\r\n")));
        }
        handler_(fd, head);
        if (close_after_each_) {
          break;
        }
      }
      ::close(fd);
    }
  }

  static inline int count_ = 0;
  Handler handler_;
  std::filesystem::path dir_;
  std::string path_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  bool close_after_each_ = true;
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

std::string Response(int status, std::string_view reason, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

std::unique_ptr<CurlDockerApi> Connect(const std::string& host) {
  CurlDockerApi::Options options;
  options.request_timeout = milliseconds(3000);
  options.connect_timeout = milliseconds(1000);
  auto api = CurlDockerApi::Create(host, options);
  EXPECT_TRUE(api) << api.error().message;
  return std::move(api).value();
}

TEST(CurlDockerApiCreate, Schemes) {
  EXPECT_TRUE(CurlDockerApi::Create("unix:///var/run/docker.sock"));
  EXPECT_TRUE(CurlDockerApi::Create("tcp://127.0.0.1:2375"));
  EXPECT_TRUE(CurlDockerApi::Create("http://docker:2375/"));
  auto https = CurlDockerApi::Create("https://docker:2376");
  ASSERT_FALSE(https);
  EXPECT_NE(https.error().message.find("unsupported scheme"), std::string::npos);
  EXPECT_FALSE(CurlDockerApi::Create("unix://relative.sock"));
  EXPECT_FALSE(CurlDockerApi::Create("tcp://"));
  EXPECT_FALSE(CurlDockerApi::Create("/var/run/docker.sock"));
}

TEST(CurlDockerApi, NormalAnswers) {
  UnixHttpServer server([](int fd, const std::string& head) {
    if (head.starts_with("GET /v1.41/info ")) {
      SendAll(fd, Response(200, "OK", R"({"ID":"x","Name":"node1","CgroupDriver":"systemd"})"));
    } else if (head.starts_with("GET /v1.41/containers/json?all=1 ")) {
      SendAll(fd, Response(200, "OK", R"([{"Id":"aaa"},{"Id":"bbb"}])"));
    } else if (head.starts_with("GET /v1.41/containers/aaa/json ")) {
      SendAll(fd, Response(200, "OK",
                           R"({"Id":"aaa","Name":"/web","State":{"Running":true,"Pid":7}})"));
    } else {
      SendAll(fd, Response(404, "Not Found", R"({"message":"page not found"})"));
    }
  });
  auto api = Connect(server.host());
  auto info = api->Info();
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->name, "node1");
  EXPECT_EQ(info->cgroup_driver, "systemd");
  auto ids = api->ListContainerIds();
  ASSERT_TRUE(ids) << ids.error().message;
  EXPECT_EQ(*ids, (std::vector<std::string>{"aaa", "bbb"}));
  auto c = api->InspectContainer("aaa");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->name, "web");
  EXPECT_EQ(c->pid, 7);
  EXPECT_FALSE(api->InspectContainer("../info"));  // never sent
  EXPECT_EQ(server.requests().size(), 3U);
  for (const auto& r : server.requests()) {
    EXPECT_TRUE(r.ends_with(" HTTP/1.1")) << r;
  }
}

TEST(CurlDockerApi, NotFoundCarriesDockersMessage) {
  UnixHttpServer server([](int fd, const std::string&) {
    SendAll(fd, Response(404, "Not Found", R"({"message":"No such container: nope"})"));
  });
  auto api = Connect(server.host());
  auto c = api->InspectContainer("nope");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("404"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("No such container: nope"), std::string::npos)
      << c.error().message;
}

TEST(CurlDockerApi, ServerClosingMidResponseIsAnError) {
  UnixHttpServer server([](int fd, const std::string&) {
    SendAll(fd,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            R"({"ID":"x","Na)");
  });
  auto api = Connect(server.host());
  auto info = api->Info();
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("/info"), std::string::npos) << info.error().message;
}

TEST(CurlDockerApi, AbsentSocket) {
  auto api = Connect("unix:///nonexistent-dir/docker.sock");
  auto info = api->Info();
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("/nonexistent-dir/docker.sock"), std::string::npos)
      << info.error().message;
  std::atomic<bool> stop{false};
  const Status s = api->StreamEvents(
      0, [](const DockerEvent&) {}, stop);
  EXPECT_FALSE(s);
}

constexpr std::string_view kChunkedHead =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(CurlDockerApi, EventStreamSplitsObjectsAcrossChunksThenReportsTheDrop) {
  UnixHttpServer server([](int fd, const std::string&) {
    SendAll(fd, kChunkedHead);
    const std::string e1 =
        R"({"Type":"container","Action":"start","Actor":{"ID":"aaa","Attributes":{"name":"web"}},"timeNano":1})";
    const std::string e2 = R"({"Type":"container","Action":"die","Actor":{"ID":"bbb"}})";
    SendAll(fd, Chunk(e1.substr(0, 20)));
    std::this_thread::sleep_for(milliseconds(20));
    SendAll(fd, Chunk(e1.substr(20) + "\n" + e2.substr(0, 10)));
    std::this_thread::sleep_for(milliseconds(20));
    SendAll(fd, Chunk(e2.substr(10) + "\n"));
    std::this_thread::sleep_for(milliseconds(50));
    // Then the engine goes away without the final chunk.
  });
  auto api = Connect(server.host());
  std::vector<DockerEvent> events;
  std::atomic<bool> stop{false};
  const Status s = api->StreamEvents(
      1700000000, [&](const DockerEvent& e) { events.push_back(e); }, stop);
  EXPECT_FALSE(s);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].action, "start");
  EXPECT_EQ(events[0].id, "aaa");
  EXPECT_EQ(events[0].attributes.at("name"), "web");
  EXPECT_EQ(events[1].action, "die");
  EXPECT_EQ(events[1].id, "bbb");
  ASSERT_EQ(server.requests().size(), 1U);
  EXPECT_EQ(server.requests()[0],
            "GET /v1.41/events?since=1700000000&filters=%7B%22type%22%3A%5B%22container%22%5D%7D "
            "HTTP/1.1");
}

TEST(CurlDockerApi, StopEndsAnIdleStreamPromptly) {
  UnixHttpServer server([&](int fd, const std::string&) {
    SendAll(fd, kChunkedHead);
    // Idle: no events at all, connection held open.
    while (!server.stopping()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        char buf[64];
        if (::recv(fd, buf, sizeof buf, 0) <= 0) {
          return;
        }
      }
    }
  });
  auto api = Connect(server.host());
  std::atomic<bool> stop{false};
  Status result = Error{"not run"};
  std::thread streamer([&] {
    result = api->StreamEvents(
        0, [](const DockerEvent&) {}, stop);
  });
  std::this_thread::sleep_for(milliseconds(300));
  const auto t0 = steady_clock::now();
  stop = true;
  streamer.join();
  EXPECT_LT(steady_clock::now() - t0, milliseconds(2500));
  EXPECT_TRUE(result) << result.message();
}

TEST(CurlDockerApi, EventStreamErrorStatus) {
  UnixHttpServer server([](int fd, const std::string&) {
    SendAll(fd, Response(400, "Bad Request", R"({"message":"invalid filter"})"));
  });
  auto api = Connect(server.host());
  std::atomic<bool> stop{false};
  int n = 0;
  const Status s = api->StreamEvents(
      0, [&](const DockerEvent&) { ++n; }, stop);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("HTTP 400: invalid filter"), std::string::npos) << s.message();
  EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace swarmwatch
