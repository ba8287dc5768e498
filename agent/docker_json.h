// Pure parsers for the Docker Engine API's JSON answers (API v1.41): outside input in, a value or a
// clear error out. No I/O here, so they are trivial to test and fuzz.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/container_info.h"
#include "agent/docker_api.h"
#include "agent/result.h"
#include "agent/swarm_state.h"

namespace swarmwatch {

// GET /info. Fields Docker omits keep their defaults; only a body that is not a JSON object fails.
Result<EngineInfo> ParseEngineInfo(std::string_view body);

// GET /containers/json?all=1: the "Id" of every entry. Entries without a string Id are skipped.
Result<std::vector<std::string>> ParseContainerIds(std::string_view body);

// GET /containers/{id}/json. Fails when the body is not an object or has no string "Id".
// cgroup_path is left empty (the catalog derives it).
Result<ContainerInfo> ParseContainerInspect(std::string_view body);

// One object of the /events stream. Accepts the pre-1.22 "status"/"id" fields as a fallback.
// Fails when the object has neither "Action" nor "status".
Result<DockerEvent> ParseEvent(std::string_view line);

// RFC 3339 with optional fraction and zone ("2026-11-26T07:20:40.88171073Z", "...+01:00") to unix
// seconds. Go's zero time "0001-01-01T00:00:00Z" (never started) and anything before 1970 give 0.
Result<double> ParseRfc3339(std::string_view text);

// Docker's error body is {"message": "..."}; returns the message, or the trimmed body itself
// (cut to 200 bytes) when it is not that shape.
std::string DockerErrorMessage(std::string_view body);

// GET /services, /tasks and /nodes (a manager's answers). Each fails when the body is not a JSON
// array; entries without an ID are skipped. A resource figure absent, not an integer or negative
// reads 0 (unset).
Result<std::vector<SwarmService>> ParseServices(std::string_view body);
Result<std::vector<SwarmTask>> ParseTasks(std::string_view body);
Result<std::vector<SwarmNode>> ParseNodes(std::string_view body);

}  // namespace swarmwatch
