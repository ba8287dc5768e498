// gzip for HTTP answers: Prometheus asks for it, and a /metrics page of a busy node shrinks ~10x.
#pragma once

#include <string>
#include <string_view>

namespace swarmwatch {

// Fastest level: on a node the scrape's CPU cost matters more than a few bytes on the LAN.
std::string GzipCompress(std::string_view input);
// The same into `output`, replacing its contents: a buffer kept from answer to answer is not
// allocated (and faulted in) again each time.
void GzipCompress(std::string_view input, std::string& output);

// True when an Accept-Encoding header value allows gzip (and does not refuse it with q=0).
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace swarmwatch
