#include "agent/healthcheck.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>

namespace swarmwatch {

std::string HealthzUrl(const ListenAddress& address) {
  std::string host = address.host;
  if (host.empty() || host == "0.0.0.0")
    host = "127.0.0.1";
  else if (host == "::")
    host = "::1";
  const bool ipv6 = !address.is_name && host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}/healthz", ipv6 ? "[" : "", host, ipv6 ? "]" : "",
                     address.port);
}

namespace {
std::size_t DiscardBody(char* /*data*/, std::size_t size, std::size_t count, void* /*user*/) {
  return size * count;
}
}  // namespace

Status CheckHealth(const std::string& url, std::chrono::milliseconds timeout) {
  const std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(),
                                                                 &curl_easy_cleanup);
  if (!curl)
    return Error{"curl_easy_init failed"};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http");
  // A proxy from the environment would answer for the agent.
  curl_easy_setopt(curl.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &DiscardBody);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK)
    return Error{fmt::format("GET {}: {}", url, curl_easy_strerror(rc))};
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    return Error{fmt::format("GET {}: answered {}", url, status)};
  return {};
}

}  // namespace swarmwatch
