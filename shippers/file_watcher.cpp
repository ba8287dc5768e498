#include "shippers/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "agent/log.h"

namespace swarmwatch {

namespace {

constexpr std::uint32_t kMask =
    IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF;

}  // namespace

FileWatcher::FileWatcher() : buffer_(std::size_t{64} << 10) {
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    status_ = Error{std::string("inotify_init1: ") + std::strerror(errno)};
    return;
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    status_ = Error{std::string("eventfd: ") + std::strerror(errno)};
}

FileWatcher::~FileWatcher() {
  if (inotify_fd_ >= 0)
    ::close(inotify_fd_);
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

Status FileWatcher::Add(const std::string& id, const std::string& directory) {
  if (!status_.ok())
    return status_;
  Remove(id);
  const int wd = ::inotify_add_watch(inotify_fd_, directory.c_str(), kMask | IN_ONLYDIR);
  if (wd < 0)
    return Error{"watch " + directory + ": " + std::strerror(errno)};
  // Two ids in one directory share the descriptor: the later one wins, which only happens if the
  // caller maps two containers to one directory.
  by_descriptor_[wd] = Watch{id, id + "-json.log"};
  by_id_[id] = wd;
  return {};
}

Status FileWatcher::WatchRoot(const std::string& directory) {
  if (!status_.ok())
    return status_;
  const int wd =
      ::inotify_add_watch(inotify_fd_, directory.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
  if (wd < 0)
    return Error{"watch " + directory + ": " + std::strerror(errno)};
  root_wd_ = wd;
  return {};
}

void FileWatcher::Remove(const std::string& id) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end())
    return;
  const auto watch = by_descriptor_.find(it->second);
  if (watch != by_descriptor_.end() && watch->second.id == id) {
    ::inotify_rm_watch(inotify_fd_, it->second);
    by_descriptor_.erase(watch);
  }
  by_id_.erase(it);
}

void FileWatcher::Wake() {
  const std::uint64_t one = 1;
  // Only fails if the counter would overflow, when a wake-up is pending anyway.
  [[maybe_unused]] const ssize_t wrote = ::write(wake_fd_, &one, sizeof one);
}

void FileWatcher::Note(const std::string& id) {
  if (std::find(events_.ids.begin(), events_.ids.end(), id) == events_.ids.end())
    events_.ids.push_back(id);
}

void FileWatcher::Drain() {
  for (;;) {
    const ssize_t got = ::read(inotify_fd_, buffer_.data(), buffer_.size());
    if (got < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        log::Warn("inotify read: {}", std::strerror(errno));
      return;
    }
    if (got == 0)
      return;
    for (std::size_t at = 0; at + sizeof(inotify_event) <= static_cast<std::size_t>(got);) {
      inotify_event event{};
      std::memcpy(&event, buffer_.data() + at, sizeof event);
      const std::string_view name =
          event.len > 0 ? std::string_view(buffer_.data() + at + sizeof event) : std::string_view();
      at += sizeof event + event.len;
      if ((event.mask & IN_Q_OVERFLOW) != 0) {
        events_.overflow = true;
        continue;
      }
      if (event.wd == root_wd_ && root_wd_ >= 0) {
        if ((event.mask & IN_ISDIR) != 0 && !name.empty())
          events_.new_directories.emplace_back(name);
        continue;
      }
      const auto watch = by_descriptor_.find(event.wd);
      if (watch == by_descriptor_.end())
        continue;
      if ((event.mask & (IN_DELETE_SELF | IN_IGNORED)) != 0 ||
          name.starts_with(watch->second.prefix))
        Note(watch->second.id);
      if ((event.mask & IN_IGNORED) != 0) {
        // The directory is gone and the kernel dropped the watch.
        const auto id = by_id_.find(watch->second.id);
        if (id != by_id_.end() && id->second == event.wd)
          by_id_.erase(id);
        by_descriptor_.erase(watch);
      }
    }
  }
}

const FileWatcher::Events& FileWatcher::Wait(std::chrono::milliseconds timeout) {
  events_.ids.clear();
  events_.new_directories.clear();
  events_.overflow = false;
  events_.woken = false;
  if (!status_.ok())
    return events_;
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Rounded up, or the last fraction of a millisecond would be a poll that returns at once.
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int ready = ::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR)
      continue;
    break;
  }
  if ((fds[1].revents & POLLIN) != 0) {
    std::uint64_t count = 0;
    events_.woken = ::read(wake_fd_, &count, sizeof count) == sizeof count;
  }
  if ((fds[0].revents & POLLIN) != 0)
    Drain();
  return events_;
}

}  // namespace swarmwatch
