// The balloon verbs' pure parts (unit-tested): virsh's scaled sizes for `setmem`, and `dommemstat`'s
// output from what QMP returns.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "altovirt/base/error.h"

namespace altoctl {

// virsh's scaled integer with KiB as the default unit: "524288" (KiB), "512M", "512MiB", "1G",
// "500MB" (10^6), "1073741824b". Returns bytes.
altovirt::Result<uint64_t> parse_virsh_memory(const std::string& text);

// virsh dommemstat's lines ("actual 1048576\nswap_in 0\n..."), from query-balloon's actual (bytes),
// qom-get guest-stats (QEMU's shape: {"stats": {"stat-swap-in": N|-1, ...}, "last-update": S}) and
// the VMM's resident set (KiB, when known). Values the guest did not report are left out, as
// libvirt does; sizes in KiB, fault and hugetlb counts as they are.
std::string format_dommemstat(uint64_t actual_bytes, const nlohmann::json& guest_stats, std::optional<uint64_t> rss_kib);

}  // namespace altoctl
