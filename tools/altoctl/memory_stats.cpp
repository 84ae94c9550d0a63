#include "memory_stats.h"

#include <fmt/format.h>

#include <cctype>

namespace altoctl {

using namespace altovirt;

Result<uint64_t> parse_virsh_memory(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 19)
    return fail("'{}' is not a size (a number of KiB, or with a unit: 512M, 512MiB, 2G, 500MB, 1048576b)", text);
  uint64_t n = std::stoull(text.substr(0, digits));
  std::string unit = text.substr(digits);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // virsh (virScaleInteger): a bare letter or XiB is a power of 1024, XB a power of 1000, b bytes.
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1024}, {"b", 1}, {"byte", 1}, {"bytes", 1},
      {"k", 1024}, {"kib", 1024}, {"kb", 1000},
      {"m", 1024ull << 10}, {"mib", 1024ull << 10}, {"mb", 1000ull * 1000},
      {"g", 1024ull << 20}, {"gib", 1024ull << 20}, {"gb", 1000ull * 1000 * 1000},
      {"t", 1024ull << 30}, {"tib", 1024ull << 30}, {"tb", 1000ull * 1000 * 1000 * 1000}};
  for (auto [name, scale] : kUnits)
    if (unit == name) {
      if (n > UINT64_MAX / scale) return fail("'{}' is too large", text);
      return n * scale;
    }
  return fail("'{}': unknown unit '{}' (use b, KiB, MiB, GiB, TiB or KB, MB, GB, TB; no unit is KiB)", text,
              text.substr(digits));
}

std::string format_dommemstat(uint64_t actual_bytes, const nlohmann::json& guest_stats, std::optional<uint64_t> rss_kib) {
  std::string out = fmt::format("actual {}\n", actual_bytes / 1024);
  // libvirt's qemuMonitorJSONGetMemoryStats: these names, in this order, KiB for sizes.
  static const struct {
    const char* qemu;
    const char* virsh;
    uint64_t divisor;
  } kStats[] = {{"stat-swap-in", "swap_in", 1024},          {"stat-swap-out", "swap_out", 1024},
                {"stat-major-faults", "major_fault", 1},    {"stat-minor-faults", "minor_fault", 1},
                {"stat-free-memory", "unused", 1024},       {"stat-total-memory", "available", 1024},
                {"stat-available-memory", "usable", 1024},  {nullptr, "last_update", 1},
                {"stat-disk-caches", "disk_caches", 1024},  {"stat-htlb-pgalloc", "hugetlb_pgalloc", 1},
                {"stat-htlb-pgfail", "hugetlb_pgfail", 1}};
  const nlohmann::json* stats = guest_stats.is_object() && guest_stats.contains("stats") ? &guest_stats["stats"] : nullptr;
  for (const auto& s : kStats) {
    if (s.qemu == nullptr) {
      if (guest_stats.is_object() && guest_stats.contains("last-update") && guest_stats["last-update"].is_number_integer() &&
          guest_stats["last-update"].get<int64_t>() > 0)
        out += fmt::format("last_update {}\n", guest_stats["last-update"].get<int64_t>());
      continue;
    }
    if (!stats || !stats->contains(s.qemu) || !(*stats)[s.qemu].is_number_integer()) continue;
    int64_t v = (*stats)[s.qemu].get<int64_t>();
    if (v < 0) continue;  // -1: the guest did not report it
    out += fmt::format("{} {}\n", s.virsh, static_cast<uint64_t>(v) / s.divisor);
  }
  if (rss_kib) out += fmt::format("rss {}\n", *rss_kib);
  return out;
}

}  // namespace altoctl
