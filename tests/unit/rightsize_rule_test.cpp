#include "agent/rightsize_rule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace swarmwatch {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr std::uint64_t MiB(std::uint64_t n) {
  return n << 20;
}

TEST(RightsizeRounding, CpuGoesUpToHundredthsWithoutBinaryCreep) {
  EXPECT_DOUBLE_EQ(RoundUpCores(0.2 * 1.5), 0.30);  // 0.30000000000000004 in binary
  EXPECT_DOUBLE_EQ(RoundUpCores(0.301), 0.31);
  EXPECT_DOUBLE_EQ(RoundUpCores(0.05 * 1.2), 0.06);
  EXPECT_DOUBLE_EQ(RoundUpCores(1.234), 1.24);
  EXPECT_DOUBLE_EQ(RoundUpCores(3.0), 3.00);
}

TEST(RightsizeRounding, CpuNeverBelowTheFloor) {
  EXPECT_DOUBLE_EQ(RoundUpCores(0), 0.01);
  EXPECT_DOUBLE_EQ(RoundUpCores(0.0001), 0.01);
  EXPECT_DOUBLE_EQ(RoundUpCores(-1), 0.01);
  EXPECT_DOUBLE_EQ(RoundUpCores(std::numeric_limits<double>::quiet_NaN()), 0.01);
}

TEST(RightsizeRounding, MemoryGoesUpToAPowerOfTwoMiBAtMostASixteenthOfIt) {
  EXPECT_EQ(RoundUpMemory(24 * kMiB), MiB(24));          // 20 MiB x 1.2: exact
  EXPECT_EQ(RoundUpMemory(20.3 * kMiB * 1.2), MiB(25));  // 24.36 MiB, 1 MiB steps
  EXPECT_EQ(RoundUpMemory(31.5 * kMiB), MiB(32));
  EXPECT_EQ(RoundUpMemory(33 * kMiB), MiB(34));      // 33/16 > 2: 2 MiB steps
  EXPECT_EQ(RoundUpMemory(300 * kMiB), MiB(304));    // 16 MiB steps
  EXPECT_EQ(RoundUpMemory(3174 * kMiB), MiB(3200));  // 128 MiB steps
  EXPECT_EQ(RoundUpMemory(4096 * kMiB), MiB(4096));
  // The rounding never adds more than a sixteenth.
  for (double mib = 16; mib < 100000; mib *= 1.37) {
    const double rounded = static_cast<double>(RoundUpMemory(mib * kMiB));
    EXPECT_GE(rounded, mib * kMiB) << mib;
    EXPECT_LE(rounded, mib * kMiB * (1 + 1.0 / 16) + kMiB) << mib;
  }
}

TEST(RightsizeRounding, MemoryNeverBelowTheFloor) {
  EXPECT_EQ(RoundUpMemory(0), MiB(16));
  EXPECT_EQ(RoundUpMemory(5 * kMiB), MiB(16));
  EXPECT_EQ(RoundUpMemory(-1), MiB(16));
  EXPECT_EQ(RoundUpMemory(std::numeric_limits<double>::infinity()), MiB(16));
  EXPECT_EQ(RoundUpMemory(16.5 * kMiB), MiB(17));
}

TEST(RightsizeRule, IdleServiceWithoutReservationsFits) {
  // Using next to nothing and reserving nothing: the floors are not worth a change.
  const Suggestion s = Suggest(
      {.cpu_p95 = 0.0002, .cpu_max = 0.001, .memory_p95 = 3 * kMiB, .memory_max = 4 * kMiB}, {});
  EXPECT_EQ(s.verdict, Verdict::kFits);
  EXPECT_THAT(s.reasons, IsEmpty());
  EXPECT_DOUBLE_EQ(s.cpu_reservation, 0.01);
  EXPECT_DOUBLE_EQ(s.cpu_limit, 0.01);
  EXPECT_EQ(s.memory_reservation, MiB(16));
  EXPECT_EQ(s.memory_limit, MiB(16));
}

TEST(RightsizeRule, IdleServiceReservingMuchIsOverReserved) {
  const Suggestion s = Suggest({.cpu_p95 = 0, .cpu_max = 0, .memory_p95 = 0, .memory_max = 0},
                               {.cpu_reservation = 0.5, .memory_reservation = 256 * kMiB});
  EXPECT_EQ(s.verdict, Verdict::kOverReserved);
  EXPECT_THAT(s.reasons, ElementsAre("CPU: reserves 0.50 cores, 50.0x the suggested 0.01",
                                     "memory: reserves 256MiB, 16.0x the suggested 16MiB"));
}

TEST(RightsizeRule, TheIssuesExampleIsOverReservedNear24MiB) {
  // A task reserving 256 MiB that holds 20 MiB.
  const Suggestion s = Suggest(
      {.cpu_p95 = 0.001, .cpu_max = 0.002, .memory_p95 = 20 * kMiB, .memory_max = 20.5 * kMiB},
      {.memory_reservation = 256 * kMiB});
  EXPECT_EQ(s.verdict, Verdict::kOverReserved);
  EXPECT_EQ(s.memory_reservation, MiB(24));
  EXPECT_EQ(s.memory_limit, MiB(31));  // 30.75 MiB, 1 MiB steps
  EXPECT_THAT(s.reasons,
              ElementsAre(HasSubstr("memory: reserves 256MiB, 10.7x the suggested 24MiB")));
}

