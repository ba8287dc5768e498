#include "agent/curl_docker_api.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <exception>
#include <mutex>
#include <stdexcept>

#include "agent/docker_json.h"

namespace swarmwatch {
namespace detail {

CurlHandle::CurlHandle() {
  static std::once_flag global_init;
  // curl_global_init is not thread-safe; do it once before the first handle.
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  handle_ = curl_easy_init();
  if (handle_ == nullptr) {
    throw std::runtime_error("curl_easy_init failed");
  }
}

CurlHandle::~CurlHandle() {
  curl_easy_cleanup(static_cast<CURL*>(handle_));
}

}  // namespace detail

namespace {

// Answers bigger than this are not Docker talking sense (an inspect is a few KiB).
constexpr size_t kMaxBody = 64UL << 20;

struct Body {
  std::string data;
  bool too_big = false;
};

size_t AppendBody(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  const size_t n = size * nmemb;
  if (body->data.size() + n > kMaxBody) {
    body->too_big = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  body->data.append(ptr, n);
  return n;
}

bool Is2xx(long status) {
  return status >= 200 && status < 300;
}

// State of one /events stream, shared with curl's callbacks.
struct EventStream {
  CURL* curl = nullptr;
  const std::function<void(const DockerEvent&)>* on_event = nullptr;
  const std::atomic<bool>* stop = nullptr;
  std::string pending;     // bytes after the last newline: an object split across chunks
  std::string error_body;  // the body of a non-2xx answer
  std::exception_ptr callback_error;
  size_t bad_lines = 0;
};

size_t OnEventBytes(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* s = static_cast<EventStream*>(userdata);
  const size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
  if (!Is2xx(status)) {
    if (s->error_body.size() < 4096) {
      s->error_body.append(ptr, n);
    }
    return n;
  }
  if (s->stop->load()) {
    return 0;
  }
  s->pending.append(ptr, n);
  size_t start = 0;
  for (size_t nl = s->pending.find('\n'); nl != std::string::npos;
       nl = s->pending.find('\n', start)) {
    const std::string_view line(s->pending.data() + start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) {
      continue;
    }
    auto event = ParseEvent(line);
    if (!event) {
      ++s->bad_lines;  // one bad object must not end the stream
      continue;
    }
    try {
      (*s->on_event)(*event);
    } catch (...) {
      // Exceptions must not unwind through C code: keep it and abort the transfer.
      s->callback_error = std::current_exception();
      return 0;
    }
  }
  s->pending.erase(0, start);
  if (s->pending.size() > kMaxBody) {
    return 0;  // no newline in 64 MiB: not an event stream
  }
  return n;
}

// Called about once a second even when idle (CURLOPT_NOPROGRESS=0); non-zero aborts the transfer.
int OnEventProgress(void* userdata, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/,
                    curl_off_t /*ultotal*/, curl_off_t /*ulnow*/) {
  return static_cast<EventStream*>(userdata)->stop->load() ? 1 : 0;
}

}  // namespace

CurlDockerApi::CurlDockerApi(std::string socket_path, std::string base_url, Options options)
    : socket_path_(std::move(socket_path)), base_url_(std::move(base_url)), options_(options) {}

Result<std::unique_ptr<CurlDockerApi>> CurlDockerApi::Create(std::string_view docker_host,
                                                             Options options) {
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kTcp = "tcp://";
  constexpr std::string_view kHttp = "http://";
  std::string socket_path;
  std::string authority;
  if (docker_host.starts_with(kUnix)) {
    socket_path = std::string(docker_host.substr(kUnix.size()));
    if (socket_path.empty() || socket_path.front() != '/') {
      return Error{
          fmt::format("docker_host \"{}\": a unix socket needs an absolute path, e.g. "
                      "unix:///var/run/docker.sock",
                      docker_host)};
    }
    authority = "localhost";
  } else if (docker_host.starts_with(kTcp) || docker_host.starts_with(kHttp)) {
    authority =
        std::string(docker_host.substr(docker_host.starts_with(kTcp) ? kTcp.size() : kHttp.size()));
    while (!authority.empty() && authority.back() == '/') {
      authority.pop_back();
    }
    if (authority.empty() || authority.find('/') != std::string::npos) {
      return Error{fmt::format("docker_host \"{}\": expected tcp://host:port or http://host:port",
                               docker_host)};
    }
  } else {
    return Error{
        fmt::format("docker_host \"{}\": unsupported scheme; use unix:///path, "
                    "tcp://host:port or http://host:port (TLS is not supported)",
                    docker_host)};
  }
  return std::unique_ptr<CurlDockerApi>(new CurlDockerApi(
      std::move(socket_path), fmt::format("http://{}/{}", authority, kApiVersion), options));
}

void CurlDockerApi::Prepare(void* handle, const std::string& url) const {
  CURL* curl = static_cast<CURL*>(handle);
  curl_easy_reset(curl);  // keeps the connection cache, forgets the previous call's options
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (!socket_path_.empty()) {
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // we run on several threads
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
}

Result<std::string> CurlDockerApi::Get(std::string_view path) {
  const std::lock_guard lock(request_mu_);
  CURL* curl = static_cast<CURL*>(request_handle_.get());
  const std::string url = base_url_ + std::string(path);
  Prepare(curl, url);
  Body body;
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  if (body.too_big) {
    return Error{fmt::format("docker GET {}: answer larger than {} bytes", path, kMaxBody)};
  }
  if (rc != CURLE_OK) {
    return Error{fmt::format("docker GET {}: {}{}", path, curl_easy_strerror(rc),
                             socket_path_.empty() ? "" : fmt::format(" ({})", socket_path_))};
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (!Is2xx(status)) {
    return Error{
        fmt::format("docker GET {}: HTTP {}: {}", path, status, DockerErrorMessage(body.data))};
  }
  return std::move(body.data);
}

Result<EngineInfo> CurlDockerApi::Info() {
  auto body = Get("/info");
  if (!body) {
    return body.error();
  }
  return ParseEngineInfo(*body);
}

Result<SwarmState> CurlDockerApi::ReadSwarmState() {
  SwarmState state;
  auto services = Get("/services");
  if (!services)
    return services.error();
  auto parsed_services = ParseServices(*services);
  if (!parsed_services)
    return parsed_services.error();
  state.services = std::move(parsed_services).value();
  // {"desired-state":["running"]}: the tasks that should run; finished ones only add volume.
  auto tasks = Get("/tasks?filters=%7B%22desired-state%22%3A%5B%22running%22%5D%7D");
  if (!tasks)
    return tasks.error();
  auto parsed_tasks = ParseTasks(*tasks);
  if (!parsed_tasks)
    return parsed_tasks.error();
  state.tasks = std::move(parsed_tasks).value();
  auto nodes = Get("/nodes");
  if (!nodes)
    return nodes.error();
  auto parsed_nodes = ParseNodes(*nodes);
  if (!parsed_nodes)
    return parsed_nodes.error();
  state.nodes = std::move(parsed_nodes).value();
  return state;
}

Result<std::vector<std::string>> CurlDockerApi::ListContainerIds() {
  auto body = Get("/containers/json?all=1");
  if (!body) {
    return body.error();
  }
  return ParseContainerIds(*body);
}

Result<ContainerInfo> CurlDockerApi::InspectContainer(const std::string& id) {
  // Ids and names are [a-zA-Z0-9_.-]; anything else would change the request's meaning.
  if (id.empty() || id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_.-") != std::string::npos) {
    return Error{fmt::format("docker inspect: invalid container id \"{}\"", id)};
  }
  auto body = Get(fmt::format("/containers/{}/json", id));
  if (!body) {
    return body.error();
  }
  return ParseContainerInspect(*body);
}

Status CurlDockerApi::StreamEvents(std::int64_t since_unix,
                                   const std::function<void(const DockerEvent&)>& on_event,
                                   const std::atomic<bool>& stop) {
  const std::lock_guard lock(events_mu_);
  CURL* curl = static_cast<CURL*>(events_handle_.get());
  char* filters = curl_easy_escape(curl, R"({"type":["container"]})", 0);
  if (filters == nullptr) {
    return Error{"docker events: curl_easy_escape failed"};
  }
  const std::string path = fmt::format("/events?since={}&filters={}", since_unix, filters);
  curl_free(filters);
  Prepare(curl, base_url_ + path);
  EventStream stream;
  stream.curl = curl;
  stream.on_event = &on_event;
  stream.stop = &stop;
  // No CURLOPT_TIMEOUT: the stream is meant to stay open. TCP keepalive notices a dead peer.
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnEventBytes);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &stream);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnEventProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stream);
  const CURLcode rc = curl_easy_perform(curl);
  if (stream.callback_error) {
    std::rethrow_exception(stream.callback_error);
  }
  if (stop.load()) {
    return {};
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 0 && !Is2xx(status)) {
    return Error{fmt::format("docker GET /events: HTTP {}: {}", status,
                             DockerErrorMessage(stream.error_body))};
  }
  if (rc != CURLE_OK) {
    return Error{fmt::format("docker GET /events: {}{}", curl_easy_strerror(rc),
                             socket_path_.empty() ? "" : fmt::format(" ({})", socket_path_))};
  }
  return Error{"docker GET /events: the engine closed the event stream"};
}

}  // namespace swarmwatch
