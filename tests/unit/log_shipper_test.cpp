#include "shippers/log_shipper.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "shippers/positions_file.h"
#include "tests/fake_log_push_target.h"

namespace swarmwatch {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::Pair;

constexpr auto kWait = std::chrono::seconds(10);

// Polls `condition` for up to kWait.
bool WaitFor(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A consumer that wants the containers whose name starts with "want" and records their lines.
class RecordingConsumer : public LogLineConsumer {
 public:
  struct Line {
    std::string container;
    LogStream stream;
    std::string text;
    bool operator==(const Line&) const = default;
  };

  std::unique_ptr<LogLineSink> Attach(const ContainerInfo& container) override {
    ++attach_calls;
    if (!container.name.starts_with("want"))
      return nullptr;
    return std::make_unique<Sink>(*this, container.name);
  }

  std::vector<Line> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  std::atomic<int> attach_calls{0};
  bool WaitForLines(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return lines_.size() >= n; });
  }

 private:
  class Sink : public LogLineSink {
   public:
    Sink(RecordingConsumer& owner, std::string name) : owner_(owner), name_(std::move(name)) {}
    void Consume(LogStream stream, std::int64_t, std::string_view line) override {
      std::lock_guard lock(owner_.mu_);
      owner_.lines_.push_back({name_, stream, std::string(line)});
      owner_.changed_.notify_all();
    }

   private:
    RecordingConsumer& owner_;
    std::string name_;
  };

  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Line> lines_;
};

// A Docker data root in a temp dir with containers/<id>/<id>-json.log files.
class LogShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() / fmt::format("swarmwatch-shipper-{}-{}", getpid(), ++counter_);
    fs::create_directories(root_ / "containers");
    snapshot_ = std::make_shared<ContainerMap>();
  }
  void TearDown() override {
    shipper_.reset();
    fs::remove_all(root_);
  }

  ContainerInfo& AddContainer(const std::string& id, const std::string& name,
                              LabelMap labels = {}) {
    fs::create_directories(root_ / "containers" / id);
    ContainerInfo c;
    c.id = id;
    c.name = name;
    c.running = true;
    c.labels = std::move(labels);
    c.log_driver = "json-file";
    // As the engine reports it, under its own root; the shipper maps it to docker_root.
    c.log_path = fmt::format("/var/lib/docker/containers/{}/{}-json.log", id, id);
    auto& map = *snapshot_;
    return map[id] = c;
  }

  fs::path LogPath(const std::string& id) { return root_ / "containers" / id / (id + "-json.log"); }

  // Appends json-file lines as Docker writes them.
  void Write(const std::string& id, const std::vector<std::string>& texts,
             const std::string& stream = "stdout", bool newline = true) {
    // In one write, as a container flooding its log appends faster than the reader wakes.
    std::string lines;
    for (const std::string& text : texts) {
      ++clock_;
      lines += fmt::format(R"({{"log":"{}{}","stream":"{}","time":"2026-11-26T07:00:00.{:09d}Z"}})",
                           text, newline ? "\\n" : "", stream, clock_);
      lines += '\n';
    }
    std::ofstream out(LogPath(id), std::ios::app);
    out.write(lines.data(), static_cast<std::streamsize>(lines.size()));
  }

  // Without Loki (no push target) when `loki` is false.
  void Start(LogShipperOptions options = {}, bool loki_down = false, bool loki = true) {
    options.docker_root = root_.string();
    options.positions_file = (root_ / "positions.json").string();
    options.node_name = [] { return std::string("node-1"); };
    if (options.batch_wait == std::chrono::milliseconds(1000)) {
      options.batch_wait = std::chrono::milliseconds(50);
    }
    if (options.poll_interval == std::chrono::milliseconds(1000)) {
      options.poll_interval = std::chrono::milliseconds(50);
    }
    options.backoff = BackoffOptions{std::chrono::milliseconds(10), std::chrono::milliseconds(50)};
    auto target = std::make_unique<FakeLogPushTarget>();
    target_ = target.get();
    target_->SetDown(loki_down);
    if (!loki) {
      target.reset();
      target_ = nullptr;
    }
    auto snapshot = snapshot_;
    auto mu = snapshot_mu_;
    shipper_ = std::make_unique<LogShipper>(
        [snapshot, mu] {
          std::lock_guard lock(*mu);
          return std::make_shared<const ContainerMap>(*snapshot);
        },
        std::move(target), options);
    shipper_->Start();
  }

  std::vector<std::string> Lines() {
    std::vector<std::string> lines;
    for (const auto& e : target_->entries())
      lines.push_back(e.line);
    return lines;
  }

  // Changes the catalog while the shipper runs, and tells it.
  void ChangeCatalog(const std::function<void(ContainerMap&)>& change) {
    {
      std::lock_guard lock(*snapshot_mu_);
      change(*snapshot_);
    }
    shipper_->ContainersChanged();
  }

  // swarmwatch_log_lag_bytes: container name -> value.
  std::map<std::string, double> LagSeries() {
    std::map<std::string, double> out;
    for (const auto& family : shipper_->metrics()->Collect()) {
      if (family.name != "swarmwatch_log_lag_bytes")
        continue;
      for (const auto& metric : family.metric)
        out[metric.label.at(0).value] = metric.gauge.value;
    }
    return out;
  }

  static inline int counter_ = 0;
  fs::path root_;
  std::shared_ptr<std::mutex> snapshot_mu_ = std::make_shared<std::mutex>();
  std::shared_ptr<ContainerMap> snapshot_;
  std::unique_ptr<LogShipper> shipper_;
  FakeLogPushTarget* target_ = nullptr;
  int clock_ = 0;
};

