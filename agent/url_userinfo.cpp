#include "agent/url_userinfo.h"

#include <algorithm>
#include <optional>

namespace swarmwatch {
namespace {

constexpr std::string_view kSchemeEnd = "://";
constexpr std::string_view kHidden = "***";

int HexDigit(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

// %XX to the byte; nullopt on a bad escape or an encoded NUL (curl takes credentials as C strings).
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size())
      return std::nullopt;
    const int high = HexDigit(text[i + 1]);
    const int low = HexDigit(text[i + 2]);
    if (high < 0 || low < 0 || (high == 0 && low == 0))
      return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

bool EndsUrlInText(char ch) {
  const auto byte = static_cast<unsigned char>(ch);
  return byte <= ' ' || byte == 0x7f || ch == '"' || ch == '\'' || ch == '<' || ch == '>' ||
         ch == '`';
}

}  // namespace

Result<UrlUserinfo> SplitUrlUserinfo(std::string_view url) {
  UrlUserinfo result;
  const std::size_t scheme_end = url.find(kSchemeEnd);
  if (scheme_end == std::string_view::npos) {
    result.url = std::string(url);
    return result;
  }
  const std::size_t start = scheme_end + kSchemeEnd.size();
  const std::size_t authority_end = std::min(url.find_first_of("/?#", start), url.size());
  const std::string_view authority = url.substr(start, authority_end - start);
  if (url.find('@', authority_end) != std::string_view::npos) {
    return Error{
        "an '@' after the host must be percent-encoded as %40 (in a password, so must '/', '?' "
        "and '#' be)"};
  }
  const std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    result.url = std::string(url);
    return result;
  }
  const std::string_view userinfo = authority.substr(0, at);
  const std::size_t colon = userinfo.find(':');
  auto user = PercentDecode(userinfo.substr(0, colon));
  auto password = PercentDecode(colon == std::string_view::npos ? std::string_view()
                                                                : userinfo.substr(colon + 1));
  if (!user || !password) {
    return Error{
        "the user or password holds a '%' that is not followed by two hex digits (write '%' as "
        "%25), or an encoded NUL"};
  }
  result.present = true;
  result.user = std::move(*user);
  result.password = std::move(*password);
  result.url = std::string(url.substr(0, start)) + std::string(url.substr(start + at + 1));
  return result;
}

std::string RedactUrl(std::string_view url) {
  const std::size_t scheme_end = url.find(kSchemeEnd);
  const std::size_t start =
      scheme_end == std::string_view::npos ? 0 : scheme_end + kSchemeEnd.size();
  const std::size_t at = url.rfind('@');
  if (at == std::string_view::npos || at < start)
    return std::string(url);
  return std::string(url.substr(0, start)) + std::string(kHidden) + std::string(url.substr(at));
}

std::string RedactUrlsIn(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t done = 0;  // text before this is in out
  for (std::size_t scheme_end = text.find(kSchemeEnd); scheme_end != std::string_view::npos;
       scheme_end = text.find(kSchemeEnd, done)) {
    std::size_t end = scheme_end + kSchemeEnd.size();
    while (end < text.size() && !EndsUrlInText(text[end]))
      ++end;
    out += text.substr(done, scheme_end - done);
    out += RedactUrl(text.substr(scheme_end, end - scheme_end));
    done = end;
  }
  out += text.substr(done);
  return out;
}

}  // namespace swarmwatch
