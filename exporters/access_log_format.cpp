#include "exporters/access_log_format.h"

#include <cstddef>
#include <string>
#include <utility>

namespace swarmwatch {
namespace {

// A field as the tokenizer found it, before the steps are checked and merged.
struct Token {
  std::string literal;  // text before the field
  AccessLogField field = AccessLogField::kSkip;
  std::string_view directive;  // as written: "%>s", "$status"
  std::size_t position = 0;
  bool is_args = false;      // nginx $is_args ("?" when there are arguments)
  bool weak_bytes = false;   // $bytes_sent: the body size wins when both are logged
  bool weak_status = false;  // %s: %>s (the final status) wins when both are logged
};

std::string At(std::size_t position) {
  return "at character " + std::to_string(position + 1);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

// Tokens -> steps: resolves which of two fields that say the same thing is used, merges the path
// and query pairs that are written without a separator, rejects fields that cannot be told apart,
// and marks the quoted ones.
Result<AccessLogFormat> Assemble(std::string_view definition, AccessLogSyntax syntax,
                                 std::vector<Token> tokens, std::string trailing) {
  bool final_status = false;
  bool body_bytes = false;
  for (const Token& t : tokens) {
    final_status = final_status || (t.field == AccessLogField::kStatus && !t.weak_status);
    body_bytes = body_bytes || (t.field == AccessLogField::kBytes && !t.weak_bytes);
  }
  for (Token& t : tokens) {
    if ((t.weak_status && final_status) || (t.weak_bytes && body_bytes)) {
      t.field = AccessLogField::kSkip;
    }
  }

  // "%U%q" and "$uri$is_args$args" are the request target split in two: read them as one.
  std::vector<Token> merged;
  merged.reserve(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    Token& t = tokens[i];
    if (t.field == AccessLogField::kPath && i + 1 < tokens.size()) {
      const Token& next = tokens[i + 1];
      if (next.literal.empty() && next.field == AccessLogField::kQuery) {
        t.field = AccessLogField::kRequestUri;
        merged.push_back(std::move(t));
        ++i;
        continue;
      }
      if (next.literal.empty() && next.is_args && i + 2 < tokens.size() &&
          tokens[i + 2].literal.empty() && tokens[i + 2].field == AccessLogField::kQuery) {
        t.field = AccessLogField::kRequestUri;
        merged.push_back(std::move(t));
        i += 2;
        continue;
      }
    }
    merged.push_back(std::move(t));
  }

  AccessLogFormat format;
  format.definition = std::string(definition);
  format.syntax = syntax;
  for (std::size_t i = 0; i < merged.size(); ++i) {
    const Token& t = merged[i];
    if (i > 0 && t.literal.empty()) {
      const Token& previous = merged[i - 1];
      return Error{"access log format: \"" + std::string(previous.directive) + "\" " +
                   At(previous.position) + " and \"" + std::string(t.directive) + "\" " +
                   At(t.position) +
                   " follow each other with no text between them, so a line cannot be split "
                   "into the two fields; put a separator (a space) between them"};
    }
    AccessLogStep step;
    step.literal = t.literal;
    step.has_field = true;
    step.field = t.field;
    step.position = t.position;
    format.steps.push_back(std::move(step));
    switch (t.field) {
      case AccessLogField::kStatus:
        format.has_status = true;
        break;
      case AccessLogField::kBytes:
        format.has_bytes = true;
        break;
      case AccessLogField::kDurationSeconds:
      case AccessLogField::kDurationMillis:
      case AccessLogField::kDurationMicros:
        format.has_duration = true;
        break;
      case AccessLogField::kUpstreamTime:
        format.has_upstream_time = true;
        break;
      case AccessLogField::kPath:
      case AccessLogField::kRequestUri:
        format.has_path_field = format.has_path_field || t.field == AccessLogField::kPath;
        break;
      default:
        break;
    }
  }
  AccessLogStep last;
  last.literal = std::move(trailing);
  format.steps.push_back(std::move(last));

  for (std::size_t i = 0; i + 1 < format.steps.size(); ++i) {
    AccessLogStep& step = format.steps[i];
    const std::string& next = format.steps[i + 1].literal;
    step.quoted =
        !step.literal.empty() && step.literal.back() == '"' && !next.empty() && next.front() == '"';
  }
  if (!format.has_status) {
    return Error{std::string("access log format \"") + std::string(definition) +
                 "\" has no status field (" +
                 (syntax == AccessLogSyntax::kApache ? "%>s or %s" : "$status") +
                 "): request metrics need the status of every line"};
  }
  return format;
}

// The meaning of one Apache directive: its letter and its {argument}.
Result<AccessLogField> ApacheField(char letter, std::string_view argument, std::size_t position,
                                   std::string_view directive) {
  switch (letter) {
    case 'h':
    case 'a':
      return AccessLogField::kRemoteAddr;
    case 'u':
      return AccessLogField::kRemoteUser;
    case 'r':
      return AccessLogField::kRequestLine;
    case 'm':
      return AccessLogField::kMethod;
    case 'U':
      return AccessLogField::kPath;
    case 'q':
      return AccessLogField::kQuery;
    case 'H':
      return AccessLogField::kProtocol;
    case 's':
      return AccessLogField::kStatus;
    case 'b':
    case 'B':
      return AccessLogField::kBytes;
    case 'D':
      return AccessLogField::kDurationMicros;
    case 'T':
      if (argument.empty() || argument == "s") {
        return AccessLogField::kDurationSeconds;
      }
      if (argument == "ms") {
        return AccessLogField::kDurationMillis;
      }
      if (argument == "us") {
        return AccessLogField::kDurationMicros;
      }
      return Error{"access log format: \"" + std::string(directive) + "\" " + At(position) +
                   ": %T takes the unit s, ms or us, not \"" + std::string(argument) + "\""};
    case 'i':
      if (EqualsIgnoreCase(argument, "Referer")) {
        return AccessLogField::kReferer;
      }
      if (EqualsIgnoreCase(argument, "User-Agent")) {
        return AccessLogField::kUserAgent;
      }
      return AccessLogField::kSkip;
    // Directives Apache documents that request metrics do not use.
    case 'A':
    case 'C':
    case 'e':
    case 'f':
    case 'I':
    case 'k':
    case 'l':
    case 'L':
    case 'n':
    case 'o':
    case 'O':
    case 'p':
    case 'P':
    case 'R':
    case 'S':
    case 't':  // with a {format}; the plain %t is handled by the caller
    case 'v':
    case 'V':
    case 'X':
    case 'x':
      return AccessLogField::kSkip;
    default:
      return Error{"access log format: unknown directive \"" + std::string(directive) + "\" " +
                   At(position)};
  }
}

}  // namespace

Result<AccessLogFormat> CompileApacheFormat(std::string_view definition) {
  std::vector<Token> tokens;
  std::string literal;
  std::size_t i = 0;
  const std::size_t n = definition.size();
  while (i < n) {
    const char c = definition[i];
    if (c == '\\' && i + 1 < n) {
      // Escapes as they appear inside the quoted LogFormat string of the configuration file.
      const char e = definition[i + 1];
      if (e == '"' || e == '\\') {
        literal += e;
      } else if (e == 't') {
        literal += '\t';
      } else if (e == 'n') {
        literal += '\n';
      } else {
        literal += c;
        literal += e;
      }
      i += 2;
      continue;
    }
    if (c != '%') {
      literal += c;
      ++i;
      continue;
    }
    const std::size_t start = i++;
    if (i < n && definition[i] == '%') {
      literal += '%';
      ++i;
      continue;
    }
    bool original_status = true;
    // Modifiers: "<" / ">" (original or final request) and status conditions ("!200,304").
    while (i < n && (definition[i] == '<' || definition[i] == '>' || definition[i] == '!' ||
                     definition[i] == ',' || (definition[i] >= '0' && definition[i] <= '9'))) {
      if (definition[i] == '>') {
        original_status = false;
      }
      ++i;
    }
    std::string_view argument;
    if (i < n && definition[i] == '{') {
      const std::size_t close = definition.find('}', i + 1);
      if (close == std::string_view::npos) {
        return Error{"access log format: the '{' of the directive " + At(start) +
                     " is never closed"};
      }
      argument = definition.substr(i + 1, close - i - 1);
      i = close + 1;
    }
    if (i >= n) {
      return Error{"access log format: the directive " + At(start) + " has no letter"};
    }
    if (definition[i] == '^') {
      // %^ti, %^to (trailers), %^FU, %^FB (mod_logio timings): two more letters.
      if (i + 2 >= n) {
        return Error{"access log format: the directive " + At(start) + " is cut short"};
      }
      i += 3;
      tokens.push_back(Token{std::move(literal), AccessLogField::kSkip,
                             definition.substr(start, i - start), start});
      literal.clear();
      continue;
    }
    const char letter = definition[i++];
    const std::string_view directive = definition.substr(start, i - start);
    if (letter == 't' && argument.empty()) {
      // "%t" writes "[10/Oct/2000:13:55:36 -0700]": the brackets are literal text around the time.
      literal += '[';
      tokens.push_back(Token{std::move(literal), AccessLogField::kTimeLocal, directive, start});
      literal = "]";
      continue;
    }
    auto field = ApacheField(letter, argument, start, directive);
    if (!field.ok()) {
      return field.error();
    }
    Token token{std::move(literal), *field, directive, start};
    token.weak_status = *field == AccessLogField::kStatus && original_status;
    tokens.push_back(std::move(token));
    literal.clear();
  }
  if (tokens.empty()) {
    return Error{"access log format \"" + std::string(definition) +
                 "\" has no % directive: it is neither a known format name nor an Apache "
                 "LogFormat"};
  }
  return Assemble(definition, AccessLogSyntax::kApache, std::move(tokens), std::move(literal));
}

namespace {

AccessLogField NginxField(std::string_view name, bool& weak_bytes, bool& is_args) {
  struct Entry {
    std::string_view name;
    AccessLogField field;
  };
  static constexpr Entry kVariables[] = {
      {"remote_addr", AccessLogField::kRemoteAddr},
      {"remote_user", AccessLogField::kRemoteUser},
      {"time_local", AccessLogField::kTimeLocal},
      {"request", AccessLogField::kRequestLine},
      {"request_method", AccessLogField::kMethod},
      {"uri", AccessLogField::kPath},
      {"document_uri", AccessLogField::kPath},
      {"args", AccessLogField::kQuery},
      {"query_string", AccessLogField::kQuery},
      {"request_uri", AccessLogField::kRequestUri},
      {"server_protocol", AccessLogField::kProtocol},
      {"status", AccessLogField::kStatus},
      {"body_bytes_sent", AccessLogField::kBytes},
      {"bytes_sent", AccessLogField::kBytes},
      {"request_time", AccessLogField::kDurationSeconds},
      {"upstream_response_time", AccessLogField::kUpstreamTime},
      {"http_referer", AccessLogField::kReferer},
      {"http_user_agent", AccessLogField::kUserAgent},
  };
  weak_bytes = name == "bytes_sent";
  is_args = name == "is_args";
  for (const Entry& e : kVariables) {
    if (e.name == name) {
      return e.field;
    }
  }
  return AccessLogField::kSkip;
}

bool IsNginxNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

Result<AccessLogFormat> CompileNginxFormat(std::string_view definition) {
  std::vector<Token> tokens;
  std::string literal;
  std::size_t i = 0;
  const std::size_t n = definition.size();
  while (i < n) {
    const char c = definition[i];
    if (c != '$') {
      literal += c;
      ++i;
      continue;
    }
    const std::size_t start = i++;
    std::string_view name;
    if (i < n && definition[i] == '{') {
      const std::size_t close = definition.find('}', i + 1);
      if (close == std::string_view::npos) {
        return Error{"access log format: the '{' of the variable " + At(start) +
                     " is never closed"};
      }
      name = definition.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      const std::size_t begin = i;
      while (i < n && IsNginxNameChar(definition[i])) {
        ++i;
      }
      name = definition.substr(begin, i - begin);
    }
    if (name.empty()) {
      return Error{"access log format: the '$' " + At(start) +
                   " is not followed by a variable name"};
    }
    Token token{std::move(literal), AccessLogField::kSkip, definition.substr(start, i - start),
                start};
    token.field = NginxField(name, token.weak_bytes, token.is_args);
    tokens.push_back(std::move(token));
    literal.clear();
  }
  if (tokens.empty()) {
    return Error{"access log format \"" + std::string(definition) +
                 "\" has no $variable: it is neither a known format name nor an nginx "
                 "log_format"};
  }
  return Assemble(definition, AccessLogSyntax::kNginx, std::move(tokens), std::move(literal));
}

Result<AccessLogFormat> CompileAccessLogFormat(std::string_view definition,
                                               AccessLogSyntax syntax) {
  return syntax == AccessLogSyntax::kApache ? CompileApacheFormat(definition)
                                            : CompileNginxFormat(definition);
}

}  // namespace swarmwatch
