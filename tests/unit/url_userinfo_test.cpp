#include "agent/url_userinfo.h"

#include <gtest/gtest.h>

namespace swarmwatch {
namespace {

TEST(RedactUrl, HidesTheWholeUserinfo) {
  EXPECT_EQ(RedactUrl("http://user:pw@loki:3100/loki/api/v1/push"),
            "http://***@loki:3100/loki/api/v1/push");
  EXPECT_EQ(RedactUrl("https://token@loki/push"), "https://***@loki/push");
  EXPECT_EQ(RedactUrl("http://@loki/"), "http://***@loki/");
  EXPECT_EQ(RedactUrl("http://loki:3100/loki/api/v1/push"), "http://loki:3100/loki/api/v1/push");
  EXPECT_EQ(RedactUrl(""), "");
}

TEST(RedactUrl, NeverShowsAPasswordOfAMalformedUrl) {
  // An unencoded '/', '@' or space in the password: a URL parser ends the host early, but the
  // redaction runs to the last '@'.
  EXPECT_EQ(RedactUrl("http://user:pa/ss@loki/push"), "http://***@loki/push");
  EXPECT_EQ(RedactUrl("http://user:p@ss@loki/push"), "http://***@loki/push");
  EXPECT_EQ(RedactUrl("http://user:p w@loki/push"), "http://***@loki/push");
  EXPECT_EQ(RedactUrl("user:pw@loki:3100/push"), "***@loki:3100/push");  // no scheme
  EXPECT_EQ(RedactUrl("ftp://u:pw@h/x"), "ftp://***@h/x");
  // The price: an '@' in the path hides the host (SplitUrlUserinfo refuses such a URL).
  EXPECT_EQ(RedactUrl("http://loki/a@b"), "http://***@b");
}

TEST(RedactUrl, IsIdempotent) {
  for (const char* url : {"http://user:pw@loki/push", "http://loki/push", "a@b", "http://a@b@c"}) {
    EXPECT_EQ(RedactUrl(RedactUrl(url)), RedactUrl(url)) << url;
  }
}

TEST(RedactUrlsIn, RedactsEveryUrlOfAText) {
  EXPECT_EQ(RedactUrlsIn("push to http://u:pw@loki/push failed; \"https://a:b@c/d\" <ftp://e@f>"),
            "push to http://***@loki/push failed; \"https://***@c/d\" <ftp://***@f>");
  EXPECT_EQ(RedactUrlsIn("HTTP 500: mail bob@example.com"), "HTTP 500: mail bob@example.com");
  EXPECT_EQ(RedactUrlsIn("http://u:p,w@h, and more"), "http://***@h, and more");
  EXPECT_EQ(RedactUrlsIn("://@"), "://***@");
  EXPECT_EQ(RedactUrlsIn(""), "");
}

TEST(SplitUrlUserinfo, TakesUserAndPasswordPercentDecoded) {
  auto split = SplitUrlUserinfo("http://us%40er:p%3Ass:w%25rd@loki:3100/loki/api/v1/push?x=1");
  ASSERT_TRUE(split.ok()) << split.error().message;
  EXPECT_TRUE(split->present);
  EXPECT_EQ(split->user, "us@er");
  EXPECT_EQ(split->password, "p:ss:w%rd");  // the first ':' ends the user
  EXPECT_EQ(split->url, "http://loki:3100/loki/api/v1/push?x=1");

  auto user_only = SplitUrlUserinfo("https://token@loki");
  ASSERT_TRUE(user_only.ok());
  EXPECT_TRUE(user_only->present);
  EXPECT_EQ(user_only->user, "token");
  EXPECT_EQ(user_only->password, "");
  EXPECT_EQ(user_only->url, "https://loki");

  auto last_at = SplitUrlUserinfo("http://user:p@ss@loki/push");  // as Go's net/url reads it
  ASSERT_TRUE(last_at.ok());
  EXPECT_EQ(last_at->password, "p@ss");
  EXPECT_EQ(last_at->url, "http://loki/push");
}

TEST(SplitUrlUserinfo, WithoutUserinfoTheUrlIsUnchanged) {
  for (const char* url : {"http://loki:3100/loki/api/v1/push", "loki:3100", "", "http://loki"}) {
    auto split = SplitUrlUserinfo(url);
    ASSERT_TRUE(split.ok()) << url;
    EXPECT_FALSE(split->present);
    EXPECT_EQ(split->url, url);
  }
}

TEST(SplitUrlUserinfo, RefusesWithoutQuotingThePassword) {
  for (const char* url :
       {"http://user:Zq9%@loki/", "http://user:Zq9%4@loki/", "http://user:%zzZq9@loki/",
        "http://user:Zq9%00@loki/", "http://user:Zq9/x@loki/", "http://user:Zq9?@loki/",
        "http://loki/Zq9@b"}) {
    auto split = SplitUrlUserinfo(url);
    ASSERT_FALSE(split.ok()) << url;
    EXPECT_EQ(split.error().message.find("Zq9"), std::string::npos) << split.error().message;
  }
}

}  // namespace
}  // namespace swarmwatch
