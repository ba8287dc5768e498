#include "agent/daemon/http_server.h"

#include <fmt/format.h>
#include <malloc.h>
#include <microhttpd.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

#include "agent/daemon/gzip.h"
#include "agent/log.h"

namespace swarmwatch {
namespace {

// Set while Start() runs: libmicrohttpd says why it could not start (a taken port...) only to its
// logger, on the starting thread.
thread_local std::string* start_error = nullptr;

// libmicrohttpd's own messages are about single connections ("Server reached connection limit",
// "Error accepting connection: Too many open files"): worth a warning, but one flood of clients
// must not flood the log: at most one a minute, with the count of those held back.
void LogLibraryMessage(void* /*cls*/, const char* format, va_list args) {
  char text[512];
  std::vsnprintf(text, sizeof text, format, args);
  std::string_view message(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
    message.remove_suffix(1);
  if (start_error != nullptr) {
    if (!start_error->empty())
      start_error->append("; ");
    start_error->append(message);
    return;
  }
  static std::atomic<std::int64_t> next_allowed{0};
  static std::atomic<std::uint64_t> held_back{0};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t allowed = next_allowed.load(std::memory_order_relaxed);
  if (now < allowed || !next_allowed.compare_exchange_strong(allowed, now + 60)) {
    held_back.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::uint64_t held = held_back.exchange(0, std::memory_order_relaxed);
  if (held > 0) {
    log::Warn("http: {} ({} more since the last one shown)", message, held);
  } else {
    log::Warn("http: {}", message);
  }
}

unsigned DefaultMaxConnections() {
  constexpr unsigned kMost = 16384;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return kMost;
  return static_cast<unsigned>(std::min<rlim_t>(limit.rlim_cur / 4, kMost));
}

}  // namespace

// Routes by exact path, so unknown paths get a clean 404, and hands each answer's memory to
// libmicrohttpd until it is sent.
class HttpServer::Dispatcher {
 public:
  explicit Dispatcher(std::vector<std::pair<std::string, HttpHandler>> routes)
      : routes_(routes.begin(), routes.end()) {}

  // Counts the connections held, to give the heap back to the kernel once a flood of them is
  // over. Each connection's buffer pool (32 KiB, a page or two of it touched) comes from the heap,
  // which glibc does not shrink while anything allocated after it lives: 2,000 held connections
  // left the agent 9 MiB larger after they closed. A pool of more than 32 KiB is mapped on its
  // own instead, but that cost ~0.3 ms of CPU per connection (it is zeroed and faulted in anew
  // each time), where one trim after a flood costs nothing in between.
  static void Connections(void* cls, MHD_Connection* /*connection*/, void** /*socket_context*/,
                          MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<Dispatcher*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      if (self->open_.fetch_add(1, std::memory_order_relaxed) + 1 >= kFlood)
        self->flooded_.store(true, std::memory_order_relaxed);
    } else if (self->open_.fetch_sub(1, std::memory_order_relaxed) - 1 <= kCalm &&
               self->flooded_.exchange(false, std::memory_order_relaxed)) {
      ::malloc_trim(0);
    }
  }

  static MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* /*version*/, const char* /*upload_data*/,
                           std::size_t* upload_data_size, void** request_state) {
    const std::string_view name = method != nullptr ? method : "";
    const bool get_or_head = name == MHD_HTTP_METHOD_GET || name == MHD_HTTP_METHOD_HEAD;
    if (get_or_head && *request_state == nullptr) {
      // The first call comes once the headers are in. An answer queued then is taken as an
      // early refusal: libmicrohttpd closes the connection after it, and Prometheus would have to
      // connect again for every scrape. So the answer waits for the last call (at once for a
      // request without a body). Other methods are refused at once, their bodies unread.
      *request_state = connection;  // any pointer: "headers seen"
      return MHD_YES;
    }
    if (*upload_data_size != 0) {
      *upload_data_size = 0;  // a GET's body means nothing here
      return MHD_YES;
    }
    return static_cast<Dispatcher*>(cls)->Serve(connection, url != nullptr ? url : "/", name);
  }

 private:
  // One answer on its way: owns the memory libmicrohttpd sends from, until it calls Sent().
  struct InFlight {
    Dispatcher* dispatcher;
    HttpResponse response;
    std::string compressed;
    bool gzip = false;
  };

  static void Sent(void* cls) {
    auto* answer = static_cast<InFlight*>(cls);
    if (answer->response.recycle)
      answer->response.recycle(std::move(answer->response.body));
    if (answer->gzip)
      answer->dispatcher->KeepSpare(std::move(answer->compressed));
    delete answer;
  }

