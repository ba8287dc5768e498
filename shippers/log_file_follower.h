// Follows one container's json-file log (<dir>/<id>-json.log) by inode across Docker's rotation,
// handing out complete lines with the position just after each, so the shipper can commit offsets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "agent/result.h"
#include "shippers/log_record.h"

namespace swarmwatch {

// Where a container seen for the first time (no saved position) starts.
enum class StartAt : std::uint8_t {
  kBeginning,  // offset 0 of the current <id>-json.log; rotated files (.1, .2, ...) are history
               // the agent never saw and are not read
  kEnd,        // the current file's size: only lines written from now on
  kOldest,     // offset 0 of the oldest rotated file still on disk, then the newer ones in order
};

struct FollowerOptions {
  StartAt start = StartAt::kBeginning;
  // One read() fills at most this much.
  std::size_t buffer_bytes = std::size_t{256} << 10;
  // A longer line is handed out in pieces of this size (the buffer grows up to it).
  std::size_t max_line_bytes = std::size_t{1} << 20;
};

// Things that happened to the file that the shipper logs and counts. Counters only grow.
struct FollowerStats {
  std::uint64_t rotations = 0;       // moves from a rotated file to its successor
  std::uint64_t truncations = 0;     // the file shrank below the read offset: restarted at 0
  std::uint64_t lost_starts = 0;     // lines may have been lost: the saved inode rotated away
                                     // (restarted at the oldest file on disk), or more rotations
                                     // than files kept between two calls (conservative, see below)
  std::uint64_t overlong_lines = 0;  // lines longer than max_line_bytes, handed out in pieces
  std::uint64_t unterminated_tails = 0;  // a rotated or deleted file ended without '\n': the tail
                                         // was handed out as a line
  std::uint64_t read_errors = 0;
  std::uint64_t realigned_starts = 0;  // a saved offset inside a line: moved to the next line start
  // Held files given up unread to keep within the held-logs budget (ReleaseOldestHeld): the
  // files, and the bytes and lines they still had unread.
  std::uint64_t released_files = 0;
  std::uint64_t released_bytes = 0;
  std::uint64_t released_lines = 0;
};

// A file the follower holds open that is no longer the current <id>-json.log (rotated, or
// deleted with the container), and what of it is unread: on disk only through our descriptor,
// or soon to be.
struct HeldLog {
  std::uint64_t unread_bytes = 0;
  std::int64_t mtime_ns = 0;  // its last write: about when it was rotated away
};

struct ReadResult {
  std::size_t lines = 0;
  std::size_t bytes = 0;  // bytes of the lines handed out, newlines included
  bool more = false;      // stopped at the budget with more to read now: call again soon
  bool gone = false;      // the log was deleted (container removed) and everything was read
};

// Not thread-safe: one owner calls everything.
//
// Rules:
// - The follower reads one file at a time through an open descriptor, so a renamed or deleted file
//   is still read to its end. Each call notices (one stat) when <id>-json.log holds a new inode and
//   then opens every file newer than the ones it holds, in rotation order (<id>-json.log, .1,
//   .2, ...; compressed .gz rotations are ignored), so they too stay readable after Docker deletes
//   them. At the end of a rotated file, after one more read (Docker does not write to a file
//   after renaming it), it moves to the next file at offset 0.
// - Lines are lost only if more than max-file rotations happen between two calls (the files
//   rotated away in between were never seen); that is counted in lost_starts, conservatively (it
//   may count a case where exactly max-file rotations passed and nothing was lost).
// - Open(saved) looks for the saved inode among <id>-json.log, .1, .2, ... and resumes at the saved
//   offset, then continues through the newer files in order and the current one. If the inode is
//   nowhere (rotated away while the agent was down), it starts at the oldest file's beginning and
//   counts lost_starts. Without a saved position, FollowerOptions::start decides.
// - A saved offset is a line's start: 0, or just after a '\n'. One that is not (a positions file
//   edited or damaged, or a position handed out inside an overlong line) is moved to the next
//   line's start, counted in realigned_starts: the fragment before it is not a line, and Loki would
//   get a piece of JSON. The bytes skipped are those up to and including the next '\n'.
// - A file that does not exist yet (a container created but never started) is waited for; when it
//   appears it is read from offset 0 whatever the start rule, since all of it is new. Adopt()
//   starts the same way from a descriptor opened when the file was created, so a container that
//   wrote and was removed before it was followed is still read.
// - Truncation (the size drops below the read offset on the same inode) restarts at 0, counted.
//   A truncation followed by writes past the old offset before the next read is not detectable
//   while following (at Open, the head tells; see below).
// - Deletion: once the open file is unlinked, nothing else is on disk, and all of it (and of the
//   newer files already held open) was read, ReadLines reports gone.
// - Inode numbers are reused by file systems as soon as a file is deleted and closed: a saved
//   inode found on disk may belong to a newer file. The positions handed out carry the file's
//   head (FilePosition::head_hash); a file under the saved inode with another head is a newer
//   one, and Open treats the saved file as rotated away. The same holds for the saved file
//   truncated and written again while the agent was down: reading from the oldest file then
//   sends the older files again rather than skip the start of the rewritten one.
// - Held files: while the shipper cannot read (its read-ahead full, Loki away), NoticeRotations()
//   does what a read does first (one stat; on a new inode, open the newer files), so rotations
//   keep being seen and every rotated file stays open until it is read, whatever Docker deletes.
//   They take disk space: Held() tells it, and ReleaseOldestHeld() gives up the oldest one (the
//   file being read, when it is no longer the current one), counting its unread bytes and lines.
class LogFileFollower {
 public:
  explicit LogFileFollower(std::string log_path, FollowerOptions options = {});
  ~LogFileFollower();
  LogFileFollower(const LogFileFollower&) = delete;
  LogFileFollower& operator=(const LogFileFollower&) = delete;

