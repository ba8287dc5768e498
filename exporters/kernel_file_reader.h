// Reads the small files that the kernel generates on read (cgroup and procfs) once per scrape.
// Each file stays open between scrapes and is re-read with pread() from offset 0, which makes the
// kernel produce fresh contents without the path walk and open/close: about 1-3 us instead of
// 9-15 us per file here, so ~20 files per container fit a scrape budget of 100 us per container.
//
// Files are grouped in sets, one per cgroup or process, each file in a numbered slot the caller
// chooses: a scrape looks up one set per container rather than one path per file, and builds a
// file's path only to open it. A file that could not be opened is remembered as absent (a v1 host
// without PSI, blkio without throttle files) and tried again only every kRetryAbsentAfter lookups
// of its set, so that a missing file costs no syscall at each scrape.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace swarmwatch {

class KernelFileReader {
 public:
  static constexpr std::size_t kSlots = 32;
  static constexpr std::uint32_t kRetryAbsentAfter = 60;

  // The open files of one cgroup or process.
  class FileSet {
   public:
    // How many files of this set the current lookup could read (none: the cgroup or process is
    // gone).
    int readable() const { return readable_; }

   private:
    friend class KernelFileReader;
    struct Slot {
      int fd = -1;
      bool absent = false;
      std::uint32_t absent_since = 0;  // lookups_ when the open failed
    };
    std::array<Slot, kSlots> slots_{};
    std::uint32_t lookups_ = 0;
    int readable_ = 0;
    bool used_ = false;
  };

  KernelFileReader();
  ~KernelFileReader();
  KernelFileReader(const KernelFileReader&) = delete;
  KernelFileReader& operator=(const KernelFileReader&) = delete;

  // The set named `key` (created empty the first time), marked as used in this round.
  FileSet& Files(std::string_view key);

  // The whole file `dir`/`name` held in `slot` of `set`, valid until the next Read; nullopt when
  // it is absent or unreadable (a file of a removed cgroup answers ENODEV, one of a dead process
  // ESRCH: such a file is closed, and opened again at the next read). A slot always holds the same
  // file name; `dir` is only used to open it.
  std::optional<std::string_view> Read(FileSet& set, std::size_t slot, std::string_view dir,
                                       std::string_view name);

  // A file of its own (a set named by its path).
  std::optional<std::string_view> Read(const std::string& path);

  // The whole file `dir`/`name`, opened for this read only, valid until the next Read: for a file
  // whose open description keeps what it showed (a v1 cgroup's pid lists, see CgroupReader).
  std::optional<std::string_view> ReadOnce(std::string_view dir, std::string_view name);

  // Closes the files of `set` and forgets what was absent: for a cgroup that could not be read
  // at all, whose files may appear under the same names later.
  void Reset(FileSet& set);

  // Closes the sets not looked up since the previous call: those of containers that went away.
  void CloseUnused();

  std::size_t open_files() const { return open_files_; }

 private:
  // `dir`/`name` opened read-only (the path built in path_), or -1.
  int Open(std::string_view dir, std::string_view name);
  // pread from 0 until EOF into buffer_; false on a read error.
  bool ReadAll(int fd);

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  // References to its elements survive rehashing.
  std::unordered_map<std::string, FileSet, StringHash, std::equal_to<>> sets_;
  std::size_t max_open_;  // beyond it files are read and closed, leaving fds for the rest
  std::size_t open_files_ = 0;
  std::string path_;
  std::string buffer_;
  std::size_t used_ = 0;
};

}  // namespace swarmwatch
