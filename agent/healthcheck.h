// `swarmwatch healthcheck`: asks a running agent's /healthz, for container healthchecks. The
// agent's image has no HTTP client (no shell tools at all in a read-only, capability-less
// container), so the binary asks itself, on the address its own settings name.
#pragma once

#include <chrono>
#include <string>

#include "agent/config.h"
#include "agent/result.h"

namespace swarmwatch {

// The /healthz URL of an agent listening on `address`: every interface (":9480", 0.0.0.0, [::]) is
// asked on loopback of the same family; a given address or name as is.
std::string HealthzUrl(const ListenAddress& address);

// GET `url`: ok on 200 within `timeout`; otherwise an error that says what answered, or why nothing
// did.
Status CheckHealth(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace swarmwatch