TEST_F(LogShipperTest, ShipsEveryLineOnceInOrderWithLabelsAndMetadata) {
  AddContainer("aaa", "shop_web.1.xyz",
               {{"com.docker.swarm.service.name", "shop_web"},
                {"com.docker.stack.namespace", "shop"},
                {"com.docker.swarm.task.id", "task42"}});
  Write("aaa", {"one", "two <b> & \\\"three\\\""});
  Write("aaa", {"oops"}, "stderr");
  Start();
  ASSERT_TRUE(target_->WaitForEntries(3, kWait));
  const auto entries = target_->entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].line, "one");
  EXPECT_EQ(entries[1].line, "two <b> & \"three\"");
  EXPECT_EQ(entries[0].labels,
            "{container=\"shop_web.1.xyz\",job=\"docker\",node=\"node-1\","
            "stream=\"stdout\",swarm_service=\"shop_web\",swarm_stack=\"shop\"}");
  EXPECT_EQ(entries[2].labels,
            "{container=\"shop_web.1.xyz\",job=\"docker\",node=\"node-1\","
            "stream=\"stderr\",swarm_service=\"shop_web\",swarm_stack=\"shop\"}");
  EXPECT_EQ(entries[0].time_ns % 1000000000, 1);
  EXPECT_THAT(entries[0].metadata, Contains(Pair("container_id", "aaa")));
  EXPECT_THAT(entries[0].metadata, Contains(Pair("task_id", "task42")));

  Write("aaa", {"four"});
  ASSERT_TRUE(target_->WaitForEntries(4, kWait));
  EXPECT_EQ(Lines().back(), "four");
}

TEST_F(LogShipperTest, InotifyWakesTheReaderLongBeforeThePoll) {
  AddContainer("iii", "quick");
  Write("iii", {"before"});
  LogShipperOptions options;
  options.poll_interval = std::chrono::seconds(30);
  Start(options);
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  const auto written = std::chrono::steady_clock::now();
  Write("iii", {"after"});
  ASSERT_TRUE(target_->WaitForEntries(2, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - written, std::chrono::seconds(5));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"before", "after"}));
}

TEST_F(LogShipperTest, PositionsAreCommittedAfterAcceptanceAndARestartResumesThere) {
  AddContainer("bbb", "worker");
  Write("bbb", {"a1", "a2"});
  Start();
  ASSERT_TRUE(target_->WaitForEntries(2, kWait));
  shipper_->Stop();
  auto saved = PositionsFile::Load((root_ / "positions.json").string());
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  ASSERT_TRUE(saved->contains("bbb"));
  EXPECT_EQ(saved->at("bbb").offset, fs::file_size(LogPath("bbb")));
  struct stat st {};
  ASSERT_EQ(::stat(LogPath("bbb").c_str(), &st), 0);
  EXPECT_EQ(saved->at("bbb").inode, st.st_ino);

  Write("bbb", {"a3"});
  Start();
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"a3"}));  // nothing re-sent
}

