// Decompresses a gzip member with libdeflate, for tests that check what the agent compressed.
#pragma once

#include <gtest/gtest.h>
#include <libdeflate.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace swarmwatch::testing {

inline std::string Gunzip(const std::string& compressed) {
  EXPECT_GE(compressed.size(), 18u) << "shorter than a gzip header and trailer";
  if (compressed.size() < 18)
    return {};
  std::uint32_t size = 0;  // gzip's trailer: the uncompressed size
  std::memcpy(&size, compressed.data() + compressed.size() - 4, 4);
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  std::string out(size, '\0');
  std::size_t actual = 0;
  const auto result = libdeflate_gzip_decompress(d, compressed.data(), compressed.size(),
                                                 out.data(), out.size(), &actual);
  libdeflate_free_decompressor(d);
  EXPECT_EQ(result, LIBDEFLATE_SUCCESS);
  out.resize(actual);
  return out;
}

}  // namespace swarmwatch::testing
