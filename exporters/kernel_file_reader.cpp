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
  for (auto& [key, set] : sets_)
    Reset(set);
}

int KernelFileReader::Open(std::string_view dir, std::string_view name) {
  path_.assign(dir).append("/").append(name);
  return ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
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

KernelFileReader::FileSet& KernelFileReader::Files(std::string_view key) {
  auto it = sets_.find(key);
  if (it == sets_.end())
    it = sets_.emplace(std::string(key), FileSet{}).first;
  FileSet& set = it->second;
  set.used_ = true;
  set.readable_ = 0;
  ++set.lookups_;
  return set;
}

std::optional<std::string_view> KernelFileReader::Read(FileSet& set, std::size_t slot,
                                                       std::string_view dir,
                                                       std::string_view name) {
  FileSet::Slot& file = set.slots_.at(slot);
  if (file.fd >= 0) {
    if (ReadAll(file.fd)) {
      ++set.readable_;
      return std::string_view(buffer_.data(), used_);
    }
    // The cgroup or process behind it is gone; a new one may stand at the same path now.
    ::close(file.fd);
    file.fd = -1;
    --open_files_;
  }
  if (file.absent && set.lookups_ - file.absent_since < kRetryAbsentAfter)
    return std::nullopt;
  const int fd = Open(dir, name);
  if (fd < 0) {
    file.absent = true;
    file.absent_since = set.lookups_;
    return std::nullopt;
  }
  file.absent = false;
  if (!ReadAll(fd)) {
    ::close(fd);
    return std::nullopt;
  }
  if (open_files_ < max_open_) {
    file.fd = fd;
    ++open_files_;
  } else {
    ::close(fd);
  }
  ++set.readable_;
  return std::string_view(buffer_.data(), used_);
}

std::optional<std::string_view> KernelFileReader::Read(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::string_view dir =
      slash == std::string::npos ? std::string_view(".") : std::string_view(path).substr(0, slash);
  const std::string_view name = slash == std::string::npos
                                    ? std::string_view(path)
                                    : std::string_view(path).substr(slash + 1);
  FileSet& set = Files(path);
  // Always retried: a caller reading single paths has no other way to see one appear.
  set.slots_[0].absent = false;
  return Read(set, 0, dir, name);
}

std::optional<std::string_view> KernelFileReader::ReadOnce(std::string_view dir,
                                                           std::string_view name) {
  const int fd = Open(dir, name);
  if (fd < 0)
    return std::nullopt;
  const bool read = ReadAll(fd);
  ::close(fd);
  if (!read)
    return std::nullopt;
  return std::string_view(buffer_.data(), used_);
}

void KernelFileReader::Reset(FileSet& set) {
  for (FileSet::Slot& file : set.slots_) {
    if (file.fd >= 0) {
      ::close(file.fd);
      --open_files_;
    }
    file = FileSet::Slot{};
  }
}

void KernelFileReader::CloseUnused() {
  for (auto it = sets_.begin(); it != sets_.end();) {
    if (it->second.used_) {
      it->second.used_ = false;
      ++it;
    } else {
      Reset(it->second);
      it = sets_.erase(it);
    }
  }
}

}  // namespace swarmwatch
