#include "agent/rightsize_rule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace swarmwatch {
namespace {

using R = RightsizeRule;
constexpr double kMiB = 1024.0 * 1024.0;

// Prometheus' arithmetic may hand NaN or a tiny negative (a counter's max - min never is, but an
// extrapolated ratio can be): neither says anything but "nothing".
double Sane(double value) {
  return std::isfinite(value) && value > 0 ? value : 0;
}

// Compares a reservation with its suggestion; adds to `over` or `under` what is off, as
// "memory: reserves 256MiB, 10.2x the suggested 25MiB".
void CompareReservation(std::string_view what, std::string_view unit,
                        const std::optional<double>& reserved, double suggested, double used_p95,
                        double slack, std::string (*format)(double), std::vector<std::string>& over,
                        std::vector<std::string>& under) {
  if (reserved && *reserved > suggested * R::kOffBy && *reserved - suggested > slack) {
    over.push_back(fmt::format("{}: reserves {}{}, {:.1f}x the suggested {}", what,
                               format(*reserved), unit, *reserved / suggested, format(suggested)));
    return;
  }
  const double have = reserved.value_or(0);
  if ((!reserved || have < suggested / R::kOffBy) && suggested - have > slack) {
    under.push_back(reserved ? fmt::format("{}: reserves {}{}, uses {}{} (p95)", what, format(have),
                                           unit, format(used_p95), unit)
                             : fmt::format("{}: no reservation, uses {}{} (p95)", what,
                                           format(used_p95), unit));
  }
}

}  // namespace

double RoundUpCores(double cores) {
  // In hundredths, less a hair: 0.2 x 1.5 is 0.30000000000000004 in binary, and is 0.30.
  const double hundredths = std::ceil(Sane(cores) / R::kCpuStep - 1e-6);
  return std::max(R::kCpuFloor, hundredths / 100.0);
}

std::uint64_t RoundUpMemory(double bytes) {
  // Past 2^50 bytes (a PiB) no figure is real; the cap keeps the arithmetic in range.
  const double mib = std::min(Sane(bytes), std::ldexp(1.0, 50)) / kMiB;
  double step = 1;
  while (step * 2 <= mib / 16)
    step *= 2;
  const double units = std::ceil(mib / step - 1e-9);
  const auto rounded = static_cast<std::uint64_t>(units * step) << 20;
  return std::max(rounded, R::kMemoryFloor);
}

Suggestion Suggest(const ServiceUsage& usage, const ServiceSizing& sizing) {
  Suggestion s;
  s.cpu_reservation = RoundUpCores(Sane(usage.cpu_p95) * R::kReservationFactor);
  s.cpu_limit = RoundUpCores(Sane(usage.cpu_max) * R::kLimitFactor);
  s.memory_reservation = RoundUpMemory(Sane(usage.memory_p95) * R::kReservationFactor);
  s.memory_limit = RoundUpMemory(Sane(usage.memory_max) * R::kLimitFactor);

  std::vector<std::string> starved, over, under;
  const double throttled = Sane(usage.throttled_ratio);
  if (throttled > R::kThrottledRatio) {
    starved.push_back(fmt::format("throttled in {:.0f}% of CFS periods", throttled * 100));
    // What it used is what the limit let it use: the limit is what must give.
    if (sizing.cpu_limit)
      s.cpu_limit = std::max(s.cpu_limit, RoundUpCores(*sizing.cpu_limit * R::kLimitFactor));
  }
  // Counts are whole; the max - min of a counter in PromQL is a float.
  const auto oom_kills = std::llround(Sane(usage.oom_kills));
  if (oom_kills > 0)
    starved.push_back(fmt::format("{} OOM kill{}", oom_kills, oom_kills == 1 ? "" : "s"));
  const bool near_limit = sizing.memory_limit && *sizing.memory_limit > 0 &&
                          Sane(usage.memory_max) > R::kWorkingSetOfLimit * *sizing.memory_limit;
  if (near_limit) {
    starved.push_back(fmt::format("working set up to {:.0f}% of the memory limit",
                                  Sane(usage.memory_max) / *sizing.memory_limit * 100));
  }
  // A task killed at its limit may have been scraped well below it: never suggest less.
  if ((oom_kills > 0 || near_limit) && sizing.memory_limit) {
    s.memory_limit =
        std::max(s.memory_limit, RoundUpMemory(*sizing.memory_limit * R::kLimitFactor));
  }
  s.cpu_limit = std::max(s.cpu_limit, s.cpu_reservation);
  s.memory_limit = std::max(s.memory_limit, s.memory_reservation);

  CompareReservation("CPU", " cores", sizing.cpu_reservation, s.cpu_reservation,
                     Sane(usage.cpu_p95), R::kCpuSlack, &FormatCores, over, under);
  CompareReservation("memory", "", sizing.memory_reservation,
                     static_cast<double>(s.memory_reservation), Sane(usage.memory_p95),
                     static_cast<double>(R::kMemorySlack), &FormatBytes, over, under);

  if (!starved.empty())
    s.verdict = Verdict::kStarved;
  else if (!over.empty())
    s.verdict = Verdict::kOverReserved;
  else if (!under.empty())
    s.verdict = Verdict::kUnderReserved;
  for (auto* reasons : {&starved, &over, &under})
    s.reasons.insert(s.reasons.end(), reasons->begin(), reasons->end());
  return s;
}

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kStarved:
      return "starved";
    case Verdict::kOverReserved:
      return "over-reserved";
    case Verdict::kUnderReserved:
      return "under-reserved";
    case Verdict::kFits:
      break;
  }
  return "fits";
}

std::string_view RuleText() {
  return R"(The rule, per task of a service (the busiest task at each instant of the window):
  reservation = p95 over the window x 1.2;  limit = max over the window x 1.5
  (CPU: cores used, the rate of container_cpu_usage_seconds_total; memory: the working set).
  CPU is rounded up to 0.01 cores; memory up to a multiple of a power of two MiB, the largest
  that is at most 1/16 of the value (24MiB, 25MiB, 304MiB, 3200MiB: +6.25% at most).
  Never below 0.01 cores and 16MiB; a limit never below its reservation.
Verdicts, the first that applies:
  starved         throttled in more than 5% of the CFS periods of the window, or any OOM kill,
                  or a working set above 90% of the memory limit; the starved resource's
                  suggested limit is then at least 1.5 x its current limit (usage held down by
                  a limit understates the need)
  over-reserved   a reservation above 1.5 x its suggestion, by more than 0.05 cores or 32MiB
  under-reserved  a reservation missing or below its suggestion / 1.5, by more than 0.05 cores
                  or 32MiB (the scheduler would pack more onto a node than it can run)
  fits            otherwise
Each service whose verdict is not "fits" gets the `docker service update` line that applies
the whole suggestion (both reservations and both limits).
)";
}

std::string FormatCores(double cores) {
  if (!(cores > 0))
    return "0";
  if (cores < 0.001)
    return "<0.001";
  return cores < 0.01 ? fmt::format("{:.3f}", cores) : fmt::format("{:.2f}", cores);
}

std::string FormatBytes(double bytes) {
  if (!(bytes > 0))
    return "0";
  const double mib = bytes / kMiB;
  if (mib >= 1024)
    return fmt::format("{:.2f}GiB", mib / 1024);
  return mib < 10 ? fmt::format("{:.1f}MiB", mib) : fmt::format("{:.0f}MiB", mib);
}

}  // namespace swarmwatch
