#include "agent/daemon/gzip.h"

#include <zlib.h>

#include <cstring>
#include <stdexcept>

namespace swarmwatch {

std::string GzipCompress(std::string_view input) {
  z_stream stream{};
  // 15 window bits + 16 asks zlib for a gzip header and trailer instead of a zlib one.
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string output(deflateBound(&stream, input.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream.avail_in = static_cast<uInt>(input.size());
  stream.next_out = reinterpret_cast<Bytef*>(output.data());
  stream.avail_out = static_cast<uInt>(output.size());
  const int result = deflate(&stream, Z_FINISH);
  output.resize(stream.total_out);
  deflateEnd(&stream);
  if (result != Z_STREAM_END)
    throw std::runtime_error("deflate did not finish");
  return output;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    const std::size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding =
        comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    const std::size_t semicolon = item.find(';');
    std::string_view coding = item.substr(0, semicolon);
    while (!coding.empty() && coding.back() == ' ')
      coding.remove_suffix(1);
    if (coding != "gzip" && coding != "*")
      continue;
    if (semicolon == std::string_view::npos)
      return true;
    std::string_view params = item.substr(semicolon + 1);
    const std::size_t q = params.find("q=");
    if (q == std::string_view::npos)
      return true;
    std::string_view value = params.substr(q + 2);
    // q=0, q=0.0, q=0.000 refuse; anything else accepts.
    bool zero = !value.empty() && value.front() == '0';
    for (std::size_t i = 1; zero && i < value.size() && value[i] != ' '; ++i) {
      zero = value[i] == '.' || value[i] == '0';
    }
    if (!zero)
      return true;
  }
  return false;
}

}  // namespace swarmwatch
