// The text of a PSI file ({cpu,memory,io}.pressure) as the kernel writes it, with the given
// cumulative "some" and "full" totals in microseconds: for fixture trees whose pressure changes.
#pragma once

#include <cstdint>
#include <string>

namespace swarmwatch::testing {

inline std::string PressureText(std::uint64_t some_us, std::uint64_t full_us) {
  return "some avg10=0.00 avg60=0.00 avg300=0.00 total=" + std::to_string(some_us) +
         "\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=" + std::to_string(full_us) + "\n";
}

}  // namespace swarmwatch::testing
