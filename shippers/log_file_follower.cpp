#include "shippers/log_file_follower.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/log.h"

namespace swarmwatch {

namespace {

// Docker renames from the oldest down (.2 -> .3, then .1 -> .2, then the file -> .1), so a scan
// during a rotation may see one hole; two in a row end the chain.
constexpr int kMaxChainIndex = 1000;
constexpr int kOpenAttempts = 5;

}  // namespace

LogFileFollower::LogFileFollower(std::string log_path, FollowerOptions options)
    : path_(std::move(log_path)), options_(options) {
  options_.buffer_bytes = std::max<std::size_t>(options_.buffer_bytes, 64);
  options_.max_line_bytes = std::max(options_.max_line_bytes, options_.buffer_bytes);
  buffer_.resize(options_.buffer_bytes);
}

LogFileFollower::~LogFileFollower() {
  CloseFile();
  ClosePending();
}

void LogFileFollower::ClosePending() {
  for (const HeldFile& file : pending_)
    ::close(file.fd);
  pending_.clear();
}

void LogFileFollower::CloseFile() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

std::optional<std::uint64_t> LogFileFollower::PathInode() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    path_inode_ = 0;
    return std::nullopt;
  }
  path_inode_ = static_cast<std::uint64_t>(st.st_ino);
  return path_inode_;
}

void LogFileFollower::LearnHead() {
  if (position_.head_bytes != 0 || fd_ < 0)
    return;
  char head[FilePosition::kMaxHeadBytes];
  const ssize_t got = ::pread(fd_, head, sizeof head, 0);
  if (got <= 0)
    return;
  // The first line: a json-file line ends with Docker's timestamp in nanoseconds, which no other
  // file's first line shares. A file is only appended to, so a shorter head stays valid.
  const void* newline = std::memchr(head, '\n', static_cast<std::size_t>(got));
  const std::size_t length =
      newline != nullptr ? static_cast<std::size_t>(static_cast<const char*>(newline) - head) + 1
                         : static_cast<std::size_t>(got);
  position_.head_hash = HeadHash(std::string_view(head, length));
  position_.head_bytes = static_cast<std::uint32_t>(length);
}

bool LogFileFollower::AfterNewline(std::uint64_t offset) {
  char before = '\n';
  ssize_t got;
  do {
    got = ::pread(fd_, &before, 1, static_cast<off_t>(offset - 1));
  } while (got < 0 && errno == EINTR);
  return got != 1 || before == '\n';  // unreadable: taken as it is, as before this check
}

bool LogFileFollower::HeadMatches(const FilePosition& saved) {
  if (saved.head_bytes == 0)
    return true;  // saved before heads were kept: nothing to check against
  if (saved.head_bytes > FilePosition::kMaxHeadBytes)
    return false;
  char head[FilePosition::kMaxHeadBytes];
  std::size_t have = 0;
  while (have < saved.head_bytes) {
    const ssize_t got =
        ::pread(fd_, head + have, saved.head_bytes - have, static_cast<off_t>(have));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return false;  // shorter than the saved file's head: another file
    have += static_cast<std::size_t>(got);
  }
  if (HeadHash(std::string_view(head, have)) != saved.head_hash)
    return false;
  position_.head_hash = saved.head_hash;
  position_.head_bytes = saved.head_bytes;
  return true;
}

std::vector<LogFileFollower::ChainFile> LogFileFollower::ScanChain() const {
  // A scan racing a rotation can see one file under two names; scan again then.
  std::vector<ChainFile> chain;
  for (int attempt = 0; attempt < 3; ++attempt) {
    chain.clear();
    int misses = 0;
    for (int index = 0; index <= kMaxChainIndex && misses < 2; ++index) {
      std::string name = index == 0 ? path_ : path_ + "." + std::to_string(index);
      struct stat st {};
      if (::stat(name.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (index > 0)
          ++misses;
        continue;
      }
      misses = 0;
      chain.push_back(ChainFile{std::move(name), static_cast<std::uint64_t>(st.st_ino),
                                static_cast<std::uint64_t>(st.st_size)});
    }
    bool duplicate = false;
    for (std::size_t i = 0; i < chain.size() && !duplicate; ++i)
      for (std::size_t j = i + 1; j < chain.size() && !duplicate; ++j)
        duplicate = chain[i].inode == chain[j].inode;
    if (!duplicate)
      break;
  }
  // Still a duplicate (Docker 20.10 links the file to .1 before replacing it): keep the newest
  // name.
  std::vector<ChainFile> unique;
  for (ChainFile& file : chain) {
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const ChainFile& u) { return u.inode == file.inode; }))
      unique.push_back(std::move(file));
  }
  return unique;
}

