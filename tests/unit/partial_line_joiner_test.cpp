#include "shippers/partial_line_joiner.h"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "shippers/json_file_decoder.h"

namespace swarmwatch {
namespace {

constexpr std::int64_t kNs = 1'000'000'000;
const std::string kEuro = "\xE2\x82\xAC";
const std::string kFffd = "\xEF\xBF\xBD";

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

// What feeding a json-file log line by line gives: the records in order, and after each line the
// offset a positions file could save (PendingStart().value_or(end of the line)).
struct Replay {
  std::vector<LogRecord> records;
  std::vector<std::size_t> record_after_line;  // index of the line whose Feed returned it
  std::vector<std::uint64_t> resume_offsets;
};

Replay ReplayFixture(const std::string& name, PartialLineJoiner& joiner) {
  std::ifstream in(std::string(SWARMWATCH_TESTDATA) + "/jsonfile/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  Replay r;
  std::string line;
  std::string scratch;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; std::getline(in, line); ++i) {
    DecodedLine piece;
    const Status st = DecodeJsonFileLine(line, piece, scratch);
    EXPECT_TRUE(st) << name << ":" << i + 1 << ": " << st.message();
    if (auto record = joiner.Feed(piece, offset)) {
      r.records.push_back(std::move(*record));
      r.record_after_line.push_back(i);
    }
    offset += line.size() + 1;
    r.resume_offsets.push_back(joiner.PendingStart().value_or(offset));
  }
  return r;
}

DecodedLine Piece(std::string_view text, bool partial, LogStream stream = LogStream::kStdout,
                  std::int64_t time_ns = 0) {
  DecodedLine d;
  d.log = text;
  d.partial = partial;
  d.stream = stream;
  d.time_ns = time_ns;
  return d;
}

TEST(PartialLineJoiner, RejoinsTheRealFortyThousandByteLine) {
  PartialLineJoiner joiner(1 << 20);
  const Replay r = ReplayFixture("fixture.log", joiner);
  ASSERT_EQ(r.records.size(), 6U);
  EXPECT_EQ(r.records[0].line, "plain");
  EXPECT_EQ(r.records[1].line, "<tag> & \"quoted\"");
  EXPECT_EQ(r.records[4].line, "err");
  EXPECT_EQ(r.records[4].stream, LogStream::kStderr);
  const LogRecord& big = r.records[5];
  EXPECT_EQ(big.line, std::string(40000, 'x'));
  EXPECT_FALSE(big.truncated);
  EXPECT_EQ(big.stream, LogStream::kStdout);
  EXPECT_EQ(big.time_ns, 1795679553 * kNs + 78431459);
  EXPECT_EQ(r.record_after_line[5], 7U);
  // While the pieces are buffered the saved offset stays at the start of the first one (422).
  EXPECT_EQ(r.resume_offsets,
            (std::vector<std::uint64_t>{76, 180, 260, 348, 422, 422, 422, 40631}));
  EXPECT_FALSE(joiner.Pending());
}

TEST(PartialLineJoiner, RejoinsRealUtf8PiecesByteForByte) {
  PartialLineJoiner joiner(1 << 20);
  const Replay r = ReplayFixture("utf8.log", joiner);
  ASSERT_EQ(r.records.size(), 3U);
  // Docker destroyed the euro sign it split at 16384 bytes (three U+FFFD); the rest is intact.
  EXPECT_EQ(r.records[2].line, Repeat(kEuro, 5461) + Repeat(kFffd, 3) + Repeat(kEuro, 1538));
  EXPECT_EQ(r.records[2].line.size(), 21006U);
}

TEST(PartialLineJoiner, KeepsInterleavedStdoutAndStderrApart) {
  // The real file: stdout pieces 1-3, stderr piece 1, stdout's final piece, stderr pieces 2-4.
  PartialLineJoiner joiner(1 << 20);
  const Replay r = ReplayFixture("interleave.log", joiner);
  ASSERT_EQ(r.records.size(), 2U);
  EXPECT_EQ(r.records[0].stream, LogStream::kStdout);
  EXPECT_EQ(r.records[0].line, std::string(50000, 'o'));
  EXPECT_EQ(r.records[0].time_ns, 1795679562 * kNs + 115240863);
  EXPECT_EQ(r.record_after_line[0], 4U);
  EXPECT_EQ(r.records[1].stream, LogStream::kStderr);
  EXPECT_EQ(r.records[1].line, std::string(50000, 'e'));
  EXPECT_EQ(r.records[1].time_ns, 1795679562 * kNs + 117491284);
  // When stdout completes, stderr's line (from 49359) is still pending: the offset waits for it.
  EXPECT_EQ(r.resume_offsets,
            (std::vector<std::uint64_t>{0, 0, 0, 0, 49359, 49359, 49359, 100556}));
}

TEST(PartialLineJoiner, TruncatesAtTheLimitAndDiscardsTheRest) {
  PartialLineJoiner joiner(1000);
  const Replay r = ReplayFixture("fixture.log", joiner);
  ASSERT_EQ(r.records.size(), 6U);
  EXPECT_EQ(r.records[0].line, "plain");
  EXPECT_FALSE(r.records[0].truncated);
  // Returned as soon as the first piece passes the limit; the two other pieces are dropped.
  EXPECT_EQ(r.records[5].line, std::string(1000, 'x'));
  EXPECT_TRUE(r.records[5].truncated);
  EXPECT_EQ(r.records[5].time_ns, 1795679553 * kNs + 78431459);
  EXPECT_EQ(r.record_after_line[5], 5U);
  // The line stays pending until its final piece: a restart in between re-reads it from its start
  // rather than taking its tail for a line of its own.
  EXPECT_EQ(r.resume_offsets,
            (std::vector<std::uint64_t>{76, 180, 260, 348, 422, 422, 422, 40631}));
  EXPECT_FALSE(joiner.Pending());
}

TEST(PartialLineJoiner, TruncatesRealUtf8AtACharacterBoundary) {
  PartialLineJoiner joiner(16000);  // 16000 = 5333 euro signs (15999 bytes) + 1 byte
  const Replay r = ReplayFixture("utf8.log", joiner);
  ASSERT_EQ(r.records.size(), 3U);
  EXPECT_EQ(r.records[2].line, Repeat(kEuro, 5333));
  EXPECT_TRUE(r.records[2].truncated);
}

TEST(PartialLineJoiner, CutStepsBackIntoAnEarlierPiece) {
  // "ab" + the first two bytes of a euro sign in one piece, its last byte in the next one.
  const std::string first = "ab\xE2\x82";
  const std::string second = "\xAC" + std::string("cd");
  for (std::size_t limit = 2; limit <= 4; ++limit) {
    // Limits 2 and 3 are passed by the first piece already (its record comes at once and the
    // second piece is discarded), limit 4 by the second piece.
    PartialLineJoiner joiner(limit);
    auto from_first = joiner.Feed(Piece(first, true), 0);
    auto from_second = joiner.Feed(Piece(second, false), 10);
    ASSERT_NE(from_first.has_value(), from_second.has_value()) << limit;
    EXPECT_EQ(from_first.has_value(), limit < 4) << limit;
    const LogRecord& record = from_first ? *from_first : *from_second;
    EXPECT_EQ(record.line, "ab") << limit;
    EXPECT_TRUE(record.truncated);
    EXPECT_FALSE(joiner.Pending());
  }
  PartialLineJoiner joiner(5);
  EXPECT_FALSE(joiner.Feed(Piece(first, true), 0));
  auto record = joiner.Feed(Piece(second, false), 10);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->line, "ab" + kEuro);
  EXPECT_TRUE(record->truncated);
}

TEST(PartialLineJoiner, ALineOfExactlyTheLimitIsNotTruncated) {
  PartialLineJoiner joiner(6);
  auto whole = joiner.Feed(Piece("abcdef", false), 0);
  ASSERT_TRUE(whole);
  EXPECT_FALSE(whole->truncated);
  EXPECT_FALSE(joiner.Feed(Piece("abc", true), 7));
  EXPECT_FALSE(joiner.Feed(Piece("def", true), 14));
  auto joined = joiner.Feed(Piece("", false), 21);  // a final piece holding only the '\n'
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->line, "abcdef");
  EXPECT_FALSE(joined->truncated);
  // One byte more is cut, even when it comes as a single, whole line.
  auto cut = joiner.Feed(Piece("abcdefg", false), 28);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->line, "abcdef");
  EXPECT_TRUE(cut->truncated);
  EXPECT_FALSE(joiner.Pending());
}

