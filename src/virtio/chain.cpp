#include "altovirt/virtio/chain.h"

#include <algorithm>
#include <cstring>

namespace altovirt::virtio {
namespace {

size_t total(const std::vector<std::span<uint8_t>>& v) {
  size_t n = 0;
  for (auto& s : v) n += s.size();
  return n;
}

std::vector<std::span<uint8_t>> range(const std::vector<std::span<uint8_t>>& v, size_t offset, size_t len) {
  std::vector<std::span<uint8_t>> out;
  for (auto& s : v) {
    if (len == 0) break;
    if (offset >= s.size()) {
      offset -= s.size();
      continue;
    }
    size_t n = std::min(len, s.size() - offset);
    out.push_back(s.subspan(offset, n));
    offset = 0;
    len -= n;
  }
  return out;
}

}  // namespace

size_t Chain::readable_bytes() const { return total(readable); }
size_t Chain::writable_bytes() const { return total(writable); }

std::vector<std::span<uint8_t>> Chain::readable_range(size_t offset, size_t len) const { return range(readable, offset, len); }
std::vector<std::span<uint8_t>> Chain::writable_range(size_t offset, size_t len) const { return range(writable, offset, len); }

size_t Chain::read(size_t offset, std::span<uint8_t> out) const {
  size_t done = 0;
  for (auto& s : range(readable, offset, out.size())) {
    std::memcpy(out.data() + done, s.data(), s.size());
    done += s.size();
  }
  return done;
}

size_t Chain::write(size_t offset, std::span<const uint8_t> in) const {
  size_t done = 0;
  for (auto& s : range(writable, offset, in.size())) {
    std::memcpy(s.data(), in.data() + done, s.size());
    done += s.size();
  }
  return done;
}

}  // namespace altovirt::virtio