int LogFileFollower::OpenFile(const ChainFile& file, std::uint64_t offset) {
  const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? -1 : errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != file.inode) {
    ::close(fd);  // renamed between the scan and the open: scan again
    return -1;
  }
  CloseFile();
  fd_ = fd;
  position_ = FilePosition{file.inode, offset};
  read_offset_ = offset;
  begin_ = end_ = 0;
  rotation_seen_ = false;
  realign_ = false;
  ClosePending();
  return 0;
}

Status LogFileFollower::Open(std::optional<FilePosition> saved) {
  CloseFile();
  position_ = {};
  read_offset_ = 0;
  begin_ = end_ = 0;
  rotation_seen_ = false;
  ClosePending();
  gone_ = false;
  if (saved && saved->inode == 0)
    saved.reset();

  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    const std::vector<ChainFile> chain = ScanChain();
    const ChainFile* file = nullptr;
    std::uint64_t offset = 0;
    bool lost = false;
    bool truncated = false;
    if (saved) {
      const auto it = std::find_if(chain.begin(), chain.end(),
                                   [&](const ChainFile& f) { return f.inode == saved->inode; });
      if (it != chain.end()) {
        file = &*it;
        offset = saved->offset;
        if (offset > it->size) {
          truncated = true;
          offset = 0;
        }
      } else {
        lost = true;
        if (!chain.empty())
          file = &chain.back();
      }
    } else if (!chain.empty()) {
      switch (options_.start) {
        case StartAt::kBeginning:
          file = &chain.front();
          break;
        case StartAt::kEnd:
          file = &chain.front();
          offset = chain.front().size;
          break;
        case StartAt::kOldest:
          file = &chain.back();
          break;
      }
    }
    if (file == nullptr) {
      if (lost) {
        ++stats_.lost_starts;
        log::Warn("log {}: saved inode {} is gone and no log file is left; waiting for one", path_,
                  saved->inode);
      }
      return {};  // no file yet: ReadLines opens it from offset 0 when it appears
    }
    int rc = OpenFile(*file, offset);
    if (rc == 0 && saved && !lost && !HeadMatches(*saved)) {
      // A newer file got the saved file's inode number: the saved one was deleted, so every file
      // on disk is newer than it. (Or the saved file was truncated and written again: then the
      // older files are sent again, which Loki takes as duplicates, and nothing is skipped.)
      log::Warn(
          "log {}: saved inode {} now holds another file (its number reused, or the file "
          "truncated and written again)",
          path_, saved->inode);
      lost = true;
      truncated = false;
      file = &chain.back();
      rc = OpenFile(*file, 0);
    }
    if (rc > 0)
      return Error{"open " + file->path + ": " + std::strerror(rc)};
    if (rc < 0)
      continue;
    if (lost) {
      ++stats_.lost_starts;
      log::Warn("log {}: saved inode {} was rotated away; starting at the oldest file {}", path_,
                saved->inode, file->path);
    }
    if (truncated) {
      ++stats_.truncations;
      log::Warn("log {}: saved offset {} is past the end of {} ({} bytes); starting at 0", path_,
                saved->offset, file->path, file->size);
    }
    if (saved && !lost && !truncated && offset > 0 && !AfterNewline(offset)) {
      realign_ = true;
      ++stats_.realigned_starts;
      log::Warn("log {}: saved offset {} of {} is inside a line; resuming at the next line's start",
                path_, offset, file->path);
    }
    Observe(true);
    return {};
  }
  return Error{"log " + path_ + " kept changing while it was opened"};
}

void LogFileFollower::Observe(bool force) {
  if (fd_ < 0)
    return;
  const auto inode = PathInode();  // also tells Held() which files are no longer current
  if (!force && inode && *inode == NewestHeld())
    return;
  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    const std::vector<ChainFile> chain = ScanChain();
    const std::uint64_t newest = NewestHeld();
    const auto held = std::find_if(chain.begin(), chain.end(),
                                   [&](const ChainFile& f) { return f.inode == newest; });
    if (held == chain.end()) {
      // The newest file we hold was deleted: every file on disk is newer (Docker deletes the
      // oldest), but files between may have come and gone unseen. A removal deletes the current
      // file too (or soon), so wait for it to be there before taking anything.
      if (chain.empty() || chain.front().path != path_)
        return;
      ++stats_.lost_starts;
      log::Warn("log {}: more rotations than files kept since the last read; lines may be lost",
                path_);
    }
    bool raced = false;
    for (auto it = std::make_reverse_iterator(held); it != chain.rend() && !raced; ++it) {
      const int fd = ::open(it->path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != it->inode) {
        if (fd >= 0)
          ::close(fd);
        raced = true;  // renamed between the scan and the open: scan again
        break;
      }
      pending_.push_back(HeldFile{fd, it->inode});
    }
    if (!raced)
      return;
  }
}

