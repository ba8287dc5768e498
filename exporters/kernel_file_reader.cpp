#include "exporters/kernel_file_reader.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace swarmwatch {

namespace {

// Half the descriptors the process may open: the other readers, sockets and log files need theirs.
std::size_t MaxOpenFiles() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return 4096;
  return static_cast<std::size_t>(limit.rlim_cur / 2);
}

}  // namespace

KernelFileReader::KernelFileReader() : max_open_(MaxOpenFiles()) {}

KernelFileReader::~KernelFileReader() {
  for (auto& [path, file] : files_)
    ::close(file.fd);
}

bool KernelFileReader::ReadAll(int fd) {
  // buffer_ keeps its size between reads (growing it would zero it every time); used_ is how much
  // of it the last file filled. A seq_file may return less than asked before its end: one read
  // hands out at most its one-page buffer, cut before the record that would overflow it. A read
  // of less than half a page therefore is the end for files whose records are shorter than half a
  // page, as those the agent reads are (one line of net/dev or of a pid list, or one record that
  // is the whole file); a longer one is followed by reads until pread returns 0. This saves the
  // second syscall for nearly every file: about a tenth of a scrape.
  constexpr std::size_t kChunk = 16384;
  constexpr std::size_t kSurelyWhole = 2048;
  if (buffer_.size() < kChunk)
    buffer_.resize(kChunk);
  std::size_t used = 0;
  for (;;) {
    if (buffer_.size() - used < kChunk / 4)
      buffer_.resize(buffer_.size() * 2);
    const ssize_t got =
        ::pread(fd, buffer_.data() + used, buffer_.size() - used, static_cast<off_t>(used));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    if (got == 0)
      break;
    used += static_cast<std::size_t>(got);
    if (used == static_cast<std::size_t>(got) && used < kSurelyWhole)
      break;
  }
  used_ = used;
  return true;
}

std::optional<std::string_view> KernelFileReader::Read(const std::string& path) {
  if (auto it = files_.find(path); it != files_.end()) {
    it->second.used = true;
    if (ReadAll(it->second.fd))
      return std::string_view(buffer_.data(), used_);
    // The cgroup or process behind it is gone; a new file may stand at the same path now.
    ::close(it->second.fd);
    files_.erase(it);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  if (!ReadAll(fd)) {
    ::close(fd);
    return std::nullopt;
  }
  if (files_.size() < max_open_) {
    files_.emplace(path, OpenFile{fd, true});
  } else {
    ::close(fd);
  }
  return std::string_view(buffer_.data(), used_);
}

void KernelFileReader::CloseUnused() {
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->second.used) {
      it->second.used = false;
      ++it;
    } else {
      ::close(it->second.fd);
      it = files_.erase(it);
    }
  }
}

}  // namespace swarmwatch