TEST_F(LogShipperTest, PositionsOfContainersRemovedWhileTheAgentWasDownAreForgotten) {
  AddContainer("live", "web");
  Write("live", {"l1"});
  // "unlisted": the engine does not list it (yet), but its log directory is there.
  fs::create_directories(root_ / "containers" / "unlisted");
  ASSERT_TRUE(PositionsFile::Save((root_ / "positions.json").string(),
                                  {{"removed", {11, 22}}, {"unlisted", {33, 44}}})
                  .ok());
  Start();
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  shipper_->Stop();
  const auto saved = PositionsFile::Load((root_ / "positions.json").string());
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  EXPECT_FALSE(saved->contains("removed"));
  EXPECT_TRUE(saved->contains("unlisted"));
  EXPECT_TRUE(saved->contains("live"));
}

TEST_F(LogShipperTest, ABadPositionEntryKeepsEveryOtherContainersPosition) {
  AddContainer("good", "kept");
  AddContainer("bad", "damaged");
  Write("good", {"g1", "g2"});
  const std::uint64_t good_offset = fs::file_size(LogPath("good"));
  Write("good", {"g3"});
  Write("bad", {"b1"});
  struct stat st {};
  ASSERT_EQ(::stat(LogPath("good").c_str(), &st), 0);
  // An offset of 2^64 (not a uint64) in one entry.
  std::ofstream((root_ / "positions.json").string())
      << fmt::format(R"({{"version":1,"positions":{{"good":{{"inode":{},"offset":{}}},)"
                     R"("bad":{{"inode":1,"offset":18446744073709551616}}}}}})",
                     st.st_ino, good_offset);
  Start();
  ASSERT_TRUE(target_->WaitForEntries(2, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<std::string> lines = Lines();
  std::sort(lines.begin(), lines.end());
  // "good" resumes where it was; "bad" starts as a container seen the first time.
  EXPECT_EQ(lines, (std::vector<std::string>{"b1", "g3"}));
}

TEST_F(LogShipperTest, AnUndecodableLineIsShippedAsUtf8InPiecesWithinMaxLineBytes) {
  AddContainer("und", "garbage");
  Write("und", {"before"});
  {
    std::ofstream out(LogPath("und"), std::ios::app | std::ios::binary);
    out << std::string(300'000, '\0') << "\n" << std::string(3000, '\xFF') << "\n";
  }
  Write("und", {"after"});
  Start();
  ASSERT_TRUE(target_->WaitForEntries(5, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<std::string> lines = Lines();
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines.front(), "before");
  EXPECT_EQ(lines.back(), "after");
  std::size_t nuls = 0;
  for (std::size_t i = 1; i + 2 < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), std::size_t{256} << 10) << "piece " << i;
    EXPECT_EQ(lines[i].find_first_not_of('\0'), std::string::npos) << "piece " << i;
    nuls += lines[i].size();
  }
  EXPECT_EQ(nuls, 300'000u);  // nothing lost
  // The 0xFF run is one U+FFFD, valid UTF-8 that the encoders pass as it is (it was the encoder's
  // one U+FFFD per byte that made 9,000 bytes of it).
  const std::string& ff = lines[lines.size() - 2];
  EXPECT_TRUE(ff == "\xEF\xBF\xBD") << ff.size() << " bytes";  // not the 3,000 bytes printed
}

TEST_F(LogShipperTest, FailedSavesAreCountedLoggedOnceAndEndOnceTheFileCanBeWritten) {
  AddContainer("sss", "saver");
  LogShipperOptions options;
  // A path under a regular file: no save can work, even as root.
  const fs::path blocker = root_ / "blocker";
  std::ofstream(blocker.string()) << "not a directory";
  options.docker_root = root_.string();
  options.positions_file = (blocker / "positions.json").string();
  options.node_name = [] { return std::string("node-1"); };
  options.batch_wait = std::chrono::milliseconds(20);
  options.poll_interval = std::chrono::milliseconds(20);
  auto target = std::make_unique<FakeLogPushTarget>();
  target_ = target.get();
  testing::internal::CaptureStderr();
  auto snapshot = snapshot_;
  shipper_ = std::make_unique<LogShipper>(
      [snapshot] { return std::make_shared<const ContainerMap>(*snapshot); }, std::move(target),
      options);
  shipper_->Start();
  EXPECT_EQ(shipper_->positions_save_error(), "");
  for (int i = 0; i < 5; ++i) {
    Write("sss", {fmt::format("line {}", i)});
    ASSERT_TRUE(target_->WaitForEntries(static_cast<std::size_t>(i + 1), kWait));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto counted = [&] {
    for (const auto& family : shipper_->metrics()->Collect()) {
      if (family.name == "swarmwatch_positions_save_errors_total")
        return family.metric.at(0).counter.value;
    }
    return -1.0;
  };
  EXPECT_GE(counted(), 5);  // one per batch at least
  EXPECT_NE(shipper_->positions_save_error().find(options.positions_file), std::string::npos)
      << shipper_->positions_save_error();

  // Fixed while no batch comes: the retry every second ends the failure.
  fs::remove(blocker);
  fs::create_directory(blocker);
  for (int i = 0; i < 100 && !shipper_->positions_save_error().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(shipper_->positions_save_error(), "");
  const double failures = counted();
  shipper_->Stop();
  const std::string log = testing::internal::GetCapturedStderr();
  std::size_t reports = 0;
  for (std::size_t at = log.find("cannot save positions"); at != std::string::npos;
       at = log.find("cannot save positions", at + 1))
    ++reports;
  EXPECT_EQ(reports, 1u) << log;
  EXPECT_NE(log.find(fmt::format("again, after {} failed saves", failures)), std::string::npos)
      << log;
  const auto saved = PositionsFile::Load(options.positions_file);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  EXPECT_EQ(saved->at("sss").offset, fs::file_size(LogPath("sss")));
}

TEST_F(LogShipperTest, RetriesUntilAcceptedWithoutLossOrDuplicates) {
  AddContainer("ccc", "api");
  Write("ccc", {"r1", "r2", "r3"});
  LogShipperOptions options;
  Start(options);
  target_->Script({PushResult::Kind::kRetry, PushResult::Kind::kRetry, PushResult::Kind::kRetry});
  ASSERT_TRUE(target_->WaitForEntries(3, kWait));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"r1", "r2", "r3"}));
}

TEST_F(LogShipperTest, ARejectedBatchIsDroppedCountedAndShippingGoesOn) {
  AddContainer("ddd", "db");
  Start();
  target_->Script({PushResult::Kind::kDrop});
  Write("ddd", {"bad"});
  // The first push is rejected; wait for it, then write more.
  for (int i = 0; i < 200 && target_->pushes() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(target_->pushes(), 1);
  Write("ddd", {"good"});
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"good"}));
  shipper_->Stop();
  auto saved = PositionsFile::Load((root_ / "positions.json").string());
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->at("ddd").offset, fs::file_size(LogPath("ddd")));
}