TEST(PartialLineJoiner, InterleavedPartialsWithTruncation) {
  PartialLineJoiner joiner(4);
  EXPECT_FALSE(joiner.Feed(Piece("o1", true, LogStream::kStdout, 1), 0));
  EXPECT_FALSE(joiner.Feed(Piece("e1", true, LogStream::kStderr, 2), 10));
  auto out = joiner.Feed(Piece("o2o3", true, LogStream::kStdout, 3), 20);  // over the limit
  ASSERT_TRUE(out);
  EXPECT_EQ(out->line, "o1o2");
  EXPECT_EQ(out->time_ns, 1);
  EXPECT_EQ(joiner.PendingStart(), 0U);
  EXPECT_FALSE(joiner.Feed(Piece("o4", false, LogStream::kStdout, 4), 30));  // discarded
  EXPECT_TRUE(joiner.Pending(LogStream::kStderr));
  EXPECT_FALSE(joiner.Pending(LogStream::kStdout));
  EXPECT_EQ(joiner.PendingStart(), 10U);
  auto err = joiner.Feed(Piece("e2", false, LogStream::kStderr, 5), 40);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->line, "e1e2");
  EXPECT_EQ(err->stream, LogStream::kStderr);
  EXPECT_EQ(err->time_ns, 2);
  EXPECT_FALSE(err->truncated);
  EXPECT_EQ(joiner.PendingStart(), std::nullopt);
}

