#include "altovirt/base/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "altovirt/base/fd.h"

namespace altovirt {

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "reading {}", path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "reading {}", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::vector<uint8_t>> read_bytes(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "reading {}", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "reading {}", path);
  // One spare byte: the read that finds the end needs room, and without it a buffer exactly the
  // file's size was doubled (and the whole kernel copied) just to read nothing.
  std::vector<uint8_t> out(st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 0);
  size_t have = 0;
  for (;;) {
    if (have == out.size()) out.resize(std::max<size_t>(out.size() * 2, 1 << 20));  // grew, or no size
    ssize_t n = ::read(fd.get(), out.data() + have, std::min<size_t>(out.size() - have, 8 << 20));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "reading {}", path);
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  out.resize(have);
  return out;
}

Result<size_t> read_into(const std::string& path, std::span<uint8_t> dest) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "reading {}", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "reading {}", path);
  if (static_cast<uint64_t>(st.st_size) > dest.size())
    return fail("{} is {} bytes: more than the {} bytes it has to fit in", path, st.st_size, dest.size());
  size_t have = 0;
  while (have < dest.size()) {
    ssize_t n = ::read(fd.get(), dest.data() + have, std::min<size_t>(dest.size() - have, 8 << 20));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "reading {}", path);
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  return have;
}

Result<FileHead> read_head(const std::string& path, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "reading {}", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "reading {}", path);
  FileHead head;
  head.size = static_cast<uint64_t>(st.st_size);
  head.bytes.resize(std::min<uint64_t>(head.size, max));
  size_t have = 0;
  while (have < head.bytes.size()) {
    ssize_t n = ::pread(fd.get(), head.bytes.data() + have, head.bytes.size() - have, static_cast<off_t>(have));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "reading {}", path);
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  head.bytes.resize(have);
  return head;
}

Result<std::string> read_trimmed(const std::string& path) {
  AV_TRY_ASSIGN(std::string s, read_file(path));
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

Status write_sysfs(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "opening {} for writing", path);
  ssize_t n;
  do {
    n = ::write(fd.get(), data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno(errno, "writing '{}' to {}", data, path);
  if (static_cast<size_t>(n) != data.size()) return fail("short write of '{}' to {}", data, path);
  return ok();
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return fail_errno(errno, "creating {}", tmp);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return fail_errno(err, "writing {}", tmp);
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return fail_errno(err, "syncing {}", tmp);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, "replacing {}", path);
  }
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return ok();
}

Result<std::vector<std::string>> list_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return fail_errno(errno, "listing {}", path);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) return fail_errno(errno, "reading link {}", path);
  return std::string(buf, static_cast<size_t>(n));
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string_view base_name(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto pos = path.rfind('/');
  return pos == std::string_view::npos ? path : path.substr(pos + 1);
}

Status make_dirs(const std::string& path) {
  if (path.empty()) return ok();
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return fail_errno(errno, "creating directory {}", cur);
  }
  return ok();
}

}  // namespace altovirt