bool LogFileFollower::Advance() {
  if (pending_.empty())
    Observe(true);
  if (!pending_.empty()) {
    if (log::Enabled(log::Level::kDebug))
      log::Debug("log {}: end of inode {}, next inode {}", path_, position_.inode,
                 pending_.front().inode);
    MoveToNextHeld();
    ++stats_.rotations;
    return true;
  }
  if (ScanChain().empty()) {
    gone_ = true;
    CloseFile();
  }
  return false;  // renamed, but the new file is not there yet
}

void LogFileFollower::Adopt(int fd) {
  CloseFile();
  ClosePending();
  gone_ = false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    position_ = {};
    return;
  }
  fd_ = fd;
  position_ = FilePosition{static_cast<std::uint64_t>(st.st_ino), 0};
  read_offset_ = 0;
  begin_ = end_ = 0;
  rotation_seen_ = false;
  Observe(true);
}

bool LogFileFollower::MoreAvailable() {
  if (begin_ < end_ && std::memchr(buffer_.data() + begin_, '\n', end_ - begin_) != nullptr)
    return true;
  struct stat st {};
  if (fd_ >= 0 && ::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > read_offset_)
    return true;
  const auto inode = PathInode();
  return !inode || *inode != position_.inode;
}

ReadResult LogFileFollower::ReadLinesImpl(std::size_t max_bytes, void* fn_context, LineFn fn) {
  ReadResult result;
  if (gone_) {
    result.gone = true;
    return result;
  }
  NoticeRotations();
  if (fd_ < 0)
    return result;

  const auto emit = [&](std::size_t length) {
    LearnHead();
    position_.offset += length;
    fn(fn_context,
       std::string_view(buffer_.data() + begin_, length - (buffer_[begin_ + length - 1] == '\n')),
       position_);
    begin_ += length;
    ++result.lines;
    result.bytes += length;
  };

  for (;;) {
    if (realign_ && begin_ < end_) {
      // The rest of a line begun before the saved offset: passed over, not handed out.
      const char* start = buffer_.data() + begin_;
      const void* newline = std::memchr(start, '\n', end_ - begin_);
      const std::size_t skip =
          newline != nullptr
              ? static_cast<std::size_t>(static_cast<const char*>(newline) - start) + 1
              : end_ - begin_;
      position_.offset += skip;
      begin_ += skip;
      realign_ = newline == nullptr;
    }
    while (begin_ < end_) {
      const char* start = buffer_.data() + begin_;
      const void* newline = std::memchr(start, '\n', end_ - begin_);
      if (newline == nullptr)
        break;
      emit(static_cast<const char*>(newline) - start + 1);
      if (result.bytes >= max_bytes) {
        result.more = MoreAvailable();
        return result;
      }
    }
    // Keep the incomplete tail at the start of the buffer and read after it.
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buffer_.size()) {
      if (buffer_.size() < options_.max_line_bytes) {
        buffer_.resize(std::min(buffer_.size() * 2, options_.max_line_bytes));
      } else {
        ++stats_.overlong_lines;
        emit(end_);
        if (result.bytes >= max_bytes) {
          result.more = true;
          return result;
        }
        continue;
      }
    }
    const ssize_t got = ::pread(fd_, buffer_.data() + end_, buffer_.size() - end_,
                                static_cast<off_t>(read_offset_));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      ++stats_.read_errors;
      log::Warn("log {}: read: {}", path_, std::strerror(errno));
      return result;
    }
    if (got > 0) {
      end_ += static_cast<std::size_t>(got);
      read_offset_ += static_cast<std::uint64_t>(got);
      continue;
    }

    // End of the file.
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < read_offset_) {
      ++stats_.truncations;
      log::Warn("log {}: truncated from {} to {} bytes; reading again from 0", path_, read_offset_,
                st.st_size);
      position_.offset = 0;
      position_.head_bytes = 0;  // rewritten: its head is learnt again
      read_offset_ = 0;
      begin_ = end_ = 0;
      realign_ = false;
      continue;
    }
    const auto inode = PathInode();
    if (inode && *inode == position_.inode)
      return result;  // the current file, read to its end
    if (!rotation_seen_) {
      // Renamed or deleted; Docker wrote its last line before that, which one more read gets.
      rotation_seen_ = true;
      continue;
    }
    if (begin_ < end_) {
      ++stats_.unterminated_tails;
      emit(end_ - begin_);
    }
    if (!Advance()) {
      result.gone = gone_;
      return result;
    }
    if (result.bytes >= max_bytes) {
      result.more = true;
      return result;
    }
  }
}

