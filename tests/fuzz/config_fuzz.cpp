// Feeds the config loader flags, environment variables and a YAML file's text at once; the files
// it names are read through LoadConfig's reader, from the input, never from the disk.
//
// Input: three sections separated by lines "%%": the arguments (one a line), the environment
// (NAME=VALUE lines) and the YAML text of config.yaml, which --config names unless the arguments
// or the environment name a file; "secret" and "empty" are files too, any other name is missing.
// "${PASSWORD}" in a line becomes a marker password.
//
// Invariants: LoadConfig neither throws nor crashes; an error says something, in printable lines;
// a marker password that only appears as the password of a well-formed loki_url never appears in
// an error; a loaded configuration passes the checks the agent relies on.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"
#include "agent/url_userinfo.h"

namespace {

using swarmwatch::Environment;
using swarmwatch::Error;
using swarmwatch::Result;

constexpr std::string_view kPlaceholder = "${PASSWORD}";
constexpr std::string_view kPassword = "Zq9marker";

void Check(bool condition) {
  if (!condition)
    std::abort();
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    lines.emplace_back(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  }
  return lines;
}

// Cuts the input at the first "\n%%\n" (or a leading "%%\n").
std::string_view NextSection(std::string_view& input) {
  if (input.starts_with("%%\n")) {
    input.remove_prefix(3);
    return {};
  }
  const std::size_t cut = input.find("\n%%\n");
  const std::string_view section = input.substr(0, cut);
  input = cut == std::string_view::npos ? std::string_view() : input.substr(cut + 4);
  return section;
}

std::string Substitute(std::string text, int& count) {
  for (std::size_t at = text.find(kPlaceholder); at != std::string::npos;
       at = text.find(kPlaceholder, at + kPassword.size())) {
    text.replace(at, kPlaceholder.size(), kPassword);
    ++count;
  }
  return text;
}

// The marker stands only as the password of loki_url values that are well-formed URLs.
bool MarkerOnlyInLokiUrls(const std::vector<std::string>& args, const Environment& env,
                          int markers) {
  int in_urls = 0;
  auto url = [&](std::string_view value) {
    auto split = swarmwatch::SplitUrlUserinfo(value);
    if (split.ok() && split->present && split->password == kPassword &&
        value.find(kPassword) == value.rfind(kPassword) &&
        (value.starts_with("http://") || value.starts_with("https://"))) {
      ++in_urls;
    }
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].starts_with("--loki-url="))
      url(std::string_view(args[i]).substr(11));
    else if (i > 0 && args[i - 1] == "--loki-url")
      url(args[i]);
  }
  if (auto it = env.find("SWARMWATCH_LOKI_URL"); it != env.end())
    url(it->second);
  return in_urls == markers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  int markers = 0;
  std::vector<std::string> args;
  for (const std::string& line : Lines(NextSection(input)))
    args.push_back(Substitute(line, markers));
  Environment env;
  for (const std::string& line : Lines(NextSection(input))) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos)
      env[line.substr(0, eq)] = Substitute(line.substr(eq + 1), markers);
  }
  const std::string yaml(input);
  const bool names_file = env.contains("SWARMWATCH_CONFIG") ||
                          std::any_of(args.begin(), args.end(), [](const std::string& a) {
                            return a.starts_with("--config");
                          });
  if (!yaml.empty() && !names_file) {
    args.emplace_back("--config");
    args.emplace_back("config.yaml");
  }
  // Whether the marker may show: the input holds it in some other place too.
  const bool marker_secret =
      markers > 0 && MarkerOnlyInLokiUrls(args, env, markers) &&
      std::string_view(reinterpret_cast<const char*>(data), size).find(kPassword) ==
          std::string_view::npos;

  auto read = [&yaml](const std::string& path) -> Result<std::string> {
    if (path == "config.yaml")
      return yaml;
    if (path == "secret")
      return std::string("s3cret\n");
    if (path == "empty")
      return std::string();
    return Error{"No such file or directory"};
  };
  auto loaded = swarmwatch::LoadConfig(args, env, read);
  if (!loaded.ok()) {
    const std::string& message = loaded.error().message;
    Check(!message.empty());
    for (const char ch : message)
      Check(ch == '\n' || static_cast<unsigned char>(ch) >= 0x20);
    if (marker_secret)
      Check(message.find(kPassword) == std::string::npos);
    return 0;
  }
  if (loaded->action != swarmwatch::ConfigAction::kRun)
    return 0;
  const swarmwatch::Config& c = loaded->config;
  Check(swarmwatch::ParseListenAddress(c.listen_address).ok());
  Check(c.loki_max_retries >= 0);
  Check(c.loki_timeout.count() > 0);
  Check(c.loki_batch_bytes > 0 && c.read_ahead_bytes >= c.loki_batch_bytes);
  if (!c.loki_url.empty()) {
    auto split = swarmwatch::SplitUrlUserinfo(c.loki_url);
    Check(split.ok());
    if (split->present) {
      Check(c.loki_username.empty() && c.loki_password.empty() && c.loki_password_file.empty());
      if (marker_secret)
        Check(swarmwatch::RedactUrl(c.loki_url).find(kPassword) == std::string::npos);
    }
  }
  return 0;
}
