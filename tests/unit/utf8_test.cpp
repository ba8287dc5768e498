#include "agent/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace swarmwatch {
namespace {

const std::string r(kUtf8Replacement);

TEST(Utf8, ValidTextIsValid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII, longer than eight bytes"));
  EXPECT_TRUE(
      IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD \xF4\x8F\xBF\xBF"));
  EXPECT_TRUE(IsValidUtf8(std::string("nul \0 inside", 12)));
}

TEST(Utf8, IllFormedSequencesAreInvalid) {
  for (const char* bad : {"\xFF", "\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80",
                          "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xE2\x82", "abcdefgh\xC3"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
}

TEST(Utf8, EachInvalidByteBecomesOneReplacementAsInGo) {
  // Go: for _, r := range "a\x80z\xe2\x82 \xed\xa0\x80" gives a, U+FFFD, z, U+FFFD, U+FFFD, ' ',
  // then three U+FFFD (a surrogate's three bytes are each invalid).
  EXPECT_EQ(Utf8Repaired("a\x80z\xE2\x82 \xED\xA0\x80"), "a" + r + "z" + r + r + " " + r + r + r);
  EXPECT_EQ(Utf8Repaired(std::string(3, '\xFF')), r + r + r);
  EXPECT_EQ(Utf8Repaired("ok \xEF\xBF\xBD"), "ok \xEF\xBF\xBD");
}

TEST(Utf8, RunsOfInvalidBytesBecomeOneReplacementAsGoToValidUtf8) {
  std::string out;
  AppendUtf8RunsRepaired(std::string(3000, '\xFF'), out);
  EXPECT_EQ(out, r);
  out.clear();
  AppendUtf8RunsRepaired("a\x80\x81z\xE2\x82 \xED\xA0\x80!", out);
  EXPECT_EQ(out, "a" + r + "z" + r + " " + r + "!");
  // The worst case doubles: an invalid byte alone between characters.
  out.clear();
  AppendUtf8RunsRepaired(
      "\xFF"
      "a\xFF"
      "a",
      out);
  EXPECT_EQ(out, r + "a" + r + "a");
}

}  // namespace
}  // namespace swarmwatch
