#include "shippers/log_file_follower.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "agent/log.h"
#include "shippers/held_logs_budget.h"
#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::uint64_t InodeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// A container's log directory written the way Docker's json-file driver writes it.
class DockerLog {
 public:
  DockerLog(const std::string& dir, int max_file)
      : base_(dir + "/abc-json.log"), max_file_(max_file) {
    Touch();
  }
  const std::string& path() const { return base_; }
  void Append(const std::string& text) {
    std::ofstream out(base_, std::ios::app | std::ios::binary);
    out << text;
  }
  void Line(int n) { Append(LineText(n) + "\n"); }
  static std::string LineText(int n) { return "{\"log\":\"line " + std::to_string(n) + "\\n\"}"; }
  // Docker's rotate(): remove the oldest, shift .i -> .i+1 from the oldest down, file -> .1, new
  // file.
  void Rotate() {
    std::remove((base_ + "." + std::to_string(max_file_ - 1)).c_str());
    for (int i = max_file_ - 1; i > 1; --i)
      std::rename((base_ + "." + std::to_string(i - 1)).c_str(),
                  (base_ + "." + std::to_string(i)).c_str());
    std::rename(base_.c_str(), (base_ + ".1").c_str());
    Touch();
  }

 private:
  void Touch() { std::ofstream out(base_, std::ios::app); }
  std::string base_;
  int max_file_;
};

struct Collected {
  std::vector<std::string> lines;
  std::vector<FilePosition> positions;
};

ReadResult ReadAll(LogFileFollower& follower, Collected& into, std::size_t budget = 1 << 20) {
  return follower.ReadLines(budget, [&](std::string_view line, FilePosition after) {
    into.lines.emplace_back(line);
    into.positions.push_back(after);
  });
}

std::vector<std::string> Expected(int from, int to) {
  std::vector<std::string> lines;
  for (int i = from; i < to; ++i)
    lines.push_back(DockerLog::LineText(i));
  return lines;
}

TEST(LogFileFollower, IncompleteTailWaitsForItsNewline) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Append("first\nsec");
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, std::vector<std::string>({"first"}));
  const std::uint64_t head = HeadHash("first\n");
  EXPECT_EQ(follower.position(), (FilePosition{InodeOf(log.path()), 6, head, 6}));
  log.Append("ond");
  ReadAll(follower, got);
  EXPECT_EQ(got.lines.size(), 1u);
  log.Append("\nthird\n");
  const ReadResult result = ReadAll(follower, got);
  EXPECT_EQ(got.lines, std::vector<std::string>({"first", "second", "third"}));
  EXPECT_EQ(got.positions.back(), (FilePosition{InodeOf(log.path()), 19, head, 6}));
  EXPECT_EQ(result.lines, 2u);
  EXPECT_EQ(result.bytes, 13u);
  EXPECT_FALSE(result.more);
  EXPECT_FALSE(result.gone);
}

TEST(LogFileFollower, LinesLongerThanTheBufferGrowItUpToTheMaximum) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path(), {.buffer_bytes = 64, .max_line_bytes = 256});
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  const std::string long_line(200, 'x');
  const std::string too_long(300, 'y');
  log.Append(long_line + "\n" + too_long + "\nz\n");
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, std::vector<std::string>(
                           {long_line, std::string(256, 'y'), std::string(44, 'y'), "z"}));
  EXPECT_EQ(follower.stats().overlong_lines, 1u);
  EXPECT_EQ(follower.position().offset, 201u + 301u + 2u);
}

TEST(LogFileFollower, StartAtEndSkipsWhatIsThere) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Line(1);
  LogFileFollower follower(log.path(), {.start = StartAt::kEnd});
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(2);
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(2, 3));
}

TEST(LogFileFollower, StartAtBeginningReadsTheCurrentFileOnlyAndOldestReadsTheRotatedOnesToo) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Rotate();
  log.Line(1);
  log.Rotate();
  log.Line(2);
  {
    LogFileFollower follower(log.path());
    ASSERT_TRUE(follower.Open(std::nullopt).ok());
    Collected got;
    ReadAll(follower, got);
    EXPECT_EQ(got.lines, Expected(2, 3));
  }
  LogFileFollower follower(log.path(), {.start = StartAt::kOldest});
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, 3));
}

