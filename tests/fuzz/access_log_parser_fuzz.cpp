// Feeds access-log lines to the predefined parsers and to parsers compiled from fuzzed formats.
// The first byte chooses: 0..4 a predefined format (the rest of the input is lines); 5 and 6 an
// Apache or nginx format (the input up to the first '\n' is the definition, the rest is lines).
// Invariants: nothing crashes, hangs or reads outside the line; every view of a parsed entry lies
// inside the line; the status is 100..999; times are finite and not negative.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporters/access_log_parser.h"

namespace {

using swarmwatch::AccessLogEntry;
using swarmwatch::AccessLogParser;
using swarmwatch::AccessLogSyntax;

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

void CheckInside(std::string_view view, std::string_view line) {
  if (view.empty()) {
    return;
  }
  Check(view.data() >= line.data() && view.data() + view.size() <= line.data() + line.size());
}

void CheckTime(const std::optional<double>& seconds) {
  if (seconds) {
    Check(std::isfinite(*seconds) && *seconds >= 0);
  }
}

const swarmwatch::RouteMatcher& Routes() {
  static const swarmwatch::RouteMatcher matcher = [] {
    const std::vector<std::string> patterns = {"/student/{id}", "/api/v1/items/{id}/edit",
                                               "/static/*", "/a/*/c", "/"};
    return std::move(swarmwatch::RouteMatcher::Compile(patterns)).value();
  }();
  return matcher;
}

void ParseLines(const AccessLogParser& parser, std::string_view lines) {
  AccessLogEntry entry;
  while (!lines.empty()) {
    const std::size_t newline = lines.find('\n');
    const std::string_view line = lines.substr(0, newline);
    lines = newline == std::string_view::npos ? std::string_view() : lines.substr(newline + 1);
    if (!parser.Parse(line, entry)) {
      continue;
    }
    Check(entry.status >= 100 && entry.status <= 999);
    for (const std::string_view view :
         {entry.remote_addr, entry.remote_user, entry.time_local, entry.method, entry.target,
          entry.path, entry.query, entry.protocol, entry.referer, entry.user_agent}) {
      CheckInside(view, line);
    }
    CheckTime(entry.duration_seconds);
    CheckTime(entry.upstream_seconds);
    const std::string_view method = swarmwatch::NormalizeMethod(entry.method);
    Check(!method.empty());
    const std::string_view route = Routes().Match(entry.path);
    Check(!route.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto predefined = swarmwatch::PredefinedAccessLogFormats();
  const unsigned choice = data[0] % (predefined.size() + 2);
  if (choice < predefined.size()) {
    // Compiled once per format, as the agent does.
    static std::vector<AccessLogParser> parsers = [&] {
      std::vector<AccessLogParser> all;
      for (const auto& format : predefined) {
        all.push_back(std::move(swarmwatch::MakeAccessLogParser(format.name)).value());
      }
      return all;
    }();
    ParseLines(parsers[choice], input);
    return 0;
  }
  const std::size_t newline = input.find('\n');
  const std::string_view definition = input.substr(0, newline);
  const std::string_view lines =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  const auto syntax =
      choice == predefined.size() ? AccessLogSyntax::kApache : AccessLogSyntax::kNginx;
  auto parser = swarmwatch::MakeAccessLogParser(definition, syntax);
  if (!parser.ok()) {
    Check(!parser.error().message.empty());
    return 0;
  }
  ParseLines(*parser, lines);
  return 0;
}