  MHD_Result Serve(MHD_Connection* connection, const std::string& path, std::string_view method) {
    const bool head = method == MHD_HTTP_METHOD_HEAD;
    auto answer = std::make_unique<InFlight>();
    answer->dispatcher = this;
    HttpResponse& response = answer->response;
    if (!head && method != MHD_HTTP_METHOD_GET) {
      response = HttpResponse{405, "text/plain; charset=utf-8", "method not allowed\n", false};
    } else if (auto it = routes_.find(path); it != routes_.end()) {
      try {
        response = it->second();
      } catch (const std::exception& e) {
        log::Error("handler for {} failed: {}", path, e.what());
        response = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n", false};
      }
    } else {
      response = HttpResponse{404, "text/plain; charset=utf-8", "not found\n", false};
    }
    const char* accept =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    answer->gzip = response.compressible && accept != nullptr && AcceptsGzip(accept);
    if (answer->gzip) {
      answer->compressed = TakeSpare();
      GzipCompress(response.body, answer->compressed);
    }
    // HEAD gets the same headers, Content-Length included; libmicrohttpd leaves the body out.
    std::string& payload = answer->gzip ? answer->compressed : response.body;
    MHD_Response* reply = MHD_create_response_from_buffer_with_free_callback_cls(
        payload.size(), payload.data(), &Sent, answer.get());
    if (reply == nullptr)
      return MHD_NO;  // out of memory: the connection is closed
    // Sent() deletes it once the answer is out or the connection gone, which cannot be before
    // MHD_queue_response below: until then this function holds the only reference to `reply`.
    const InFlight* in_flight = answer.release();
    MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
    if (in_flight->gzip)
      MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(reply, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (response.status == 405)
      MHD_add_response_header(reply, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    const MHD_Result queued =
        MHD_queue_response(connection, static_cast<unsigned>(response.status), reply);
    MHD_destroy_response(reply);  // libmicrohttpd holds its own reference while sending
    // No malloc_trim() here (only after a flood, above): the large buffers of an answer are kept
    // for the next (here and in the handlers); handing the rest back to the kernel at every
    // answer cost page faults at the next (~0.1-0.2 ms a scrape at N=100) for ~0.2 MiB less
    // resident memory.
    return queued;
  }

  std::string TakeSpare() {
    std::lock_guard lock(spares_mu_);
    if (spares_.empty())
      return {};
    std::string spare = std::move(spares_.back());
    spares_.pop_back();
    return spare;
  }

  void KeepSpare(std::string&& buffer) {
    std::lock_guard lock(spares_mu_);
    // Two Prometheus servers scraping at once need two; more would only hold memory.
    if (spares_.size() < 2)
      spares_.push_back(std::move(buffer));
  }

  // More connections than Prometheus servers and health checks ever hold, and fewer.
  static constexpr unsigned kFlood = 256;
  static constexpr unsigned kCalm = 8;

  std::map<std::string, HttpHandler> routes_;
  std::atomic<unsigned> open_{0};  // connections held
  std::atomic<bool> flooded_{false};
  std::mutex spares_mu_;
  std::vector<std::string> spares_;  // gzip output buffers of earlier answers
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    const ListenAddress& address, std::vector<std::pair<std::string, HttpHandler>> routes,
    const HttpServerOptions& options) {
  const std::string where = address.HostPort(address.port);
  auto bind_to = ResolveListenAddress(address);
  if (!bind_to.ok())
    return Error{fmt::format("cannot listen on {}: {}", where, bind_to.error().message)};
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->dispatcher_ = std::make_unique<Dispatcher>(std::move(routes));
  const unsigned max_connections =
      options.max_connections != 0 ? options.max_connections : DefaultMaxConnections();
  const unsigned threads = std::max(options.threads, 1u);

  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (bind_to->ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;  // not MHD_USE_DUAL_STACK: [::] is IPv6 only, the empty host IPv4
  std::vector<MHD_OptionItem> tuning = {
      {MHD_OPTION_CONNECTION_LIMIT, max_connections, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, options.idle_timeout.count(), nullptr},
      {MHD_OPTION_LISTEN_BACKLOG_SIZE, SOMAXCONN, nullptr},
  };
  // One thread is no pool: libmicrohttpd wants the option left out then (else it warns).
  if (threads > 1)
    tuning.push_back({MHD_OPTION_THREAD_POOL_SIZE, threads, nullptr});
  tuning.push_back({MHD_OPTION_END, 0, nullptr});
  std::string error;
  start_error = &error;
  server->daemon_ = MHD_start_daemon(
      flags, address.port, nullptr, nullptr, &Dispatcher::Answer, server->dispatcher_.get(),
      MHD_OPTION_EXTERNAL_LOGGER, &LogLibraryMessage, nullptr, MHD_OPTION_NOTIFY_CONNECTION,
      &Dispatcher::Connections, server->dispatcher_.get(), MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<const sockaddr*>(&bind_to.value()), MHD_OPTION_ARRAY, tuning.data(),
      MHD_OPTION_END);
  start_error = nullptr;
  if (server->daemon_ == nullptr) {
    return Error{fmt::format("cannot listen on {}: {}", where,
                             error.empty() ? "libmicrohttpd did not start" : error)};
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : address.port;
  return server;
}

HttpServer::~HttpServer() {
  // Stop serving (and let every answer in flight go) before the handlers go away.
  if (daemon_ != nullptr)
    MHD_stop_daemon(daemon_);
}

std::vector<int> HttpServer::ListeningPorts() const {
  return {port_};
}

}  // namespace swarmwatch
