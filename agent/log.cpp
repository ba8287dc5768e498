#include "agent/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace swarmwatch::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// logfmt quoting: the message always in quotes, with \ and " escaped and newlines as \n.
std::string Quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

void SetLevel(Level level) {
  g_level.store(static_cast<int>(level));
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_level.load();
}

bool SetLevel(std::string_view name) {
  for (Level level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (LevelName(level) == name) {
      SetLevel(level);
      return true;
    }
  }
  return false;
}

void Write(Level level, std::string_view message) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  // One fprintf per line so concurrent threads do not interleave within a line.
  std::fprintf(stderr, "ts=%s.%03dZ level=%s msg=%s\n", stamp, static_cast<int>(millis),
               std::string(LevelName(level)).c_str(), Quote(message).c_str());
}

}  // namespace swarmwatch::log
