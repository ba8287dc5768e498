// Compiles an access-log format (Apache `LogFormat` or nginx `log_format` syntax) once, at start,
// into the sequence of (literal, field) steps the AccessLogParser walks for every line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/result.h"

namespace swarmwatch {

enum class AccessLogSyntax { kApache, kNginx };

// What a field of the format holds, as far as request metrics care. Everything else is kSkip: its
// text is stepped over, not interpreted.
enum class AccessLogField : std::uint8_t {
  kSkip,
  kRemoteAddr,       // %h %a $remote_addr
  kRemoteUser,       // %u $remote_user
  kTimeLocal,        // %t (between the brackets it adds) $time_local
  kRequestLine,      // %r $request: "METHOD TARGET PROTOCOL", "-", or whatever the client sent
  kMethod,           // %m $request_method
  kPath,             // %U $uri $document_uri
  kQuery,            // %q ("?a=b" or empty) $args $query_string ("a=b")
  kRequestUri,       // $request_uri, and "%U%q" / "$uri$is_args$args" (path and query)
  kProtocol,         // %H $server_protocol
  kStatus,           // %s %>s $status
  kBytes,            // %b %B $body_bytes_sent ($bytes_sent when there is no body size field)
  kDurationSeconds,  // %T %{s}T $request_time (decimal allowed: "0.123")
  kDurationMillis,   // %{ms}T
  kDurationMicros,   // %D %{us}T
  kUpstreamTime,     // $upstream_response_time: "-", "0.002" or "0.002, 0.004 : 0.001"
  kReferer,          // %{Referer}i $http_referer
  kUserAgent,        // %{User-Agent}i $http_user_agent
};

// One step: the literal text that must come next in the line, then (unless kind is absent on the
// last step) one field. `quoted` fields sit between '"' literals and may hold escaped quotes.
struct AccessLogStep {
  std::string literal;
  bool has_field = false;
  AccessLogField field = AccessLogField::kSkip;
  bool quoted = false;
  // Where the field's directive starts in the format, for messages.
  std::size_t position = 0;
};

struct AccessLogFormat {
  std::string definition;  // the format as given
  AccessLogSyntax syntax = AccessLogSyntax::kApache;
  std::vector<AccessLogStep> steps;
  bool has_status = false;
  bool has_duration = false;
  bool has_bytes = false;
  bool has_upstream_time = false;
  // A %U/$uri field gives the path, so %r/$request/$request_uri do not override it.
  bool has_path_field = false;
};

// Apache mod_log_config syntax: %h %a %l %u %t %r %m %U %q %H %s %>s %b %B %D %T %{ms}T %{us}T
// %{s}T %{X}i %{X}o, the other directives Apache documents (%v %p %P %A %I %O %X %k %L %R %f %e
// %n %C %^ti ...) as skipped fields, conditions ("%!200,304{Referer}i"), "%%", and the escapes a
// LogFormat string holds in the configuration file (\" \\ \t \n).
Result<AccessLogFormat> CompileApacheFormat(std::string_view definition);
// nginx log_format syntax: $name and ${name}; the variables listed with AccessLogField are
// interpreted, $http_referer and $http_user_agent too, any other variable is a skipped field.
Result<AccessLogFormat> CompileNginxFormat(std::string_view definition);
Result<AccessLogFormat> CompileAccessLogFormat(std::string_view definition, AccessLogSyntax syntax);

}  // namespace swarmwatch