// Writes lines 0..n with `rotations` Docker rotations while the follower reads nothing, then
// checks that it reads every line once, in order.
void RotateWhileBehind(int rotations, int max_file) {
  TempDir dir;
  DockerLog log(dir.path(), max_file);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  int n = 0;
  log.Line(n++);
  Collected got;
  ReadAll(follower, got);
  log.Line(n++);  // the follower is in the middle of the first file
  for (int r = 0; r < rotations; ++r) {
    log.Rotate();
    log.Line(n++);
    log.Line(n++);
  }
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, n)) << rotations << " rotations";
  EXPECT_EQ(follower.stats().rotations, static_cast<std::uint64_t>(rotations));
  EXPECT_EQ(follower.stats().lost_starts, 0u);
  EXPECT_EQ(follower.position().inode, InodeOf(log.path()));
  EXPECT_EQ(follower.Lag(), 0u);
  log.Line(n++);
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, n));
}

TEST(LogFileFollower, OneRotationWhileBehind) {
  RotateWhileBehind(1, 5);
}
TEST(LogFileFollower, TwoRotationsWhileBehind) {
  RotateWhileBehind(2, 5);
}
TEST(LogFileFollower, ThreeRotationsWhileBehind) {
  RotateWhileBehind(3, 5);
}

TEST(LogFileFollower, RotatedAwayWhileReadingItTheOpenFileIsStillFinished) {
  // max-file=2: the file being read is deleted by the second rotation; the open descriptor keeps
  // it readable, and the successor (now .1) was learned on the way.
  TempDir dir;
  DockerLog log(dir.path(), 2);
  LogFileFollower follower(log.path(), {.buffer_bytes = 64});
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  int n = 0;
  for (; n < 10; ++n)
    log.Line(n);
  Collected got;
  follower.ReadLines(1, [&](std::string_view line, FilePosition) { got.lines.emplace_back(line); });
  log.Rotate();
  log.Line(n++);
  follower.ReadLines(1, [&](std::string_view line, FilePosition) { got.lines.emplace_back(line); });
  log.Rotate();  // deletes the file the follower is reading
  log.Line(n++);
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, n));
  EXPECT_EQ(follower.stats().lost_starts, 0u);
}

TEST(LogFileFollower, ResumesFromASavedPositionInARotatedFile) {
  TempDir dir;
  DockerLog log(dir.path(), 4);
  log.Line(0);
  log.Line(1);
  FilePosition saved;
  {
    LogFileFollower first(log.path());
    ASSERT_TRUE(first.Open(std::nullopt).ok());
    first.ReadLines(1, [&](std::string_view, FilePosition after) { saved = after; });
  }
  log.Rotate();
  log.Line(2);
  log.Rotate();
  log.Line(3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(saved).ok());
  EXPECT_EQ(follower.position(), saved);
  EXPECT_EQ(follower.Lag(), 3 * (DockerLog::LineText(1).size() + 1));
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(1, 4));
  EXPECT_EQ(follower.stats().rotations, 2u);
  EXPECT_EQ(follower.stats().lost_starts, 0u);
}

TEST(LogFileFollower, SavedInodeRotatedAwayStartsAtTheOldestFileAndSaysSo) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  const FilePosition saved{InodeOf(log.path()), 0};
  // Held open so that the file system cannot give its inode to a new file (see the reuse test).
  std::ifstream keep_inode(log.path());
  for (int n = 1; n <= 3; ++n) {
    log.Rotate();
    log.Line(n);
  }
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(saved).ok());
  EXPECT_EQ(follower.stats().lost_starts, 1u);
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(1, 4));  // the third rotation deleted the saved file: line 0 lost
}

TEST(LogFileFollower, SavedOffsetPastTheEndCountsAsTruncation) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(FilePosition{InodeOf(log.path()), 1000}).ok());
  EXPECT_EQ(follower.stats().truncations, 1u);
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, 1));
}

TEST(LogFileFollower, ASavedOffsetInsideALineResumesAtTheNextLineStart) {
  // Before, the rest of the line was handed out as a line: a piece of JSON shipped to Loki.
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Line(1);
  log.Line(2);
  const std::uint64_t line_bytes = DockerLog::LineText(0).size() + 1;
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(FilePosition{InodeOf(log.path()), line_bytes + 5}).ok());
  EXPECT_EQ(follower.stats().realigned_starts, 1u);
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(2, 3));
  EXPECT_EQ(got.positions.back().offset, 3 * line_bytes);
}

