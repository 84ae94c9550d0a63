// FdtBuilder: a flattened device tree (DTB, devicetree specification 0.4 ch. 5) written node by
// node with libfdt's sequential-write functions. The first libfdt error is kept and reported by
// finish(); later calls do nothing.
//
// Threading: one builder per thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::arch::arm64 {

class FdtBuilder {
 public:
  explicit FdtBuilder(size_t capacity = 64 * 1024);
  void begin(const std::string& name);  // a child of the current node ("" is the root)
  void end();
  void prop(const char* name, std::string_view text);                        // a string
  void prop_strings(const char* name, std::initializer_list<std::string_view> texts);  // a string list
  void prop_u32(const char* name, uint32_t value);
  void prop_cells(const char* name, const std::vector<uint32_t>& cells);     // big-endian cells
  void prop_u64s(const char* name, const std::vector<uint64_t>& values);     // each as two cells
  void prop_empty(const char* name);
  Result<std::vector<uint8_t>> finish();

 private:
  void check(int rc, const char* what);
  std::vector<uint8_t> buf_;
  int error_ = 0;
  std::string error_at_;
};

}  // namespace altovirt::arch::arm64
