#include "altovirt/vfio/bar_layout.h"

#include <algorithm>

namespace altovirt::vfio {

BarPlan plan_bar(uint64_t bar_size, const std::vector<SparseArea>& mmap_areas, const std::vector<BarRange>& must_trap,
                 uint64_t page_size) {
  auto down = [&](uint64_t v) { return v & ~(page_size - 1); };
  auto up = [&](uint64_t v) { return (v + page_size - 1) & ~(page_size - 1); };

  // Start from the mmappable areas shrunk inward to whole pages.
  std::vector<BarRange> direct;
  for (auto& a : mmap_areas) {
    uint64_t s = up(a.offset), e = down(std::min(a.offset + a.size, bar_size));
    if (e > s) direct.push_back({s, e - s});
  }
  // Cut out the pages that must trap, widened outward to whole pages.
  for (auto& t : must_trap) {
    if (t.size == 0) continue;
    uint64_t ts = down(t.offset), te = up(t.offset + t.size);
    std::vector<BarRange> next;
    for (auto& d : direct) {
      uint64_t ds = d.offset, de = d.offset + d.size;
      if (te <= ds || ts >= de) {
        next.push_back(d);
        continue;
      }
      if (ts > ds) next.push_back({ds, ts - ds});
      if (te < de) next.push_back({te, de - te});
    }
    direct = std::move(next);
  }
  std::sort(direct.begin(), direct.end(), [](auto& a, auto& b) { return a.offset < b.offset; });

  BarPlan plan;
  uint64_t cursor = 0;
  for (auto& d : direct) {
    if (d.offset > cursor) plan.trapped.push_back({cursor, d.offset - cursor});
    cursor = d.offset + d.size;
  }
  if (cursor < bar_size) plan.trapped.push_back({cursor, bar_size - cursor});
  plan.direct = std::move(direct);
  return plan;
}

}  // namespace altovirt::vfio
