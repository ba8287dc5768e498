#include <cstdio>

#include "agent/build_info.h"

int main() {
  std::printf("swarmwatch %s\n", swarmwatch::Version().data());
  return 0;
}
