#include "shippers/positions_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string_view>

namespace swarmwatch {

namespace {

std::string Errno(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

// Reads a whole file into `out`: 0, or the errno of the failure.
int ReadAll(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  char chunk[16384];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      const int error = errno;
      ::close(fd);
      return error;
    }
    if (got == 0)
      break;
    out.append(chunk, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return 0;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t wrote = ::write(fd, data.data(), data.size());
    if (wrote < 0) {
      if (errno == EINTR)
        continue;
      return Error{Errno("write", path)};
    }
    data.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return {};
}

std::string Directory(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

// The position one entry holds, or why it cannot be taken.
Result<FilePosition> DecodeEntry(const nlohmann::json& entry) {
  if (!entry.is_object())
    return Error{"not an object"};
  const auto inode = entry.find("inode");
  const auto offset = entry.find("offset");
  if (inode == entry.end() || !inode->is_number_unsigned() || offset == entry.end() ||
      !offset->is_number_unsigned())
    return Error{"needs unsigned integers \"inode\" and \"offset\" (below 2^64)"};
  FilePosition position{inode->get<std::uint64_t>(), offset->get<std::uint64_t>()};
  // Optional: positions saved before heads were kept have none.
  const auto head_hash = entry.find("head_hash");
  const auto head_bytes = entry.find("head_bytes");
  if ((head_hash == entry.end()) != (head_bytes == entry.end()))
    return Error{"needs both \"head_hash\" and \"head_bytes\" or neither"};
  if (head_hash != entry.end()) {
    if (!head_hash->is_number_unsigned() || !head_bytes->is_number_unsigned() ||
        head_bytes->get<std::uint64_t>() > FilePosition::kMaxHeadBytes)
      return Error{"needs an unsigned \"head_hash\" and \"head_bytes\" of at most " +
                   std::to_string(FilePosition::kMaxHeadBytes)};
    position.head_hash = head_hash->get<std::uint64_t>();
    position.head_bytes = static_cast<std::uint32_t>(head_bytes->get<std::uint64_t>());
  }
  return position;
}

// JSON text as a warning quotes it (escaped: no control characters reach the log), cut short.
std::string Quoted(const nlohmann::json& entry) {
  std::string text = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 200)
    text = text.substr(0, 200) + "...";
  return text;
}

}  // namespace

std::string PositionsFile::Encode(const Positions& positions) {
  nlohmann::json entries = nlohmann::json::object();
  for (const auto& [id, position] : positions) {
    nlohmann::json& entry = entries[id];
    entry = {{"inode", position.inode}, {"offset", position.offset}};
    if (position.head_bytes != 0) {
      entry["head_hash"] = position.head_hash;
      entry["head_bytes"] = position.head_bytes;
    }
  }
  const nlohmann::json document = {{"version", kVersion}, {"positions", std::move(entries)}};
  return document.dump() + "\n";
}

Result<PositionsFile::Positions> PositionsFile::Decode(const std::string& text,
                                                       std::vector<std::string>* skipped) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return Error{std::string("not JSON: ") + e.what()};
  }
  if (!document.is_object())
    return Error{"not a JSON object"};
  const auto version = document.find("version");
  if (version == document.end() || !version->is_number_integer())
    return Error{"no integer \"version\""};
  if (version->get<std::int64_t>() != kVersion)
    return Error{"unknown version " + version->dump()};
  const auto entries = document.find("positions");
  if (entries == document.end() || !entries->is_object())
    return Error{"no \"positions\" object"};
  Positions positions;
  for (const auto& [id, entry] : entries->items()) {
    // One container's entry is that container's business: the others are kept.
    Result<FilePosition> position =
        id.empty() ? Result<FilePosition>(Error{"empty container id"}) : DecodeEntry(entry);
    if (!position.ok()) {
      if (skipped != nullptr)
        skipped->push_back("position of " + Quoted(id) + " skipped: " + position.error().message +
                           ", was " + Quoted(entry));
      continue;
    }
    positions.emplace(id, *position);
  }
  return positions;
}

Result<PositionsFile::Positions> PositionsFile::Load(const std::string& path,
                                                     std::vector<std::string>* skipped) {
  std::string text;
  std::string reason;
  if (const int error = ReadAll(path, text); error != 0) {
    if (error == ENOENT)
      return Positions{};
    reason = std::string("read: ") + std::strerror(error);
  } else {
    Result<Positions> decoded = Decode(text, skipped);
    if (decoded.ok())
      return decoded;
    reason = decoded.error().message;
  }
  const std::string aside = path + ".corrupt-" + std::to_string(std::time(nullptr));
  if (::rename(path.c_str(), aside.c_str()) == 0)
    return Error{"positions file " + path + ": " + reason + "; set aside as " + aside};
  return Error{"positions file " + path + ": " + reason + "; could not set it aside (" +
               std::strerror(errno) + ")"};
}

Status PositionsFile::Save(const std::string& path, const Positions& positions, bool sync) {
  std::string temp = path + ".tmp-XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0)
    return Error{Errno("create a temporary file beside", path)};
  const std::string text = Encode(positions);
  Status status = WriteAll(fd, text, temp);
  if (sync && status.ok() && ::fsync(fd) != 0)
    status = Error{Errno("fsync", temp)};
  if (::close(fd) != 0 && status.ok())
    status = Error{Errno("close", temp)};
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0)
    status = Error{Errno("rename over", path)};
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  if (!sync)
    return {};
  // The rename is durable once the directory is.
  const std::string directory = Directory(path);
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return Error{Errno("open directory", directory)};
  if (::fsync(dir_fd) != 0) {
    Error error{Errno("fsync directory", directory)};
    ::close(dir_fd);
    return error;
  }
  ::close(dir_fd);
  return {};
}

}  // namespace swarmwatch
