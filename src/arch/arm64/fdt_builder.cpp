#include "altovirt/arch/arm64/fdt_builder.h"

#include <libfdt.h>

namespace altovirt::arch::arm64 {

FdtBuilder::FdtBuilder(size_t capacity) : buf_(capacity) {
  check(fdt_create(buf_.data(), static_cast<int>(buf_.size())), "fdt_create");
  check(fdt_finish_reservemap(buf_.data()), "the reserve map");
}

void FdtBuilder::check(int rc, const char* what) {
  if (rc < 0 && error_ == 0) {
    error_ = rc;
    error_at_ = what;
  }
}

void FdtBuilder::begin(const std::string& name) {
  if (error_ == 0) check(fdt_begin_node(buf_.data(), name.c_str()), name.c_str());
}
void FdtBuilder::end() {
  if (error_ == 0) check(fdt_end_node(buf_.data()), "a node's end");
}
void FdtBuilder::prop(const char* name, std::string_view text) {
  std::string s(text);
  if (error_ == 0) check(fdt_property(buf_.data(), name, s.c_str(), static_cast<int>(s.size() + 1)), name);
}
void FdtBuilder::prop_strings(const char* name, std::initializer_list<std::string_view> texts) {
  std::string s;
  for (auto t : texts) {
    s += t;
    s += '\0';
  }
  if (error_ == 0) check(fdt_property(buf_.data(), name, s.data(), static_cast<int>(s.size())), name);
}
void FdtBuilder::prop_u32(const char* name, uint32_t value) {
  if (error_ == 0) check(fdt_property_u32(buf_.data(), name, value), name);
}
void FdtBuilder::prop_cells(const char* name, const std::vector<uint32_t>& cells) {
  std::vector<fdt32_t> be;
  for (uint32_t c : cells) be.push_back(cpu_to_fdt32(c));
  if (error_ == 0) check(fdt_property(buf_.data(), name, be.data(), static_cast<int>(be.size() * sizeof(fdt32_t))), name);
}
void FdtBuilder::prop_u64s(const char* name, const std::vector<uint64_t>& values) {
  std::vector<uint32_t> cells;
  for (uint64_t v : values) {
    cells.push_back(static_cast<uint32_t>(v >> 32));
    cells.push_back(static_cast<uint32_t>(v));
  }
  prop_cells(name, cells);
}
void FdtBuilder::prop_empty(const char* name) {
  if (error_ == 0) check(fdt_property(buf_.data(), name, nullptr, 0), name);
}

Result<std::vector<uint8_t>> FdtBuilder::finish() {
  if (error_ == 0) check(fdt_finish(buf_.data()), "fdt_finish");
  if (error_ != 0) return fail("building the device tree failed at {}: {}", error_at_, fdt_strerror(error_));
  buf_.resize(fdt_totalsize(buf_.data()));
  return std::move(buf_);
}

}  // namespace altovirt::arch::arm64
