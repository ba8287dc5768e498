// The right-sizing rule of `swarmwatch rightsize`: from what a service's tasks used over a window
// and what the service reserves and limits now, the reservation and limit to give it and a verdict.
// Pure: the figures come from Prometheus (agent/rightsize.*); this file only decides.
//
// The rule (RuleText() says the same for --help; README's "Right-sizing" section too):
// - per task (the busiest task of the service at each instant); CPU in cores used (rate of
//   container_cpu_usage_seconds_total), memory as the working set;
// - reservation = p95 over the window x 1.2; limit = max over the window x 1.5;
// - CPU rounded up to 0.01 cores; memory rounded up to a multiple of a power of two MiB, the
//   largest that is at most 1/16 of the value (at least 1 MiB): rounding adds at most 6.25%;
// - never below the floors, 0.01 cores and 16 MiB; a limit never below its reservation;
// - starved: throttled in more than 5% of the CFS periods of the window, or any OOM kill, or a
//   working set above 90% of the memory limit. The starved resource's limit is then raised to
//   at least 1.5 x the current one: usage held down by a limit understates what is wanted;
// - over-reserved: a reservation above 1.5 x its suggestion, by more than 0.05 cores / 32 MiB;
// - under-reserved: a reservation missing or below its suggestion / 1.5, by more than 0.05 cores
//   / 32 MiB (the scheduler then packs more onto a node than it can run);
// - fits otherwise. Verdicts rank starved > over-reserved > under-reserved > fits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swarmwatch {

// What one task of a service used over the window (see above). Absent figures are 0.
struct ServiceUsage {
  double cpu_p95 = 0;          // cores
  double cpu_max = 0;          // cores
  double memory_p95 = 0;       // bytes
  double memory_max = 0;       // bytes
  double throttled_ratio = 0;  // throttled CFS periods / CFS periods, 0..1
  double oom_kills = 0;        // OOM kills in the service's containers
};

// What the service's spec says now, per task; nullopt where it sets nothing.
struct ServiceSizing {
  std::optional<double> cpu_reservation = std::nullopt;     // cores
  std::optional<double> cpu_limit = std::nullopt;           // cores
  std::optional<double> memory_reservation = std::nullopt;  // bytes
  std::optional<double> memory_limit = std::nullopt;        // bytes
};

enum class Verdict { kFits, kUnderReserved, kOverReserved, kStarved };

struct Suggestion {
  Verdict verdict = Verdict::kFits;
  double cpu_reservation = 0;  // cores, a multiple of 0.01
  double cpu_limit = 0;
  std::uint64_t memory_reservation = 0;  // bytes, a multiple of 1 MiB
  std::uint64_t memory_limit = 0;
  // Why the verdict, for a person: "throttled in 43% of CFS periods", "reserves 256MiB, 10.2x
  // the suggested 25MiB". Empty when it fits.
  std::vector<std::string> reasons = {};
};

// The rule's constants, named in RuleText() and README.
struct RightsizeRule {
  static constexpr double kReservationFactor = 1.2;  // x p95
  static constexpr double kLimitFactor = 1.5;        // x max; x the current limit when starved
  static constexpr double kCpuStep = 0.01;           // cores
  static constexpr double kCpuFloor = 0.01;          // cores
  static constexpr std::uint64_t kMemoryFloor = 16ULL << 20;
  static constexpr double kThrottledRatio = 0.05;
  static constexpr double kWorkingSetOfLimit = 0.9;
  static constexpr double kOffBy = 1.5;      // over / under a suggested reservation
  static constexpr double kCpuSlack = 0.05;  // cores: smaller differences are not worth a change
  static constexpr std::uint64_t kMemorySlack = 32ULL << 20;
};

Suggestion Suggest(const ServiceUsage& usage, const ServiceSizing& sizing);

// Up to the rule's unit, never below its floor.
double RoundUpCores(double cores);
std::uint64_t RoundUpMemory(double bytes);

// "starved", "over-reserved", "under-reserved", "fits".
std::string_view VerdictName(Verdict verdict);

// The rule in words, for `swarmwatch rightsize --help`.
std::string_view RuleText();

// For people: 0.25 cores as "0.25", 0.0042 as "0.004"; bytes as "25MiB", "1.50GiB".
std::string FormatCores(double cores);
std::string FormatBytes(double bytes);

}  // namespace swarmwatch