TEST(LogFileFollower, ALineStartIsResumedAsItIs) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Line(1);
  const std::uint64_t line_bytes = DockerLog::LineText(0).size() + 1;
  for (const std::uint64_t offset : {std::uint64_t{0}, line_bytes, 2 * line_bytes}) {
    LogFileFollower follower(log.path());
    ASSERT_TRUE(follower.Open(FilePosition{InodeOf(log.path()), offset}).ok());
    EXPECT_EQ(follower.stats().realigned_starts, 0u) << offset;
    Collected got;
    ReadAll(follower, got);
    EXPECT_EQ(got.lines, Expected(static_cast<int>(offset / line_bytes), 2)) << offset;
  }
}

TEST(LogFileFollower, ARealignedStartWaitsForTheEndOfALineStillBeingWritten) {
  // The rest of the line may be longer than the buffer, or not written yet.
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Append("head " + std::string(500, 'x'));
  LogFileFollower follower(log.path(), {.buffer_bytes = 64, .max_line_bytes = 128});
  ASSERT_TRUE(follower.Open(FilePosition{InodeOf(log.path()), 3}).ok());
  Collected got;
  ReadAll(follower, got);
  EXPECT_TRUE(got.lines.empty());
  log.Append(std::string(300, 'y') + "\nnext\n");
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, std::vector<std::string>{"next"});
  EXPECT_EQ(follower.position().offset, 505u + 301u + 5u);
  EXPECT_EQ(follower.stats().overlong_lines, 0u);
}

TEST(LogFileFollower, ARealignedStartInARotatedFileGoesOnToTheNextFile) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Append("unterminated");
  const std::uint64_t inode = InodeOf(log.path());
  log.Rotate();
  log.Line(1);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(FilePosition{inode, DockerLog::LineText(0).size() + 1 + 4}).ok());
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(1, 2));
  EXPECT_EQ(follower.stats().unterminated_tails, 0u);
}

TEST(LogFileFollower, TruncationRestartsAtZero) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(0);
  log.Line(1);
  Collected got;
  ReadAll(follower, got);
  ASSERT_EQ(::truncate(log.path().c_str(), 0), 0);
  log.Line(2);
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, 3));
  EXPECT_EQ(follower.stats().truncations, 1u);
  // The file was rewritten: its head is the new first line.
  const std::string head = DockerLog::LineText(2) + "\n";
  EXPECT_EQ(got.positions.back(), (FilePosition{InodeOf(log.path()), head.size(), HeadHash(head),
                                                static_cast<std::uint32_t>(head.size())}));
}

TEST(LogFileFollower, DeletionIsReportedOnceEverythingWasRead) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(0);
  log.Line(1);
  log.Line(2);
  Collected got;
  const auto one = [&](std::string_view line, FilePosition) { got.lines.emplace_back(line); };
  follower.ReadLines(1, one);
  fs::remove_all(dir.path());  // docker rm
  ReadResult result = follower.ReadLines(1, one);
  EXPECT_FALSE(result.gone);  // the budget stopped it before the end
  EXPECT_TRUE(result.more);
  result = ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, 3));
  EXPECT_TRUE(result.gone);
  EXPECT_TRUE(ReadAll(follower, got).gone);
  EXPECT_EQ(follower.Lag(), 0u);
  EXPECT_EQ(follower.stats().lost_starts, 0u);
}

TEST(LogFileFollower, NewerFilesSeenOnceAreReadEvenAfterTheContainerIsRemoved) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(0);
  log.Rotate();
  log.Line(1);
  Collected got;
  ReadAll(follower, got, 1);  // notices the rotation and opens the newer file
  fs::remove_all(dir.path());
  EXPECT_TRUE(ReadAll(follower, got).gone);
  EXPECT_EQ(got.lines, Expected(0, 2));
  EXPECT_EQ(follower.stats().lost_starts, 0u);
}