TEST_F(LogShipperTest, ABatchLokiPartlyRefusedCountsOnlyTheRefusedEntriesAsDropped) {
  // Regression: a 400 counted the whole batch as dropped, though Loki stores its valid entries.
  AddContainer("par", "partial");
  Write("par", {"a", "b", "c", "d", "e"});
  LogShipperOptions options;
  Start(options, /*loki_down=*/true);
  target_->Script({PushResult::Kind::kDrop});
  target_->ScriptAnswer(
      "2 errors like: entry for stream '{container=\"partial\", job=\"docker\", "
      "node=\"node-1\", stream=\"stdout\"}' has timestamp too old: x, oldest acceptable "
      "timestamp is: y");
  target_->SetDown(false);
  const auto counter = [&](std::string_view name, std::string_view reason) {
    for (const auto& family : shipper_->metrics()->Collect()) {
      if (family.name != name)
        continue;
      for (const auto& metric : family.metric) {
        if (reason.empty() || (!metric.label.empty() && metric.label[0].value == reason))
          return metric.counter.value;
      }
    }
    return -1.0;
  };
  ASSERT_TRUE(WaitFor([&] { return counter("swarmwatch_loki_entries_sent_total", "") == 3; }));
  EXPECT_EQ(counter("swarmwatch_loki_entries_dropped_total", "too_old"), 2);
  EXPECT_EQ(counter("swarmwatch_loki_entries_dropped_total", "rejected"), 0);
}

TEST_F(LogShipperTest, ABatchOutOfAttemptsIsDroppedAsRetriesExhausted) {
  AddContainer("jjj", "limited");
  LogShipperOptions options;
  options.max_attempts = 2;
  Start(options, /*loki_down=*/true);
  Write("jjj", {"lost"});
  for (int i = 0; i < 500 && target_->pushes() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(target_->pushes(), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  target_->SetDown(false);
  Write("jjj", {"kept"});
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"kept"}));
  double exhausted = -1;
  for (const auto& family : shipper_->metrics()->Collect()) {
    if (family.name != "swarmwatch_loki_entries_dropped_total")
      continue;
    for (const auto& metric : family.metric) {
      if (metric.label.at(0).value == "retries_exhausted")
        exhausted = metric.counter.value;
    }
  }
  EXPECT_EQ(exhausted, 1);
}