  // Positions the follower (see the rules above). Errors are I/O failures other than a missing
  // file (permissions, ...).
  Status Open(std::optional<FilePosition> saved);
  // Positions the follower at offset 0 of `fd`, a descriptor of the log file opened by someone
  // who saw it created (so it is the container's first file, all of it new), and takes it over.
  // The file may already be deleted: it is read to its end, then the newer files on disk if any.
  void Adopt(int fd);

  // Reads what is available now, calling on_line(std::string_view line, FilePosition after_line)
  // for every complete line, without its '\n'. The view points into the follower's buffer and is
  // valid during the call only. Stops once about max_bytes of lines were handed out. An incomplete
  // last line is kept for the next call.
  template <class F>
  ReadResult ReadLines(std::size_t max_bytes, F&& on_line) {
    using Fn = std::remove_reference_t<F>;
    void* context = const_cast<std::remove_const_t<Fn>*>(std::addressof(on_line));
    return ReadLinesImpl(max_bytes, context,
                         [](void* fn, std::string_view line, FilePosition after) {
                           (*static_cast<Fn*>(fn))(line, after);
                         });
  }

  // Bytes on disk not yet handed out: the rest of the current file plus the newer files.
  std::uint64_t Lag();
  // Bytes not yet read of the files held open (one fstat each, no directory scan): a cheap
  // lower bound of Lag(), to tell a flood before reading it.
  std::uint64_t UnreadHeldBytes() const;

  // Position just after the last line handed out ({0, 0} before a file exists).
  FilePosition position() const { return position_; }
  const FollowerStats& stats() const { return stats_; }
  const std::string& path() const { return path_; }

  // Notices a rotation without reading (see the rules): what ReadLines does before it reads.
  void NoticeRotations();
  // The held files (rotated or deleted, open), oldest first, as of the last stat of the path
  // (NoticeRotations or ReadLines). No system call unless a file is held.
  std::vector<HeldLog> Held() const;
  // Closes the oldest held file (Held().front()), counting what of it was unread in the stats,
  // and moves on to the next file at offset 0. Returns the bytes given up (0: nothing held).
  std::uint64_t ReleaseOldestHeld();

 private:
  using LineFn = void (*)(void*, std::string_view, FilePosition);
  struct ChainFile {
    std::string path;
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
  };

  ReadResult ReadLinesImpl(std::size_t max_bytes, void* fn_ctx, LineFn fn);
  // Existing files of the rotation chain, newest first: <id>-json.log, .1, .2, ...
  std::vector<ChainFile> ScanChain() const;
  // Opens chain file `file` at `offset`: 0 on success, -1 if the path no longer holds that inode
  // (renamed meanwhile: scan again), else the errno.
  int OpenFile(const ChainFile& file, std::uint64_t offset);
  void CloseFile();
  // At the end of a rotated or deleted file: moves to the next held file if there is one (true),
  // else sets gone_ when nothing is left on disk.
  bool Advance();
  // Opens the files that are newer than the newest one held, oldest first, so that they stay
  // readable (and their inodes cannot be reused) even if Docker deletes them before we get there.
  // `force`: scan even if the path still holds the newest file held.
  void Observe(bool force);
  std::uint64_t NewestHeld() const {
    return pending_.empty() ? position_.inode : pending_.back().inode;
  }
  void ClosePending();
  // Closes the file being read and goes on at offset 0 of the oldest held newer one (there is one).
  void MoveToNextHeld();
  bool MoreAvailable();
  // The inode at the path now (nullopt: no file), kept in path_inode_ for Held().
  std::optional<std::uint64_t> PathInode();
  // Whether the file being read is held: rotated or deleted, as of the last stat of the path.
  bool CurrentIsHeld() const { return fd_ >= 0 && position_.inode != path_inode_; }
  // Puts the current file's head into position_ if it is not there yet (one pread per file).
  void LearnHead();
  // Whether the current file begins with `saved`'s head (or `saved` has none).
  bool HeadMatches(const FilePosition& saved);
  // Whether the current file's byte before `offset` (> 0) is a '\n'.
  bool AfterNewline(std::uint64_t offset);

  std::string path_;
  FollowerOptions options_;
  int fd_ = -1;
  FilePosition position_;          // after the last line handed out
  std::uint64_t read_offset_ = 0;  // where the next pread() starts: position_.offset + tail
  bool rotation_seen_ = false;     // the path holds another inode; one more read was allowed
  bool realign_ = false;           // resumed inside a line: skip to just after the next '\n'
  struct HeldFile {
    int fd = -1;
    std::uint64_t inode = 0;
  };
  std::deque<HeldFile> pending_;  // open files newer than fd_'s, oldest first
  bool gone_ = false;
  std::uint64_t path_inode_ = 0;  // at the path at the last stat; 0: none
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // unread data in buffer_ is [begin_, end_)
  std::size_t end_ = 0;
  FollowerStats stats_;
};

}  // namespace swarmwatch