TEST(LogFileFollower, MoreRotationsThanFilesBetweenTwoReadsAreCountedAsLoss) {
  TempDir dir;
  DockerLog log(dir.path(), 2);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(0);
  Collected got;
  ReadAll(follower, got);
  log.Line(1);
  for (int n = 2; n < 5; ++n) {  // three rotations with two files kept: line 2 is lost
    log.Rotate();
    log.Line(n);
  }
  ReadAll(follower, got);
  std::vector<std::string> expected = Expected(0, 2);
  for (const std::string& line : Expected(3, 5))
    expected.push_back(line);
  EXPECT_EQ(got.lines, expected);
  EXPECT_EQ(follower.stats().lost_starts, 1u);
}

// Inode numbers are reused once a file is deleted and closed (tmpfs and ext4 do so readily). A
// saved position whose inode now belongs to a newer file cannot be told apart from the original
// by {inode, offset} alone; the follower reads the newer file from the saved offset, or from 0
// when it is shorter (counted as a truncation). Pinned here so a fingerprint can fix it later.
// The position saved after reading lines [0, count) of a fresh log, as the shipper saves it.
FilePosition PositionAfter(DockerLog& log, int count) {
  LogFileFollower follower(log.path());
  EXPECT_TRUE(follower.Open(std::nullopt).ok());
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(static_cast<int>(got.lines.size()), count);
  return follower.position();
}

TEST(LogFileFollower, AReusedInodeIsToldApartByTheFileHead) {
  TempDir dir;
  DockerLog log(dir.path(), 2);
  log.Line(0);
  const FilePosition saved = PositionAfter(log, 1);
  ASSERT_EQ(saved.head_bytes, DockerLog::LineText(0).size() + 1);
  // While the agent is down: the saved file is rotated away and deleted, and the newest file
  // may get its inode number.
  log.Rotate();
  log.Line(1);
  log.Rotate();
  log.Line(2);
  log.Line(3);
  if (InodeOf(log.path()) != saved.inode)
    GTEST_SKIP() << "this file system did not reuse the inode";
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(saved).ok());
  Collected got;
  ReadAll(follower, got);
  // Taken for the saved file, the newest one would be read from the saved offset: line 2 skipped.
  EXPECT_EQ(got.lines, Expected(1, 4));
  EXPECT_EQ(follower.stats().lost_starts, 1u);
}

TEST(LogFileFollower, AFileTruncatedAndRewrittenWhileTheAgentWasDownIsReadFromItsStart) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Rotate();
  log.Line(1);
  log.Line(2);
  const FilePosition saved = PositionAfter(log, 2);  // read the current file: lines 1 and 2
  ASSERT_EQ(::truncate(log.path().c_str(), 0), 0);
  for (int n = 3; n < 6; ++n)  // past the saved offset
    log.Line(n);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(saved).ok());
  Collected got;
  ReadAll(follower, got);
  // Resumed at the saved offset, lines 3 and 4 would be skipped. The older file is sent again.
  EXPECT_EQ(got.lines, std::vector<std::string>({DockerLog::LineText(0), DockerLog::LineText(3),
                                                 DockerLog::LineText(4), DockerLog::LineText(5)}));
  EXPECT_EQ(follower.stats().lost_starts, 1u);
}

TEST(LogFileFollower, AFileWithTheSavedHeadIsResumedAtTheSavedOffset) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Line(1);
  const FilePosition saved = PositionAfter(log, 2);
  log.Line(2);
  log.Rotate();
  log.Line(3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(saved).ok());
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(2, 4));
  EXPECT_EQ(follower.stats().lost_starts, 0u);
  EXPECT_EQ(got.positions.front().head_hash, saved.head_hash);
}

TEST(LogFileFollower, APositionWithoutHeadIsTakenAsItIs) {
  // Saved by an agent that did not keep heads: the inode alone decides, as it did then.
  TempDir dir;
  DockerLog log(dir.path(), 3);
  log.Line(0);
  log.Line(1);
  const FilePosition saved{InodeOf(log.path()), DockerLog::LineText(0).size() + 1};
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(saved).ok());
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(1, 2));
  EXPECT_EQ(follower.stats().lost_starts, 0u);
}