TEST_F(LogShipperTest, OptedOutContainersAreNotShipped) {
  AddContainer("eee", "quiet", {{"swarmwatch.logs", "false"}});
  AddContainer("fff", "loud");
  Write("eee", {"secret"});
  Write("fff", {"public"});
  Start();
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"public"}));
}

TEST_F(LogShipperTest, PartialLinesAreRejoined) {
  AddContainer("ggg", "long");
  Write("ggg", {"first half, "}, "stdout", /*newline=*/false);
  Write("ggg", {"second half"});
  Start();
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"first half, second half"}));
}

TEST_F(LogShipperTest, ReadAheadIsBoundedWhileLokiIsDown) {
  AddContainer("hhh", "flood");
  std::vector<std::string> lines;
  for (int i = 0; i < 4000; ++i)
    lines.push_back(fmt::format("line {:05d} {}", i, std::string(200, 'x')));
  Write("hhh", lines);  // about 1 MiB of log
  LogShipperOptions options;
  options.batch_bytes = 64 << 10;
  options.read_ahead_bytes = 128 << 10;
  Start(options, /*loki_down=*/true);  // down before the first push, or that one gets through
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string text;
  for (const auto& family : shipper_->metrics()->Collect()) {
    if (family.name == "swarmwatch_log_read_ahead_bytes") {
      EXPECT_LE(family.metric.at(0).gauge.value, 128 << 10);
      EXPECT_GT(family.metric.at(0).gauge.value, 0);
    }
    if (family.name == "swarmwatch_log_bytes_read_total") {
      // Nothing is acknowledged: everything read is read ahead.
      EXPECT_LE(family.metric.at(0).counter.value, 128 << 10);
      EXPECT_GT(family.metric.at(0).counter.value, 64 << 10);
    }
  }
  // What was read is not accepted yet: it is lag, with what is still unread.
  for (const auto& family : shipper_->metrics()->Collect()) {
    if (family.name == "swarmwatch_log_lag_bytes") {
      EXPECT_EQ(family.metric.at(0).gauge.value, fs::file_size(LogPath("hhh")));
    }
  }
  EXPECT_EQ(shipper_->Lags().at("hhh"), fs::file_size(LogPath("hhh")));
  target_->SetDown(false);
  ASSERT_TRUE(target_->WaitForEntries(4000, std::chrono::seconds(30)));
  // Each once; not necessarily in order: the first slice went out in the shared lane before the
  // container was found flooding and given its own.
  auto shipped = Lines();
  std::sort(shipped.begin(), shipped.end());
  ASSERT_EQ(shipped.size(), 4000u);
  for (int i = 0; i < 4000; ++i)
    ASSERT_EQ(shipped[i].substr(0, 10), fmt::format("line {:05d}", i));
}

// Whether an entry of a push is the flooding container's.
bool HasFlood(const std::vector<ReceivedEntry>& entries) {
  return std::any_of(entries.begin(), entries.end(), [](const ReceivedEntry& e) {
    return e.labels.find(R"(container="flood")") != std::string::npos;
  });
}

double SentByContainer(LogShipper& shipper, const std::string& container) {
  for (const auto& family : shipper.metrics()->Collect()) {
    if (family.name != "swarmwatch_log_lines_sent_total")
      continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "container" && label.value == container)
          return metric.counter.value;
      }
    }
  }
  return -1;
}

