// Wakes the log shipper when a container's log directory changes (inotify), when another thread
// asks (Wake), or when the safety-net period ends, after which the shipper stats every file anyway.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/result.h"

namespace swarmwatch {

class FileWatcher {
 public:
  struct Events {
    std::vector<std::string> ids;              // containers whose log directory changed, each once
    std::vector<std::string> new_directories;  // created in the WatchRoot directory, by name
    bool overflow = false;                     // the kernel dropped events: check every container
    bool woken = false;                        // Wake() was called
  };

  // Fails only if inotify or eventfd cannot be created (descriptor limits); check ok().
  FileWatcher();
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  const Status& status() const { return status_; }

  // Watches `directory` for container `id`: its log files (names starting with "<id>-json.log")
  // modified, created, renamed in or deleted, and the directory itself deleted. Adding an id again
  // replaces its directory.
  Status Add(const std::string& id, const std::string& directory);
  void Remove(const std::string& id);
  // Watches the engine's containers directory for new container directories (reported in
  // Events::new_directories): a container that starts, writes and is removed between two catalog
  // updates still has its log file noticed the moment it is created.
  Status WatchRoot(const std::string& directory);

  // Blocks until something happened or `timeout` passed; the result is valid until the next Wait.
  // Add, Remove and Wait belong to one thread.
  const Events& Wait(std::chrono::milliseconds timeout);

  // Ends a Wait early, from any thread.
  void Wake();

 private:
  struct Watch {
    std::string id;
    std::string prefix;  // "<id>-json.log"
  };
  void Drain();
  void Note(const std::string& id);

  int inotify_fd_ = -1;
  int root_wd_ = -1;
  int wake_fd_ = -1;
  Status status_;
  std::unordered_map<int, Watch> by_descriptor_;
  std::unordered_map<std::string, int> by_id_;
  Events events_;
  std::vector<char> buffer_;
};

}  // namespace swarmwatch