TEST(PartialLineJoiner, FlushReturnsTheLastOutputOfAnExitedContainer) {
  // The container printed "tail without newline" and exited: Docker never writes a final piece.
  PartialLineJoiner joiner(1 << 20);
  const Replay r = ReplayFixture("eof_no_newline.log", joiner);
  ASSERT_EQ(r.records.size(), 1U);
  EXPECT_EQ(r.records[0].line, "first");
  EXPECT_EQ(r.records[0].time_ns, 1795679610 * kNs + 35514960);
  EXPECT_EQ(r.resume_offsets, (std::vector<std::uint64_t>{75, 75}));
  EXPECT_TRUE(joiner.Pending());
  EXPECT_FALSE(joiner.Flush(LogStream::kStderr));
  auto tail = joiner.Flush(LogStream::kStdout);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->line, "tail without newline");
  EXPECT_EQ(tail->time_ns, 1795679610 * kNs + 72487092);
  EXPECT_FALSE(tail->truncated);
  EXPECT_FALSE(joiner.Pending());
  EXPECT_FALSE(joiner.Flush(LogStream::kStdout));
}

TEST(PartialLineJoiner, FlushOfALineAlreadyReturnedCutGivesNothing) {
  PartialLineJoiner joiner(2);
  ASSERT_TRUE(joiner.Feed(Piece("abc", true), 0));
  EXPECT_TRUE(joiner.Pending());
  EXPECT_FALSE(joiner.Flush(LogStream::kStdout));
  EXPECT_FALSE(joiner.Pending());
  auto next = joiner.Feed(Piece("x", false), 5);  // a new line, not the rest of the old one
  ASSERT_TRUE(next);
  EXPECT_EQ(next->line, "x");
}

TEST(PartialLineJoiner, RejectsAZeroLimit) {
  EXPECT_THROW(PartialLineJoiner(0), std::invalid_argument);
}

TEST(Utf8CutPoint, StepsBackToTheLeadByte) {
  const std::string text = "a" + kEuro + "\xF0\x9F\x98\x80" + "z";  // 1 + 3 + 4 + 1 bytes
  const std::vector<std::size_t> want = {0, 1, 1, 1, 4, 4, 4, 4, 8, 9, 9};
  for (std::size_t limit = 0; limit < want.size(); ++limit) {
    EXPECT_EQ(Utf8CutPoint(text, limit), want[limit]) << limit;
  }
  // Invalid: a run of continuation bytes is cut where the limit says, never at 0.
  EXPECT_EQ(Utf8CutPoint(std::string(10, '\x80'), 6), 6U);
  EXPECT_EQ(Utf8CutPoint(std::string(2, '\x80'), 1), 1U);
}

}  // namespace
}  // namespace swarmwatch