TEST(LogFileFollower, BudgetStopsEarlyAndSaysMoreIsThere) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path(), {.buffer_bytes = 128});
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  for (int n = 0; n < 100; ++n)
    log.Line(n);
  const std::size_t line_bytes = DockerLog::LineText(0).size() + 1;
  Collected got;
  ReadResult result = ReadAll(follower, got, 3 * line_bytes);
  EXPECT_EQ(result.lines, 3u);
  EXPECT_TRUE(result.more);
  int calls = 1;
  while (result.more) {
    result = ReadAll(follower, got, 10 * line_bytes);
    EXPECT_LE(result.bytes, 11 * line_bytes);
    ++calls;
  }
  EXPECT_EQ(got.lines, Expected(0, 100));
  EXPECT_GT(calls, 9);
}

TEST(LogFileFollower, LagCountsTheUnreadRestAndTheNewerFiles) {
  TempDir dir;
  DockerLog log(dir.path(), 5);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  EXPECT_EQ(follower.Lag(), 0u);
  log.Append("0123456789\nabc");
  EXPECT_EQ(follower.Lag(), 14u);
  follower.ReadLines(100, [](std::string_view, FilePosition) {});
  EXPECT_EQ(follower.Lag(), 3u);  // the incomplete tail is read but not handed out
  log.Append("\n");
  log.Rotate();
  log.Append("0123\n");
  log.Rotate();
  log.Append("01\n");
  EXPECT_EQ(follower.Lag(), 4u + 5u + 3u);
  follower.ReadLines(100, [](std::string_view, FilePosition) {});
  EXPECT_EQ(follower.Lag(), 0u);
}

// What the shipper does while its read-ahead is full (Loki away): no read, but rotations are
// noticed and every rotated file is held open, so nothing is lost to Docker's deletions.
TEST(LogFileFollower, NoticingRotationsWithoutReadingHoldsEveryRotatedFile) {
  TempDir dir;
  DockerLog log(dir.path(), 2);  // one rotated file kept: each rotation deletes the one before
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  for (int n = 0; n < 4; ++n) {
    log.Line(n);
    log.Rotate();
    follower.NoticeRotations();
  }
  log.Line(4);
  const std::vector<HeldLog> held = follower.Held();
  ASSERT_EQ(held.size(), 4u);  // lines 0 (being read, at 0), 1, 2 (deleted) and 3 (.1)
  for (std::size_t i = 0; i < held.size(); ++i)
    EXPECT_EQ(held[i].unread_bytes, DockerLog::LineText(static_cast<int>(i)).size() + 1) << i;
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, 5));
  EXPECT_EQ(follower.stats().lost_starts, 0u);
  EXPECT_TRUE(follower.Held().empty());
}

TEST(LogFileFollower, WithoutNoticingTheSameRotationsLoseLines) {
  // The check above, without NoticeRotations: what the shipper did before it called it.
  TempDir dir;
  DockerLog log(dir.path(), 2);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  for (int n = 0; n < 4; ++n) {
    log.Line(n);
    log.Rotate();
  }
  log.Line(4);
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, (std::vector<std::string>{DockerLog::LineText(0), DockerLog::LineText(3),
                                                 DockerLog::LineText(4)}));
  EXPECT_EQ(follower.stats().lost_starts, 1u);
}

TEST(LogFileFollower, ReleasingTheOldestHeldFileCountsItsUnreadRestAndGoesOn) {
  TempDir dir;
  DockerLog log(dir.path(), 2);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  for (int n = 0; n < 3; ++n)
    log.Line(n);
  Collected got;
  ReadAll(follower, got, 1);  // line 0 handed out; 1 and 2 unread
  log.Rotate();
  follower.NoticeRotations();
  log.Line(3);
  log.Append("unterminated");
  log.Rotate();
  follower.NoticeRotations();
  log.Line(4);
  EXPECT_EQ(follower.ReleaseOldestHeld(),
            DockerLog::LineText(1).size() + DockerLog::LineText(2).size() + 2);
  EXPECT_EQ(follower.stats().released_files, 1u);
  EXPECT_EQ(follower.stats().released_lines, 2u);
  EXPECT_EQ(follower.ReleaseOldestHeld(), DockerLog::LineText(3).size() + 1 + 12);
  EXPECT_EQ(follower.stats().released_lines, 4u);  // an unterminated tail is a line
  EXPECT_EQ(follower.ReleaseOldestHeld(), 0u);     // the current file is not held
  EXPECT_EQ(follower.stats().released_files, 2u);
  EXPECT_EQ(follower.stats().released_bytes, DockerLog::LineText(1).size() +
                                                 DockerLog::LineText(2).size() +
                                                 DockerLog::LineText(3).size() + 3 + 12);
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, (std::vector<std::string>{DockerLog::LineText(0), DockerLog::LineText(4)}));
  EXPECT_EQ(follower.position().offset, DockerLog::LineText(4).size() + 1);
}

