#include "agent/proc_cgroup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace swarmwatch {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SWARMWATCH_TESTDATA) + "/docker/" + name);
  EXPECT_TRUE(in) << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

TEST(ParseProcCgroup, V1FileFromThisMachine) {
  auto lines = ParseProcCgroup(Fixture("proc_v1/cgroup_container.txt"));
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 10U);
  EXPECT_EQ((*lines)[0].hierarchy_id, 9);
  EXPECT_EQ((*lines)[0].controllers, std::vector<std::string>{"name=systemd"});
  EXPECT_EQ((*lines)[9].hierarchy_id, 0);
  EXPECT_TRUE((*lines)[9].controllers.empty());
  const std::string id = Trim(Fixture("proc_v1/container_id.txt"));
  auto path = PickContainerCgroupPath(*lines);
  ASSERT_TRUE(path) << path.error().message;
  EXPECT_EQ(*path, "/docker/" + id);
}

TEST(ParseProcCgroup, CombinedControllersAndColonsInPath) {
  auto lines = ParseProcCgroup("4:cpu,cpuacct:/kubepods/a:b\n\n2:memory:/m\n");
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 2U);
  EXPECT_EQ((*lines)[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ((*lines)[0].path, "/kubepods/a:b");
  EXPECT_EQ(*PickContainerCgroupPath(*lines), "/m");  // memory wins over cpu
}

TEST(ParseProcCgroup, Malformed) {
  EXPECT_FALSE(ParseProcCgroup("memory:/x\n"));
  EXPECT_FALSE(ParseProcCgroup("x:memory:/x\n"));
}

TEST(PickContainerCgroupPath, CpuWhenNoMemory) {
  auto lines = ParseProcCgroup("3:cpuacct:/b\n2:cpu:/a\n0::/v2\n");
  EXPECT_EQ(*PickContainerCgroupPath(*lines), "/a");
}

TEST(PickContainerCgroupPath, V2Only) {
  auto lines = ParseProcCgroup("0::/system.slice/docker-abc.scope\n");
  EXPECT_EQ(*PickContainerCgroupPath(*lines), "/system.slice/docker-abc.scope");
}

TEST(PickContainerCgroupPath, OtherCgroupNamespaceIsUnusable) {
  auto v2 = ParseProcCgroup("0::/../../system.slice/docker-abc.scope\n");
  auto picked = PickContainerCgroupPath(*v2);
  ASSERT_FALSE(picked);
  EXPECT_NE(picked.error().message.find("namespace"), std::string::npos);
  auto v1 = ParseProcCgroup("4:memory:/..\n0::/docker/abc\n");
  EXPECT_FALSE(PickContainerCgroupPath(*v1));
  EXPECT_FALSE(PickContainerCgroupPath(*ParseProcCgroup("1:name=systemd:/x\n")));
  EXPECT_FALSE(PickContainerCgroupPath({}));
}

TEST(ReadContainerCgroupPath, FromProcTree) {
  const auto root = std::filesystem::temp_directory_path() /
                    ("swarmwatch_proc_cgroup_" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "4242");
  std::ofstream(root / "4242" / "cgroup") << "0::/docker/abc\n";
  EXPECT_EQ(*ReadContainerCgroupPath(root.string(), 4242), "/docker/abc");
  auto missing = ReadContainerCgroupPath(root.string(), 4343);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("4343/cgroup"), std::string::npos);
  std::filesystem::remove_all(root);
}

TEST(DeriveCgroupPath, Cgroupfs) {
  EXPECT_EQ(DeriveCgroupPath("cgroupfs", "", "abc"), "/docker/abc");
  EXPECT_EQ(DeriveCgroupPath("cgroupfs", "/custom", "abc"), "/custom/abc");
  EXPECT_EQ(DeriveCgroupPath("cgroupfs", "custom/", "abc"), "/custom/abc");
  EXPECT_EQ(DeriveCgroupPath("", "", "abc"), "/docker/abc");
}

TEST(DeriveCgroupPath, Systemd) {
  EXPECT_EQ(DeriveCgroupPath("systemd", "", "abc"), "/system.slice/docker-abc.scope");
  EXPECT_EQ(DeriveCgroupPath("systemd", "foo.slice", "abc"), "/foo.slice/docker-abc.scope");
  EXPECT_EQ(DeriveCgroupPath("systemd", "a-b-c.slice", "abc"),
            "/a.slice/a-b.slice/a-b-c.slice/docker-abc.scope");
  EXPECT_EQ(DeriveCgroupPath("systemd", "-.slice", "abc"), "/docker-abc.scope");
  EXPECT_EQ(DeriveCgroupPath("systemd", "/my/path", "abc"), "/my/path/docker-abc.scope");
}

}  // namespace
}  // namespace swarmwatch