TEST(RightsizeRule, NoReservationOnABusyServiceIsUnderReserved) {
  const Suggestion s = Suggest(
      {.cpu_p95 = 0.5, .cpu_max = 0.9, .memory_p95 = 200 * kMiB, .memory_max = 260 * kMiB}, {});
  EXPECT_EQ(s.verdict, Verdict::kUnderReserved);
  EXPECT_DOUBLE_EQ(s.cpu_reservation, 0.60);
  EXPECT_DOUBLE_EQ(s.cpu_limit, 1.35);
  EXPECT_EQ(s.memory_reservation, MiB(240));
  EXPECT_EQ(s.memory_limit, MiB(400));  // 390 MiB at 16 MiB steps
  EXPECT_THAT(s.reasons, ElementsAre("CPU: no reservation, uses 0.50 cores (p95)",
                                     "memory: no reservation, uses 200MiB (p95)"));
}

TEST(RightsizeRule, AReservationWellBelowUseIsUnderReserved) {
  const Suggestion s =
      Suggest({.cpu_p95 = 1.0, .cpu_max = 1.2, .memory_p95 = 100 * kMiB, .memory_max = 110 * kMiB},
              {.cpu_reservation = 0.5, .memory_reservation = 100 * kMiB});
  EXPECT_EQ(s.verdict, Verdict::kUnderReserved);
  EXPECT_THAT(s.reasons, ElementsAre("CPU: reserves 0.50 cores, uses 1.00 cores (p95)"));
}

TEST(RightsizeRule, BurstyServiceReservesForItsP95AndLimitsForItsPeak) {
  const Suggestion s =
      Suggest({.cpu_p95 = 0.05, .cpu_max = 1.0, .memory_p95 = 50 * kMiB, .memory_max = 400 * kMiB},
              {.cpu_reservation = 0.1, .memory_reservation = 64 * kMiB});
  EXPECT_DOUBLE_EQ(s.cpu_reservation, 0.06);
  EXPECT_DOUBLE_EQ(s.cpu_limit, 1.50);
  EXPECT_EQ(s.memory_reservation, MiB(60));
  EXPECT_EQ(s.memory_limit, MiB(608));  // 600 MiB at 32 MiB steps
  // 0.10 is above 1.5 x 0.06 but by less than 0.05 cores: not worth a change.
  EXPECT_EQ(s.verdict, Verdict::kFits);
}

TEST(RightsizeRule, ThrottledIsStarvedAndTheLimitGrowsFromTheCurrentOne) {
  // Burning a full core under a 0.2 limit: it uses what the limit lets it.
  const Suggestion s = Suggest({.cpu_p95 = 0.2,
                                .cpu_max = 0.2,
                                .memory_p95 = 1 * kMiB,
                                .memory_max = 1 * kMiB,
                                .throttled_ratio = 0.95},
                               {.cpu_limit = 0.2});
  EXPECT_EQ(s.verdict, Verdict::kStarved);
  EXPECT_DOUBLE_EQ(s.cpu_limit, 0.30);
  EXPECT_GT(s.cpu_limit, 0.2);
  EXPECT_THAT(s.reasons, ElementsAre("throttled in 95% of CFS periods",
                                     "CPU: no reservation, uses 0.20 cores (p95)"));

  // Young tasks: rate() over a window longer than their life reads low; the limit still grows.
  const Suggestion young =
      Suggest({.cpu_p95 = 0.05, .cpu_max = 0.08, .throttled_ratio = 0.9}, {.cpu_limit = 0.2});
  EXPECT_EQ(young.verdict, Verdict::kStarved);
  EXPECT_DOUBLE_EQ(young.cpu_limit, 0.30);
}

TEST(RightsizeRule, ThrottledAtMostFivePercentIsNotStarved) {
  const ServiceUsage usage{.cpu_p95 = 0.1, .cpu_max = 0.15, .throttled_ratio = 0.05};
  EXPECT_NE(Suggest(usage, {.cpu_reservation = 0.12, .cpu_limit = 0.25}).verdict,
            Verdict::kStarved);
  ServiceUsage more = usage;
  more.throttled_ratio = 0.051;
  EXPECT_EQ(Suggest(more, {.cpu_reservation = 0.12, .cpu_limit = 0.25}).verdict, Verdict::kStarved);
}