TEST(LogFileFollower, AFollowerOfARemovedContainerHoldsItsDeletedFileUntilReleased) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(0);
  fs::remove_all(dir.path());
  follower.NoticeRotations();
  ASSERT_EQ(follower.Held().size(), 1u);
  EXPECT_EQ(follower.ReleaseOldestHeld(), DockerLog::LineText(0).size() + 1);
  Collected got;
  EXPECT_TRUE(ReadAll(follower, got).gone);
  EXPECT_TRUE(got.lines.empty());
}

TEST(LogFileFollower, AHeldFileWithoutSuccessorYetIsKeptInTheMiddleOfARotation) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(0);
  fs::rename(log.path(), log.path() + ".1");  // Docker's rename, before it creates the new file
  follower.NoticeRotations();
  ASSERT_EQ(follower.Held().size(), 1u);
  EXPECT_EQ(follower.ReleaseOldestHeld(), 0u);  // given up now, the next read would start it over
  EXPECT_EQ(follower.stats().released_files, 0u);
  log.Line(1);
  follower.NoticeRotations();
  EXPECT_EQ(follower.ReleaseOldestHeld(), DockerLog::LineText(0).size() + 1);
  Collected got;
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(1, 2));
}

void SetMtime(const std::string& path, std::int64_t seconds) {
  const struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// Two containers' held files, rotated at t=100 (a), 200 (b), 300 (a): over the budget the oldest
// goes first across containers, not one container's files first.
TEST(HeldLogsBudget, ReleasesTheOldestHeldFileAcrossFollowersUntilWithinBudget) {
  TempDir dir_a, dir_b;
  DockerLog a(dir_a.path(), 5), b(dir_b.path(), 5);
  LogFileFollower follower_a(a.path()), follower_b(b.path());
  ASSERT_TRUE(follower_a.Open(std::nullopt).ok());
  ASSERT_TRUE(follower_b.Open(std::nullopt).ok());
  const std::string line(99, 'x');  // 100 bytes a file
  a.Append(line + "\n");
  SetMtime(a.path(), 100);
  a.Rotate();
  b.Append(line + "\n");
  SetMtime(b.path(), 200);
  b.Rotate();
  a.Append(line + "\n");
  SetMtime(a.path(), 300);
  a.Rotate();
  a.Line(7);  // current files are never held
  b.Line(8);
  follower_a.NoticeRotations();
  follower_b.NoticeRotations();
  LogFileFollower* followers[] = {&follower_a, &follower_b};

  HeldBudgetOutcome within = EnforceHeldBudget(followers, 300);
  EXPECT_EQ(within.held_bytes, 300u);
  EXPECT_EQ(within.released_files, 0u);

  HeldBudgetOutcome over = EnforceHeldBudget(followers, 150);
  EXPECT_EQ(over.released_files, 2u);  // a's first (t=100), then b's (t=200)
  EXPECT_EQ(over.released_bytes, 200u);
  EXPECT_EQ(over.released_lines, 2u);
  EXPECT_EQ(over.held_bytes, 100u);
  EXPECT_EQ(follower_a.stats().released_files, 1u);
  EXPECT_EQ(follower_b.stats().released_files, 1u);
  ASSERT_EQ(follower_a.Held().size(), 1u);
  EXPECT_EQ(follower_a.Held().front().mtime_ns, std::int64_t{300} * 1'000'000'000);

  Collected got_a, got_b;
  ReadAll(follower_a, got_a);
  ReadAll(follower_b, got_b);
  EXPECT_EQ(got_a.lines, (std::vector<std::string>{line, DockerLog::LineText(7)}));
  EXPECT_EQ(got_b.lines, Expected(8, 9));
  EXPECT_EQ(EnforceHeldBudget(followers, 0).held_bytes, 0u);
}

TEST(LogFileFollower, WaitsForAFileThatDoesNotExistYet) {
  TempDir dir;
  const std::string path = dir.path() + "/abc-json.log";
  LogFileFollower follower(path, {.start = StartAt::kEnd});
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  Collected got;
  EXPECT_FALSE(ReadAll(follower, got).gone);
  std::ofstream(path) << "a\nb\n";
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, std::vector<std::string>({"a", "b"}));  // all of a new file is new
}

TEST(LogFileFollower, MidRotationWithoutTheNewFileWaits) {
  TempDir dir;
  DockerLog log(dir.path(), 3);
  LogFileFollower follower(log.path());
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  log.Line(0);
  std::rename(log.path().c_str(), (log.path() + ".1").c_str());  // renamed, not yet recreated
  Collected got;
  ReadResult result = ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, 1));
  EXPECT_FALSE(result.gone);
  log.Line(1);  // creates the new file
  ReadAll(follower, got);
  EXPECT_EQ(got.lines, Expected(0, 2));
  EXPECT_EQ(follower.stats().rotations, 1u);
}

