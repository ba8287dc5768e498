// The agent's HTTP side on CivetWeb: exact-path GET handlers returning a whole answer.
// prometheus-cpp's Exposer serves only /metrics, and the agent also needs /healthz, /ready and /.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/result.h"

class CivetServer;

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

class HttpServer {
 public:
  // Binds at once; an error names the address (e.g. the port is taken).
  static Result<std::unique_ptr<HttpServer>> Start(
      const ListenAddress& address, std::vector<std::pair<std::string, HttpHandler>> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::vector<int> ListeningPorts() const;

 private:
  class Dispatcher;
  HttpServer() = default;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<CivetServer> server_;
};

}  // namespace swarmwatch
