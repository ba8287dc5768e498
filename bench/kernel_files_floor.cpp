// What the kernel files a running agent reads cost by themselves: the floor under its scrape.
//
// Opens the files named on stdin, one path per line (scrape_cost.py gives those an agent read
// in one scrape), then reads them all the way the agent does (pread from offset 0 until a short
// read), `passes` times `interval_ms` apart, and prints the median thread CPU time of one pass.
// No parsing, no text, no HTTP: what is left of a scrape if the agent did nothing but read.
// Files that could not be opened (a process that exited since) are left out.
//
//   kernel_files_floor [passes=20] [interval_ms=1000] < paths
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

namespace {

double ThreadCpuMs() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

std::vector<int> OpenFilesNamedOnStdin() {
  std::vector<int> fds;
  std::string path;
  while (std::getline(std::cin, path)) {
    if (path.empty())
      continue;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
      fds.push_back(fd);
  }
  return fds;
}

// As KernelFileReader::ReadAll: a read shorter than half a page is the whole file.
void ReadAll(int fd, std::vector<char>& buffer) {
  off_t offset = 0;
  for (;;) {
    const ssize_t got = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (got <= 0)
      return;
    if (offset == 0 && got < 2048)
      return;
    offset += got;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int passes = argc > 1 ? std::atoi(argv[1]) : 20;
  const int interval_ms = argc > 2 ? std::atoi(argv[2]) : 1000;
  if (passes < 1 || interval_ms < 0) {
    std::fprintf(stderr, "usage: %s [passes=20] [interval_ms=1000] < paths\n", argv[0]);
    return 2;
  }
  const std::vector<int> fds = OpenFilesNamedOnStdin();
  if (fds.empty()) {
    std::fprintf(stderr, "none of the files named on stdin could be opened\n");
    return 1;
  }
  std::vector<char> buffer(1 << 16);
  for (const int fd : fds)  // the first read of a file allocates its buffers: not counted
    ReadAll(fd, buffer);
  std::vector<double> pass_ms;
  for (int pass = 0; pass < passes; ++pass) {
    ::usleep(static_cast<useconds_t>(interval_ms) * 1000);
    const double start = ThreadCpuMs();
    for (const int fd : fds)
      ReadAll(fd, buffer);
    pass_ms.push_back(ThreadCpuMs() - start);
  }
  std::sort(pass_ms.begin(), pass_ms.end());
  std::printf("files %zu passes %d interval_ms %d median_ms %.2f min_ms %.2f p90_ms %.2f\n",
              fds.size(), passes, interval_ms, pass_ms[pass_ms.size() / 2], pass_ms.front(),
              pass_ms[std::min(pass_ms.size() - 1, pass_ms.size() * 9 / 10)]);
  return 0;
}