// A real container logging 200,000 numbered lines with Docker rotating at 1 MB into 3 files,
// followed from the container's creation: every number once, in order. Skipped without Docker
// (or when the test may not reach /var/lib/docker).
TEST(LogFileFollower, RealDockerRotation) {
  if (std::getenv("SWARMWATCH_DOCKER_TESTS") == nullptr)
    GTEST_SKIP() << "set SWARMWATCH_DOCKER_TESTS=1 to run against the local Docker engine";
  const auto run = [](const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr)
      return out;
    char chunk[512];
    while (std::fgets(chunk, sizeof chunk, pipe) != nullptr)
      out += chunk;
    ::pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
      out.pop_back();
    return out;
  };
  std::string id =
      run("docker create --log-driver json-file --log-opt max-size=1m --log-opt max-file=3 "
          "busybox:local sh -c 'i=0; while [ $i -lt 200000 ]; do echo line $i; i=$((i+1)); done' "
          "2>/dev/null");
  if (id.size() != 64)
    GTEST_SKIP() << "no Docker engine: " << id;
  // LogPath is empty until the first start; Docker creates the file then.
  const std::string log_path =
      run("docker info -f '{{.DockerRootDir}}'") + "/containers/" + id + "/" + id + "-json.log";
  LogFileFollower follower(log_path);
  ASSERT_TRUE(follower.Open(std::nullopt).ok());
  if (std::getenv("SWARMWATCH_DOCKER_DEBUG") != nullptr)
    log::SetLevel(log::Level::kDebug);
  ASSERT_EQ(run("docker start " + id), id);
  int expected = 0;
  bool in_order = true;
  FilePosition previous;
  const auto on_line = [&](std::string_view line, FilePosition after) {
    const auto at = line.find("line ");
    const int n =
        at == std::string_view::npos ? -1 : std::atoi(std::string(line.substr(at + 5)).c_str());
    if (n != expected && in_order) {
      in_order = false;
      ADD_FAILURE() << "expected line " << expected << ", got: " << line << " after inode "
                    << previous.inode << " offset " << previous.offset << ", now inode "
                    << after.inode << " offset " << after.offset;
    }
    previous = after;
    ++expected;
  };
  // SWARMWATCH_DOCKER_POLL_MS makes the follower fall behind by several rotations between reads.
  const char* poll_ms = std::getenv("SWARMWATCH_DOCKER_POLL_MS");
  const useconds_t poll_us = poll_ms != nullptr ? std::atoi(poll_ms) * 1000 : 1000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (expected < 200000 && std::chrono::steady_clock::now() < deadline) {
    if (follower.ReadLines(1 << 20, on_line).lines == 0)
      ::usleep(poll_us);
  }
  std::cout << "rotations followed: " << follower.stats().rotations
            << ", truncations: " << follower.stats().truncations << "\n";
  run("docker rm -f " + id + " >/dev/null 2>&1");
  EXPECT_EQ(expected, 200000);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(follower.stats().lost_starts, 0u);
  EXPECT_GE(follower.stats().rotations, 3u);
}

}  // namespace
}  // namespace swarmwatch