TEST(RightsizeRule, OomKilledIsStarvedAndTheMemoryLimitNeverShrinks) {
  // The kill took the task before a scrape saw it near its limit.
  const Suggestion s = Suggest({.cpu_p95 = 0.01,
                                .cpu_max = 0.02,
                                .memory_p95 = 20 * kMiB,
                                .memory_max = 30 * kMiB,
                                .oom_kills = 1},
                               {.memory_limit = 64 * kMiB});
  EXPECT_EQ(s.verdict, Verdict::kStarved);
  EXPECT_EQ(s.memory_limit, MiB(96));
  EXPECT_THAT(s.reasons, ElementsAre("1 OOM kill"));

  const Suggestion many =
      Suggest({.memory_max = 63 * kMiB, .oom_kills = 2.9999}, {.memory_limit = 64 * kMiB});
  EXPECT_THAT(many.reasons,
              ElementsAre("3 OOM kills", "working set up to 98% of the memory limit"));
  // A fraction of a kill is arithmetic noise, not a kill.
  EXPECT_EQ(Suggest({.oom_kills = 0.2}, {}).verdict, Verdict::kFits);
}

TEST(RightsizeRule, WorkingSetAboveNinetyPercentOfTheLimitIsStarved) {
  const ServiceSizing limited{.memory_reservation = 80 * kMiB, .memory_limit = 100 * kMiB};
  const Suggestion near = Suggest({.memory_p95 = 80 * kMiB, .memory_max = 95 * kMiB}, limited);
  EXPECT_EQ(near.verdict, Verdict::kStarved);
  EXPECT_THAT(near.reasons, ElementsAre("working set up to 95% of the memory limit"));
  EXPECT_EQ(near.memory_limit, MiB(152));  // 1.5 x the limit at 8 MiB steps, above 1.5 x 95 MiB

  const Suggestion at = Suggest({.memory_p95 = 80 * kMiB, .memory_max = 90 * kMiB}, limited);
  EXPECT_EQ(at.verdict, Verdict::kFits);
  EXPECT_EQ(at.memory_limit, MiB(136));  // 135 MiB at 8 MiB steps
}

TEST(RightsizeRule, StarvedOutranksOverReservedAndKeepsEveryReason) {
  const Suggestion s = Suggest({.cpu_p95 = 0.2,
                                .cpu_max = 0.2,
                                .memory_p95 = 10 * kMiB,
                                .memory_max = 10 * kMiB,
                                .throttled_ratio = 0.5},
                               {.cpu_limit = 0.2, .memory_reservation = 512 * kMiB});
  EXPECT_EQ(s.verdict, Verdict::kStarved);
  EXPECT_THAT(s.reasons, ElementsAre(HasSubstr("throttled"), HasSubstr("memory: reserves 512MiB"),
                                     HasSubstr("CPU: no reservation")));
}

TEST(RightsizeRule, ALimitIsNeverBelowItsReservation) {
  // A p95 above the max cannot be measured, but the figures come from different queries.
  const Suggestion s = Suggest(
      {.cpu_p95 = 1.0, .cpu_max = 0.5, .memory_p95 = 100 * kMiB, .memory_max = 50 * kMiB}, {});
  EXPECT_GE(s.cpu_limit, s.cpu_reservation);
  EXPECT_GE(s.memory_limit, s.memory_reservation);
}

TEST(RightsizeRule, NaNFromPrometheusCountsAsNothing) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Suggestion s = Suggest({nan, nan, nan, nan, nan, nan}, {});
  EXPECT_EQ(s.verdict, Verdict::kFits);
  EXPECT_DOUBLE_EQ(s.cpu_reservation, 0.01);
  EXPECT_EQ(s.memory_limit, MiB(16));
}

TEST(RightsizeRule, VerdictNamesAndRuleText) {
  EXPECT_EQ(VerdictName(Verdict::kStarved), "starved");
  EXPECT_EQ(VerdictName(Verdict::kOverReserved), "over-reserved");
  EXPECT_EQ(VerdictName(Verdict::kUnderReserved), "under-reserved");
  EXPECT_EQ(VerdictName(Verdict::kFits), "fits");
  EXPECT_THAT(std::string(RuleText()),
              AllOf(HasSubstr("p95 over the window x 1.2"), HasSubstr("max over the window x 1.5"),
                    HasSubstr("0.01 cores and 16MiB"), HasSubstr("more than 5%"),
                    HasSubstr("above 90% of the memory limit"), HasSubstr("above 1.5 x")));
}

TEST(RightsizeFormat, CoresAndBytesForPeople) {
  EXPECT_EQ(FormatCores(0), "0");
  EXPECT_EQ(FormatCores(0.0004), "<0.001");
  EXPECT_EQ(FormatCores(0.0042), "0.004");
  EXPECT_EQ(FormatCores(0.0123), "0.01");
  EXPECT_EQ(FormatCores(0.25), "0.25");
  EXPECT_EQ(FormatCores(2), "2.00");
  EXPECT_EQ(FormatBytes(0), "0");
  EXPECT_EQ(FormatBytes(1.5 * kMiB), "1.5MiB");
  EXPECT_EQ(FormatBytes(256 * kMiB), "256MiB");
  EXPECT_EQ(FormatBytes(1536 * kMiB), "1.50GiB");
}

}  // namespace
}  // namespace swarmwatch