TEST_F(LogShipperTest, WhileLokiRefusesAFloodTheOtherContainersLinesKeepFlowing) {
  // Loki answers 429 to the flood (its rate limits): before lanes, the quiet container's lines
  // sat in the same batches and queue behind it, refused with it for as long as it lasted.
  AddContainer("fff", "flood");
  AddContainer("qqq", "quiet", {{"com.docker.swarm.service.name", "shop_quiet"}});
  std::vector<std::string> flood;
  for (int i = 0; i < 8000; ++i)
    flood.push_back(fmt::format("flood {:05d} {}", i, std::string(200, 'x')));
  Write("fff", flood);  // about 2 MiB: more than a read slice
  LogShipperOptions options;
  options.batch_bytes = 128 << 10;
  Start(options, /*loki_down=*/true);  // until the refusal is in place: no push gets ahead of it
  target_->SetRefuse([](const std::string&, const std::vector<ReceivedEntry>& entries) {
    return HasFlood(entries);
  });
  target_->SetDown(false);
  ASSERT_TRUE(WaitFor([&] { return target_->refused() >= 3; }));
  for (int i = 0; i < 20; ++i) {
    Write("qqq", {fmt::format("quiet {}", i)});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(target_->WaitForEntries(20, kWait)) << "the quiet lines waited for the flood";
  EXPECT_EQ(target_->entries().size(), 20u);  // the flood's lines, all refused so far
  EXPECT_TRUE(WaitFor([&] { return SentByContainer(*shipper_, "quiet") == 20; }));
  // The flood's position did not move while Loki refused each of its batches.
  EXPECT_EQ(shipper_->committed().at("fff").offset, 0u);

  target_->SetRefuse(nullptr);
  ASSERT_TRUE(target_->WaitForEntries(8020, std::chrono::seconds(30)));
  std::set<std::string> lines;
  for (const std::string& line : Lines())
    lines.insert(line);
  EXPECT_EQ(lines.size(), 8020u);
  EXPECT_EQ(Lines().size(), 8020u);  // none twice
  EXPECT_TRUE(WaitFor([&] { return SentByContainer(*shipper_, "flood") == 8000; }));
  EXPECT_TRUE(WaitFor(
      [&] { return shipper_->committed().at("fff").offset == fs::file_size(LogPath("fff")); }));
}

TEST_F(LogShipperTest, FloodsFillingTheirShareOfTheReadAheadDoNotWaitForBatchWait) {
  // When the floods' share of the read-ahead filled before their batch reached batch_bytes, the
  // batch went out only at batch_wait (with a lane per flood, ten floods: 44k lines/s).
  std::vector<std::string> lines;
  for (int i = 0; i < 4000; ++i)
    lines.push_back(fmt::format("line {:05d} {}", i, std::string(200, 'x')));
  for (const std::string id : {"fa", "fb", "fc", "fd"}) {
    AddContainer(id, "flood-" + id);
    Write(id, lines);  // about 1 MiB each
  }
  LogShipperOptions options;
  // The floods' share (at least a batch and two lines' reserve, 320 KiB) is less than a full
  // batch's file bytes (256 KiB of lines are ~340 KiB of json-file).
  options.batch_bytes = 256 << 10;
  options.read_ahead_bytes = 384 << 10;
  options.batch_wait = std::chrono::milliseconds(3000);
  Start(options);
  // About a dozen batches each waited out batch_wait (3 s) before: 3,138 of 16,000 in 10 s.
  ASSERT_TRUE(target_->WaitForEntries(16000, kWait))
      << target_->entries().size() << " of 16000 lines in " << kWait.count() << " s";
}

TEST_F(LogShipperTest, AContainersPositionCommitsOnlyUpToItsFirstBatchLokiHasNotAccepted) {
  // Its first lines went out in the shared lane, its flood in the floods' lane: when Loki accepts
  // the later batches first, committing their position would skip the first ones after a restart.
  AddContainer("fff", "flood");
  LogShipperOptions options;
  options.batch_bytes = 128 << 10;
  Start(options);
  target_->SetRefuse([](const std::string&, const std::vector<ReceivedEntry>& entries) {
    return std::any_of(entries.begin(), entries.end(),
                       [](const ReceivedEntry& e) { return e.line.starts_with("early "); });
  });
  Write("fff", {"early 0", "early 1"});
  ASSERT_TRUE(WaitFor([&] { return target_->refused() >= 2; }));
  std::vector<std::string> flood;
  for (int i = 0; i < 8000; ++i)
    flood.push_back(fmt::format("flood {:05d} {}", i, std::string(200, 'x')));
  Write("fff", flood);  // more than a read slice at once: a lane of its own
  ASSERT_TRUE(target_->WaitForEntries(8000, kWait)) << "the flood waited for the shared lane";
  // Nothing committed (the file was created after the container was followed: no entry) or
  // its start.
  const auto committed = shipper_->committed();
  EXPECT_TRUE(!committed.contains("fff") || committed.at("fff").offset == 0);
  target_->SetRefuse(nullptr);
  ASSERT_TRUE(target_->WaitForEntries(8002, kWait));
  EXPECT_TRUE(WaitFor([&] {
    const auto now = shipper_->committed();
    return now.contains("fff") && now.at("fff").offset == fs::file_size(LogPath("fff"));
  }));
}

using Line = RecordingConsumer::Line;

TEST_F(LogShipperTest, ConsumersGetTheLinesOfTheContainersTheyAskForShippedOrNot) {
  AddContainer("c01", "want-web");
  AddContainer("c02", "other");
  AddContainer("c03", "want-quiet", {{"swarmwatch.logs", "false"}});
  Write("c01", {"GET /a"});
  Write("c01", {"warn"}, "stderr");
  Write("c01", {"GET /b, "}, "stdout", /*newline=*/false);
  Write("c01", {"rejoined"});
  Write("c02", {"not wanted"});
  Write("c03", {"consumed, not shipped"});
  auto consumer = std::make_shared<RecordingConsumer>();
  LogShipperOptions options;
  options.consumers = {consumer};
  Start(options);
  ASSERT_TRUE(target_->WaitForEntries(4, kWait));
  ASSERT_TRUE(consumer->WaitForLines(4, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto lines = consumer->lines();
  // One container's lines in file order; containers in either order.
  std::stable_partition(lines.begin(), lines.end(),
                        [](const Line& l) { return l.container == "want-web"; });
  EXPECT_EQ(lines,
            (std::vector<Line>{{"want-web", LogStream::kStdout, "GET /a"},
                               {"want-web", LogStream::kStderr, "warn"},
                               {"want-web", LogStream::kStdout, "GET /b, rejoined"},
                               {"want-quiet", LogStream::kStdout, "consumed, not shipped"}}));
  auto shipped = Lines();
  std::sort(shipped.begin(), shipped.end());
  EXPECT_EQ(shipped,
            (std::vector<std::string>{"GET /a", "GET /b, rejoined", "not wanted", "warn"}));
}

TEST_F(LogShipperTest, WithoutLokiOnlyConsumedContainersAreFollowedAndResumeWhereTheyWereRead) {
  AddContainer("c11", "want-web");
  AddContainer("c12", "other");
  Write("c11", {"r1", "r2"});
  Write("c12", {"x"});
  auto consumer = std::make_shared<RecordingConsumer>();
  LogShipperOptions options;
  options.consumers = {consumer};
  Start(options, false, /*loki=*/false);
  ASSERT_TRUE(consumer->WaitForLines(2, kWait));
  shipper_->Stop();
  const auto committed = shipper_->committed();
  EXPECT_EQ(committed.size(), 1u);
  ASSERT_TRUE(committed.contains("c11"));
  EXPECT_EQ(committed.at("c11").offset, fs::file_size(LogPath("c11")));
  double followed = -1;
  for (const auto& family : shipper_->metrics()->Collect()) {
    if (family.name == "swarmwatch_log_followed_containers")
      followed = family.metric.at(0).gauge.value;
  }
  EXPECT_EQ(followed, 1);

  // A new agent resumes after what was read: r1 and r2 are not handed over again.
  Write("c11", {"r3"});
  Start(options, false, /*loki=*/false);
  ASSERT_TRUE(consumer->WaitForLines(3, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(consumer->lines().back(), (Line{"want-web", LogStream::kStdout, "r3"}));
  EXPECT_EQ(consumer->lines().size(), 3u);
}

TEST_F(LogShipperTest, AConsumedContainerThatIsNotShippedIsReadWhileLokiIsDown) {
  AddContainer("c21", "want-quiet", {{"swarmwatch.logs", "false"}});
  AddContainer("c22", "flood");
  std::vector<std::string> flood;
  for (int i = 0; i < 2000; ++i)
    flood.push_back(fmt::format("line {:05d} {}", i, std::string(200, 'x')));
  Write("c22", flood);  // fills the read-ahead: Loki is down
  auto consumer = std::make_shared<RecordingConsumer>();
  LogShipperOptions options;
  options.consumers = {consumer};
  options.batch_bytes = 32 << 10;
  options.read_ahead_bytes = 64 << 10;
  Start(options, /*loki_down=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Write("c21", {"GET /while-loki-is-down"});
  ASSERT_TRUE(consumer->WaitForLines(1, kWait));
  EXPECT_EQ(consumer->lines().front().text, "GET /while-loki-is-down");
}

TEST_F(LogShipperTest, ARenamedContainerShipsUnderItsNewNameAndItsLagFollows) {
  AddContainer("ren", "before");
  Write("ren", {"a"});
  Start();
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  ChangeCatalog([](ContainerMap& map) { map["ren"].name = "after"; });
  ASSERT_TRUE(WaitFor([&] { return LagSeries().contains("after"); }));
  Write("ren", {"b"});
  ASSERT_TRUE(target_->WaitForEntries(2, kWait));
  const auto entries = target_->entries();
  EXPECT_THAT(entries[0].labels, ::testing::HasSubstr("container=\"before\""));
  EXPECT_THAT(entries[1].labels, ::testing::HasSubstr("container=\"after\""));
  // The lag is as of the last read: 0 once the poll reads again after the acknowledgement.
  EXPECT_TRUE(WaitFor([&] {
    return LagSeries() == std::map<std::string, double>{{"after", 0}};
  })) << LagSeries().size();
}

TEST_F(LogShipperTest, ANameReusedByAnotherContainerSurvivesTheFirstOnesRemoval) {
  // Regression: both containers shared the lag gauge of their name; removing one freed it under
  // the other (heap corruption, found by a `docker rename` and a new container of the old name).
  AddContainer("one", "x");
  Write("one", {"1a"});
  Start();
  ASSERT_TRUE(target_->WaitForEntries(1, kWait));
  ChangeCatalog([&](ContainerMap& map) {
    map["one"].name = "x-old";
    fs::create_directories(root_ / "containers" / "two");
    ContainerInfo two = map["one"];
    two.id = "two";
    two.name = "x";
    two.log_path = "/var/lib/docker/containers/two/two-json.log";
    map["two"] = two;
  });
  Write("two", {"2a"});
  ASSERT_TRUE(target_->WaitForEntries(2, kWait));
  ChangeCatalog([&](ContainerMap& map) { map.erase("one"); });
  fs::remove_all(root_ / "containers" / "one");
  ASSERT_TRUE(WaitFor([&] { return !LagSeries().contains("x-old"); }));
  for (int i = 0; i < 20; ++i)
    Write("two", {fmt::format("2-{}", i)});
  ASSERT_TRUE(target_->WaitForEntries(22, kWait));
  EXPECT_TRUE(WaitFor([&] {
    return LagSeries() == std::map<std::string, double>{{"x", 0}};
  })) << LagSeries().size();
}

TEST_F(LogShipperTest, AContainerGoneBeforeTheReaderLookedIsShippedFromItsFileCaughtAtCreation) {
  // `docker run --rm` that wrote and was removed before the catalog's next snapshot: the log
  // file was opened when it appeared, the catalog announced the container (from its event) and
  // removed it again, and the directory is gone when the reader gets to it.
  Start();
  const std::string id(64, 'e');
  fs::create_directories(root_ / "containers" / id);
  Write(id, {"short", "lived"});
  const std::string path = LogPath(id).string();
  // The reader holds the file open once it saw it created.
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& fd : fs::directory_iterator("/proc/self/fd")) {
      std::error_code error;
      if (fs::read_symlink(fd.path(), error) == path)
        return true;
    }
    return false;
  }));
  ContainerInfo gone;
  gone.id = id;
  gone.name = "quick";  // no log driver: taken from an event
  fs::remove_all(root_ / "containers" / id);
  shipper_->Announce(gone);
  ASSERT_TRUE(target_->WaitForEntries(2, kWait));
  EXPECT_EQ(Lines(), (std::vector<std::string>{"short", "lived"}));
  EXPECT_THAT(target_->entries()[0].labels, ::testing::HasSubstr("container=\"quick\""));
  // Read to its end and forgotten: no series, no descriptor.
  ASSERT_TRUE(WaitFor([&] { return LagSeries().empty(); }));
}

TEST_F(LogShipperTest, AnUnchangedCatalogIsNotLookedAtAgain) {
  AddContainer("c31", "plain");  // neither shipped (no Loki) nor consumed
  auto consumer = std::make_shared<RecordingConsumer>();
  LogShipperOptions options;
  options.docker_root = root_.string();
  options.poll_interval = std::chrono::milliseconds(20);
  options.consumers = {consumer};
  // One snapshot, handed out again and again, as the catalog does between changes.
  ContainerSnapshot snapshot = std::make_shared<const ContainerMap>(*snapshot_);
  LogShipper shipper([snapshot] { return snapshot; }, nullptr, options);
  shipper.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  shipper.Stop();
  EXPECT_EQ(consumer->attach_calls.load(), 1);
}

TEST_F(LogShipperTest, TheReaderSleepsBetweenPollsInsteadOfSpinning) {
  LogShipperOptions options;
  options.docker_root = root_.string();
  options.poll_interval = std::chrono::milliseconds(50);
  std::atomic<int> turns{0};
  ContainerSnapshot snapshot = std::make_shared<const ContainerMap>();
  LogShipper shipper(
      [&turns, snapshot] {
        ++turns;
        return snapshot;
      },
      nullptr, options);
  shipper.Start();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  shipper.Stop();
  // One turn per poll (20 in a second), not a burst of zero-timeout polls before each.
  EXPECT_LE(turns.load(), 45);
  EXPECT_GE(turns.load(), 10);
}

}  // namespace
}  // namespace swarmwatch
