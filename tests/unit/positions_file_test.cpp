#include "shippers/positions_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/temp_dir.h"

namespace swarmwatch {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

const PositionsFile::Positions kSample = {
    {"0123abcd", {12345, 678}},
    {"ffff0000", {18446744073709551615ULL, 18446744073709551614ULL}},
    {"with-head", {7, 90, 18446744073709551615ULL, FilePosition::kMaxHeadBytes}},
};

TEST(PositionsFile, RoundTrip) {
  TempDir dir;
  const std::string path = dir.path() + "/positions.json";
  ASSERT_TRUE(PositionsFile::Save(path, kSample).ok());
  auto loaded = PositionsFile::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(*loaded, kSample);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>({"positions.json"}));  // no temp left

  ASSERT_TRUE(PositionsFile::Save(path, {}).ok());
  loaded = PositionsFile::Load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST(PositionsFile, FormatIsVersionedJson) {
  EXPECT_EQ(PositionsFile::Encode({{"abc", {1, 2}}}),
            "{\"positions\":{\"abc\":{\"inode\":1,\"offset\":2}},\"version\":1}\n");
}

TEST(PositionsFile, TheHeadIsWrittenWhenKnown) {
  EXPECT_EQ(PositionsFile::Encode({{"abc", {1, 2, 3, 4}}}),
            "{\"positions\":{\"abc\":{\"head_bytes\":4,\"head_hash\":3,\"inode\":1,\"offset\":2}},"
            "\"version\":1}\n");
}

TEST(PositionsFile, AFileWithoutHeadsIsRead) {
  // What agents wrote before positions kept the file's head.
  const auto decoded =
      PositionsFile::Decode(R"({"version":1,"positions":{"abc":{"inode":1,"offset":2}}})");
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->at("abc"), (FilePosition{1, 2, 0, 0}));
}