std::uint64_t LogFileFollower::UnreadHeldBytes() const {
  if (fd_ < 0)
    return 0;
  const auto size_of = [](int fd) -> std::uint64_t {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  };
  const std::uint64_t current = size_of(fd_);
  std::uint64_t unread = current > position_.offset ? current - position_.offset : 0;
  for (const HeldFile& file : pending_)
    unread += size_of(file.fd);
  return unread;
}

std::uint64_t LogFileFollower::Lag() {
  const std::vector<ChainFile> chain = ScanChain();
  if (fd_ < 0) {
    std::uint64_t total = 0;
    if (!gone_)
      for (const ChainFile& file : chain)
        total += file.size;
    return total;
  }
  std::uint64_t lag = UnreadHeldBytes();
  // Files newer than the newest one held: those before it in the chain, or all once it is deleted.
  const std::uint64_t newest = NewestHeld();
  for (const ChainFile& file : chain) {
    if (file.inode == newest)
      break;
    lag += file.size;
  }
  return lag;
}

void LogFileFollower::NoticeRotations() {
  if (gone_)
    return;
  if (fd_ < 0) {
    // Waiting for a file: all of it is new, from the oldest one on disk.
    const std::vector<ChainFile> chain = ScanChain();
    if (!chain.empty() && OpenFile(chain.back(), 0) == 0)
      Observe(true);
    return;
  }
  Observe(false);
}

std::vector<HeldLog> LogFileFollower::Held() const {
  std::vector<HeldLog> held;
  // Files are held oldest first and only the oldest is read: if it is current, none is held.
  if (!CurrentIsHeld())
    return held;
  const auto held_log = [](int fd, std::uint64_t read) {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
      return HeldLog{};
    const auto size = static_cast<std::uint64_t>(st.st_size);
    return HeldLog{
        size > read ? size - read : 0,
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  };
  held.push_back(held_log(fd_, position_.offset));
  for (const HeldFile& file : pending_) {
    if (file.inode != path_inode_)
      held.push_back(held_log(file.fd, 0));
  }
  return held;
}

std::uint64_t LogFileFollower::ReleaseOldestHeld() {
  if (!CurrentIsHeld())
    return 0;
  if (pending_.empty())
    Observe(true);
  struct stat st {};
  const bool stat_ok = ::fstat(fd_, &st) == 0;
  if (pending_.empty() && (!stat_ok || st.st_nlink > 0))
    return 0;  // in the middle of a rotation: kept, or the next read would start it over
  const std::uint64_t size = stat_ok ? static_cast<std::uint64_t>(st.st_size) : position_.offset;
  const std::uint64_t from = std::min(position_.offset, size);
  // The lines are counted so that the loss is told exactly (as lines Loki will not get): one
  // sequential read of what is given up, from the page cache when it was written lately; only
  // ever done over the budget.
  std::uint64_t lines = 0;
  std::vector<char> chunk(std::size_t{64} << 10);
  char last = '\n';
  for (std::uint64_t at = from; at < size;) {
    const ssize_t got = ::pread(fd_, chunk.data(), std::min<std::uint64_t>(chunk.size(), size - at),
                                static_cast<off_t>(at));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    const auto n = static_cast<std::size_t>(got);
    lines += static_cast<std::uint64_t>(std::count(chunk.data(), chunk.data() + n, '\n'));
    last = chunk[n - 1];
    at += n;
  }
  if (last != '\n')
    ++lines;  // an unterminated tail is handed out as a line at the end of a rotated file
  const std::uint64_t bytes = size - from;
  ++stats_.released_files;
  stats_.released_bytes += bytes;
  stats_.released_lines += lines;
  log::Warn(
      "log {}: over the held-logs budget: gave up rotated inode {} with {} bytes ({} lines) "
      "unread",
      path_, position_.inode, bytes, lines);
  if (pending_.empty()) {
    // Deleted and nothing newer: the container was removed, or the successor is not there yet
    // (then the next read opens the oldest file on disk, newer than this one).
    CloseFile();
    gone_ = ScanChain().empty();
    return bytes;
  }
  MoveToNextHeld();
  return bytes;
}

void LogFileFollower::MoveToNextHeld() {
  const HeldFile next = pending_.front();
  pending_.pop_front();
  CloseFile();
  fd_ = next.fd;
  position_ = FilePosition{next.inode, 0};
  read_offset_ = 0;
  begin_ = end_ = 0;
  rotation_seen_ = false;
  realign_ = false;
}

}  // namespace swarmwatch
