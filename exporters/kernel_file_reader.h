// Reads the small files that the kernel generates on read (cgroup and procfs) once per scrape.
// Each file stays open between scrapes and is re-read with pread() from offset 0, which makes the
// kernel produce fresh contents without the path walk and open/close: about 1-3 us instead of
// 9-15 us per file here, so ~20 files per container fit a scrape budget of 100 us per container.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace swarmwatch {

class KernelFileReader {
 public:
  KernelFileReader();
  ~KernelFileReader();
  KernelFileReader(const KernelFileReader&) = delete;
  KernelFileReader& operator=(const KernelFileReader&) = delete;

  // The whole file, valid until the next Read; nullopt when it is absent or unreadable (a file of
  // a removed cgroup answers ENODEV, one of a dead process ESRCH: such a file is closed).
  std::optional<std::string_view> Read(const std::string& path);

  // Closes the files not read since the previous call: those of containers that went away.
  void CloseUnused();

  std::size_t open_files() const { return files_.size(); }

 private:
  struct OpenFile {
    int fd = -1;
    bool used = false;
  };
  // pread from 0 until EOF into buffer_; false on a read error.
  bool ReadAll(int fd);

  std::unordered_map<std::string, OpenFile> files_;
  std::size_t max_open_;  // beyond it files are read and closed, leaving fds for the rest
  std::string buffer_;
  std::size_t used_ = 0;
};

}  // namespace swarmwatch
