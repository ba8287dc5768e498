// DockerApi over libcurl: the Engine API on a unix socket (the default) or plain HTTP over TCP.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "agent/docker_api.h"

namespace swarmwatch {

namespace detail {
// Owns one CURL easy handle. Non-copyable; reusing the handle keeps the connection alive.
class CurlHandle {
 public:
  CurlHandle();
  ~CurlHandle();
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;
  void* get() const { return handle_; }  // a CURL*; void* keeps curl.h out of this header

 private:
  void* handle_;
};
}  // namespace detail

struct CurlDockerApiOptions {
  std::chrono::milliseconds request_timeout{10000};  // whole request, ordinary calls
  std::chrono::milliseconds connect_timeout{3000};
};

class CurlDockerApi : public DockerApi {
 public:
  using Options = CurlDockerApiOptions;
  static constexpr std::string_view kApiVersion = "v1.41";

  // docker_host: "unix:///path/to/docker.sock", "tcp://host:port" or "http://host:port".
  static Result<std::unique_ptr<CurlDockerApi>> Create(std::string_view docker_host,
                                                       Options options = {});

  Result<EngineInfo> Info() override;
  Result<std::vector<std::string>> ListContainerIds() override;
  Result<ContainerInfo> InspectContainer(const std::string& id) override;
  Status StreamEvents(std::int64_t since_unix,
                      const std::function<void(const DockerEvent&)>& on_event,
                      const std::atomic<bool>& stop) override;
  Result<SwarmState> ReadSwarmState() override;

 private:
  CurlDockerApi(std::string socket_path, std::string base_url, Options options);
  // GET <base_url>/v1.41<path>; the body of a 2xx answer, otherwise an error naming the status and
  // Docker's message.
  Result<std::string> Get(std::string_view path);
  // Applies what every request shares (URL, socket, connect timeout, no signals).
  void Prepare(void* curl, const std::string& url) const;

  std::string socket_path_;  // empty for TCP
  std::string base_url_;     // "http://localhost/v1.41" for a unix socket
  Options options_;
  std::mutex request_mu_;  // the request handle serves one call at a time
  detail::CurlHandle request_handle_;
  std::mutex events_mu_;  // one event stream at a time
  detail::CurlHandle events_handle_;
};

}  // namespace swarmwatch
