// A URL's userinfo, as in http://user:password@loki:3100/loki/api/v1/push: split off for basic auth
// (percent-decoded, as curl and Promtail take it), and hidden wherever a URL is shown (logs,
// errors, the status page, which has no authentication).
#pragma once

#include <string>
#include <string_view>

#include "agent/result.h"

namespace swarmwatch {

struct UrlUserinfo {
  std::string url;       // the URL without "userinfo@"
  bool present = false;  // the URL had a userinfo, even an empty one ("http://@loki/")
  std::string user;      // percent-decoded
  std::string password;  // percent-decoded: what follows the first ':' of the userinfo
};

// Splits "scheme://userinfo@host[:port][/path]". The userinfo ends at the last '@' before the
// path, as in Go's net/url (an unencoded '@' in a password is taken as curl cannot). Fails,
// without quoting the userinfo, on a '%' not followed by two hex digits, on an encoded NUL, and on
// an '@' after the host: there it is either in the path or the remains of a password with an
// unencoded '/', '?' or '#', which a URL parser would take for the host's end. Without "://" there
// is no userinfo.
Result<UrlUserinfo> SplitUrlUserinfo(std::string_view url);

// The URL with everything between "://" (or its start, without one) and its last '@' replaced by
// "***": "http://user:pw@loki/push" -> "http://***@loki/push". It never shows a password, even of
// a malformed URL (an unencoded '/' in the password), at the price of hiding the host of a URL
// with an '@' in its path (SplitUrlUserinfo refuses those).
std::string RedactUrl(std::string_view url);

// Free text (an error message) with each URL in it ("scheme://" up to the next space, quote, '<'
// or '>') redacted as by RedactUrl.
std::string RedactUrlsIn(std::string_view text);

}  // namespace swarmwatch