TEST(PositionsFile, MissingFileIsAnEmptyMap) {
  TempDir dir;
  auto loaded = PositionsFile::Load(dir.path() + "/none.json");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST(PositionsFile, SaveToAReadOnlyDirectoryFailsAndLeavesTheOldFileIntact) {
  TempDir dir;
  const std::string path = dir.path() + "/positions.json";
  ASSERT_TRUE(PositionsFile::Save(path, kSample).ok());
  const std::string before = Slurp(path);
  // Root ignores directory permissions: run the save as nobody in a child process.
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown(dir.path().c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  }
  const pid_t child = ::fork();
  if (child == 0) {
    if (root && (::setgid(65534) != 0 || ::setuid(65534) != 0))
      _exit(2);
    if (::chmod(dir.path().c_str(), 0500) != 0)
      _exit(3);
    const Status status = PositionsFile::Save(path, {{"other", {1, 1}}});
    ::chmod(dir.path().c_str(), 0700);
    _exit(!status.ok() && status.message().find(path) != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exit status " << status;
  EXPECT_EQ(Slurp(path), before);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>({"positions.json"}));
  auto loaded = PositionsFile::Load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, kSample);
}

TEST(PositionsFile, FailedWriteLeavesTheOldFileIntactAndNoTemporary) {
  // Works as root too: a write past RLIMIT_FSIZE fails (EFBIG) after the temp file exists.
  TempDir dir;
  const std::string path = dir.path() + "/positions.json";
  ASSERT_TRUE(PositionsFile::Save(path, kSample).ok());
  const std::string before = Slurp(path);
  PositionsFile::Positions big;
  for (int i = 0; i < 2000; ++i)
    big[std::string(60, 'a') + std::to_string(i)] = {1, 2};
  const pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    _exit(PositionsFile::Save(path, big).ok() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the save should have failed";
  EXPECT_EQ(Slurp(path), before);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>({"positions.json"}));
}

void ExpectSetAside(const std::string& content, const std::string& reason_part) {
  TempDir dir;
  const std::string path = dir.path() + "/positions.json";
  std::ofstream(path) << content;
  auto loaded = PositionsFile::Load(path);
  ASSERT_FALSE(loaded.ok()) << content;
  EXPECT_NE(loaded.error().message.find(reason_part), std::string::npos) << loaded.error().message;
  EXPECT_NE(loaded.error().message.find("set aside as " + path + ".corrupt-"), std::string::npos)
      << loaded.error().message;
  const std::vector<std::string> names = Names(dir.path());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(names[0].starts_with("positions.json.corrupt-")) << names[0];
  EXPECT_EQ(Slurp(dir.path() + "/" + names[0]), content);  // kept for inspection
  // The next start finds no file and begins empty; a save works again.
  loaded = PositionsFile::Load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
  EXPECT_TRUE(PositionsFile::Save(path, kSample).ok());
}

TEST(PositionsFile, GarbageIsSetAside) {
  ExpectSetAside("\x01\x02garbage", "not JSON");
}
TEST(PositionsFile, EmptyFileIsSetAside) {
  ExpectSetAside("", "not JSON");
}
TEST(PositionsFile, TruncatedJsonIsSetAside) {
  const std::string full = PositionsFile::Encode(kSample);
  ExpectSetAside(full.substr(0, full.size() / 2), "not JSON");
}
TEST(PositionsFile, AFileWithoutItsStructureIsSetAside) {
  ExpectSetAside("[1,2]", "not a JSON object");
  ExpectSetAside(R"({"positions":{}})", "version");
  ExpectSetAside(R"({"version":"1","positions":{}})", "version");
  ExpectSetAside(R"({"version":2,"positions":{}})", "unknown version 2");
  ExpectSetAside(R"({"version":1})", "positions");
  ExpectSetAside(R"({"version":1,"positions":[]})", "positions");
}

// Decodes {"good": <a valid entry>, "bad": `bad`}: the bad entry is skipped with a message naming
// it and saying why, the good one kept.
void ExpectSkipped(const std::string& bad, const std::string& reason_part) {
  const std::string text =
      R"({"version":1,"positions":{"good":{"inode":5,"offset":6,"head_hash":7,"head_bytes":8},)"
      R"("bad":)" +
      bad + "}}";
  std::vector<std::string> skipped;
  const auto decoded = PositionsFile::Decode(text, &skipped);
  ASSERT_TRUE(decoded.ok()) << bad << ": " << decoded.error().message;
  EXPECT_EQ(*decoded, (PositionsFile::Positions{{"good", {5, 6, 7, 8}}})) << bad;
  ASSERT_EQ(skipped.size(), 1u) << bad;
  EXPECT_NE(skipped[0].find("\"bad\""), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[0].find(reason_part), std::string::npos) << skipped[0];
}

TEST(PositionsFile, ABadEntryIsSkippedAndTheOthersKept) {
  // Before, any of these discarded every container's position: lines lost with
  // start_position=end, sent again with beginning.
  ExpectSkipped("5", "not an object");
  ExpectSkipped(R"({"inode":1,"offset":"2"})", "unsigned");
  ExpectSkipped(R"({"inode":1,"offset":18446744073709551616})", "unsigned");  // 2^64
  ExpectSkipped(R"({"inode":-1,"offset":2})", "unsigned");
  ExpectSkipped(R"({"inode":1})", "unsigned");
  ExpectSkipped(R"({"inode":1.5,"offset":2})", "unsigned");
  ExpectSkipped(R"({"inode":1,"offset":2,"head_hash":3})", "neither");
  ExpectSkipped(R"({"inode":1,"offset":2,"head_hash":-3,"head_bytes":4})", "head_hash");
  ExpectSkipped(R"({"inode":1,"offset":2,"head_hash":3,"head_bytes":4097})", "at most 4096");
}

TEST(PositionsFile, AnEmptyIdIsSkippedAndTheWarningQuotesWithoutControlCharacters) {
  std::vector<std::string> skipped;
  const auto decoded = PositionsFile::Decode(
      R"({"version":1,"positions":{"":{"inode":1,"offset":2},"a\nb":[],"c":{"inode":3,"offset":4}}})",
      &skipped);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, (PositionsFile::Positions{{"c", {3, 4}}}));
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("empty container id"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find(R"("a\nb")"), std::string::npos) << skipped[1];
  EXPECT_EQ(skipped[1].find('\n'), std::string::npos) << skipped[1];
}

TEST(PositionsFile, LoadKeepsAFileWithABadEntryInPlace) {
  TempDir dir;
  const std::string path = dir.path() + "/positions.json";
  std::ofstream(path)
      << R"({"version":1,"positions":{"a":{"inode":1,"offset":"x"},"b":{"inode":2,"offset":3}}})";
  std::vector<std::string> skipped;
  auto loaded = PositionsFile::Load(path, &skipped);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(*loaded, (PositionsFile::Positions{{"b", {2, 3}}}));
  EXPECT_EQ(skipped.size(), 1u);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>({"positions.json"}));  // not set aside
}

TEST(PositionsFile, UnreadableFileIsReportedAndSetAside) {
  TempDir dir;
  const std::string path = dir.path() + "/positions.json";
  fs::create_directory(path);  // read() answers EISDIR, even for root
  auto loaded = PositionsFile::Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("read"), std::string::npos) << loaded.error().message;
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace swarmwatch
