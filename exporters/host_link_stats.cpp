#include "exporters/host_link_stats.h"

#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exporters/cgroup_parsers.h"

namespace swarmwatch {
namespace {

constexpr std::size_t kBufferSize = 32768;  // a dump datagram holds at most a page or two

// Whether two procfs files are one entry of one network namespace. Their net/ files are: a
// network namespace's entries have inode numbers of their own, unique on the host and the same in
// every procfs mount (which /proc/<pid>/ns/net, denied for some pid 1, is not needed for).
bool SameProcEntry(const std::string& a, const std::string& b) {
  struct statfs fa {};
  struct statfs fb {};
  struct stat sa {};
  struct stat sb {};
  return ::statfs(a.c_str(), &fa) == 0 && ::statfs(b.c_str(), &fb) == 0 &&
         fa.f_type == PROC_SUPER_MAGIC && fb.f_type == PROC_SUPER_MAGIC &&
         ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_ino == sb.st_ino;
}

int NetlinkSocket(std::uint32_t groups) {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return -1;
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  address.nl_groups = groups;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::unique_ptr<HostLinkStats> HostLinkStats::OpenInHostNamespace(const std::string& proc_root) {
  if (!SameProcEntry("/proc/self/net/dev", proc_root + "/1/net/dev"))
    return nullptr;
  const int requests = NetlinkSocket(0);
  if (requests < 0)
    return nullptr;
  const int announcements = NetlinkSocket(RTMGRP_LINK);
  if (announcements < 0) {
    ::close(requests);
    return nullptr;
  }
  return std::unique_ptr<HostLinkStats>(new HostLinkStats(requests, announcements));
}

HostLinkStats::~HostLinkStats() {
  ::close(requests_);
  ::close(announcements_);
}

// Reads `fd` until it has nothing more: true when it held anything, or lost some (ENOBUFS).
bool HostLinkStats::Drain(int fd) {
  bool any = false;
  char drain[4096];
  for (;;) {
    const ssize_t got = ::recv(fd, drain, sizeof drain, MSG_DONTWAIT);
    if (got > 0 || (got < 0 && errno == ENOBUFS)) {
      any = true;
      continue;
    }
    if (got < 0 && errno == EINTR)
      continue;
    return any;
  }
}

template <class Body>
bool HostLinkStats::Send(std::uint16_t type, std::uint16_t flags, const Body& body) {
  struct {
    nlmsghdr header;
    Body body;
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = type;
  request.header.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  request.header.nlmsg_seq = ++sequence_;
  request.body = body;
  return ::send(requests_, &request, sizeof request, 0) == static_cast<ssize_t>(sizeof request);
}

std::optional<std::string_view> HostLinkStats::Receive() {
  buffer_.resize(kBufferSize);
  ssize_t got;
  do {
    got = ::recv(requests_, buffer_.data(), buffer_.size(), 0);
  } while (got < 0 && errno == EINTR);
  if (got <= 0)
    return std::nullopt;
  return std::string_view(buffer_.data(), static_cast<std::size_t>(got));
}

bool HostLinkStats::ListLinks() {
  ifinfomsg all{};
  all.ifi_family = AF_UNSPEC;
  if (!Send(RTM_GETLINK, NLM_F_DUMP, all))
    return false;
  std::vector<LinkName> links;
  for (;;) {
    const auto datagram = Receive();
    if (!datagram)
      return false;
    const DumpProgress progress = ParseLinkDump(*datagram, links);
    if (progress == DumpProgress::kError)
      return false;
    if (progress == DumpProgress::kDone)
      break;
  }
  std::erase_if(links, [](const LinkName& link) { return IsIgnoredInterface(link.name); });
  links_ = std::move(links);
  return true;
}

std::optional<NetInterfaceStats> HostLinkStats::Stats(const LinkName& link) {
  if_stats_msg one{};
  one.ifindex = link.index;
  one.filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64);
  if (!Send(RTM_GETSTATS, 0, one))
    return std::nullopt;
  const auto datagram = Receive();
  return datagram ? ParseLinkStats(*datagram, link.name) : std::nullopt;
}

std::optional<std::vector<NetInterfaceStats>> HostLinkStats::Read() {
  // Drained first: a link that changes after it shows at the next read.
  if (Drain(announcements_) || !listed_) {
    listed_ = ListLinks();
    if (!listed_) {
      Drain(requests_);  // what is left of the dump would be taken for the next answers
      return std::nullopt;
    }
  }
  std::vector<NetInterfaceStats> interfaces;
  interfaces.reserve(links_.size());
  for (const LinkName& link : links_) {
    auto stats = Stats(link);
    if (!stats) {
      // Gone since it was listed, or renamed: listed again at the next read.
      listed_ = false;
      Drain(requests_);
      return std::nullopt;
    }
    interfaces.push_back(std::move(*stats));
  }
  return interfaces;
}

}  // namespace swarmwatch
