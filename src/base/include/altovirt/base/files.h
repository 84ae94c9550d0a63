// Small file helpers for sysfs, procfs and state files, returning errors that name the path.
//
// Threading: stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt {

// The whole file.
Result<std::string> read_file(const std::string& path);
// The whole file as bytes, read in large chunks (kernels and initrds: tens of MiB, often over a
// network file system where every read is a round trip).
Result<std::vector<uint8_t>> read_bytes(const std::string& path);
// The whole file straight into `dest` (a kernel or initrd into guest RAM, with no copy in between);
// returns its size. A file larger than `dest` is an error naming both sizes, and `dest` is untouched.
Result<size_t> read_into(const std::string& path, std::span<uint8_t> dest);
// The first `max` bytes of a file (all of a smaller one) and the file's size: a header check
// without reading a whole kernel.
struct FileHead {
  std::vector<uint8_t> bytes;
  uint64_t size = 0;
};
Result<FileHead> read_head(const std::string& path, size_t max);
// The file with surrounding white space removed (sysfs attributes end with '\n').
Result<std::string> read_trimmed(const std::string& path);
// One write(2) of `data` to an existing file, as sysfs attributes require (the kernel acts on each
// write; a short or split write would be a different request). No O_CREAT.
Status write_sysfs(const std::string& path, std::string_view data);
// Replaces `path` atomically: writes a temporary file beside it, fsyncs it, renames it over `path`
// and fsyncs the directory, so that a crash leaves either the old or the new content, never a mix.
Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// Names in a directory, sorted, without "." and "..".
Result<std::vector<std::string>> list_dir(const std::string& path);
// readlink(2).
Result<std::string> read_link(const std::string& path);
bool path_exists(const std::string& path);
// Final component of a path ("/a/b/c" -> "c").
std::string_view base_name(std::string_view path);
// Creates `path` and its parents (mode 0755) when missing.
Status make_dirs(const std::string& path);

}  // namespace altovirt
