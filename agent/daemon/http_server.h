// The agent's HTTP side on libmicrohttpd: exact-path GET (and HEAD) handlers returning a whole
// answer. prometheus-cpp's Exposer serves only /metrics, and the agent also needs /healthz, /ready
// and /. A few threads each wait on epoll for every connection they hold, so an idle or half-sent
// connection costs a socket and a few KiB, not a thread: thousands of them leave /metrics
// answering (CivetWeb's 4 threads were each held by one until its 10 s timeout, and the rest
// queued behind them).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/result.h"

struct MHD_Daemon;

namespace swarmwatch {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  bool compressible = false;  // gzip it when the client accepts gzip
  // Given the body back once it is sent, to serve the next answer from the same memory.
  std::function<void(std::string&&)> recycle = nullptr;
};

using HttpHandler = std::function<HttpResponse()>;

struct HttpServerOptions {
  // Threads answering requests. A handler runs on the thread that holds its connection, so a
  // scrape (~10 ms) holds up only that thread's other requests; new connections go to the others.
  unsigned threads = 4;
  // A connection that sends nothing for this long is closed: a half-sent request, or a keep-alive
  // connection between scrapes (Prometheus opens a new one when it scrapes again).
  std::chrono::seconds idle_timeout{10};
  // Connections held at once; more wait in the listen backlog until one closes. 0: a quarter of
  // the open file limit (the kernel files take half of it), at most 16384.
  unsigned max_connections = 0;
};

class HttpServer {
 public:
  // Binds at once; an error names the address (e.g. the port is taken).
  static Result<std::unique_ptr<HttpServer>> Start(
      const ListenAddress& address, std::vector<std::pair<std::string, HttpHandler>> routes,
      const HttpServerOptions& options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::vector<int> ListeningPorts() const;

 private:
  class Dispatcher;
  HttpServer() = default;
  std::unique_ptr<Dispatcher> dispatcher_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace swarmwatch
