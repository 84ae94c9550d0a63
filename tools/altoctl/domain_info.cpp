#include "domain_info.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>
#include <vector>

#include "altovirt/base/files.h"

namespace altoctl {

using namespace altovirt;

DomInfo dominfo_of(const VmStatus& s, VmState state, const config::DomainConfig& c, bool autostart) {
  DomInfo i;
  if (state != VmState::shutoff && s.id > 0) i.id = s.id;
  i.name = s.name.empty() ? c.name : s.name;
  i.uuid = c.uuid.value_or("");
  i.state = state;
  i.vcpus = c.vcpus;
  i.max_memory_kib = c.memory_kib;
  i.used_memory_kib = c.current_memory_kib.value_or(c.memory_kib);
  i.persistent = s.persistent;
  i.autostart = autostart;
  return i;
}

std::string format_dominfo(const DomInfo& i) {
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<15} {}\n", key, value); };
  line("Id:", i.id ? std::to_string(*i.id) : "-");
  line("Name:", i.name);
  line("UUID:", i.uuid.empty() ? "-" : i.uuid);
  line("OS Type:", "hvm");
  line("State:", state_name(i.state));
  line("CPU(s):", std::to_string(i.vcpus));
  if (i.cpu_time_s) line("CPU time:", fmt::format("{:.1f}s", *i.cpu_time_s));
  line("Max memory:", fmt::format("{} KiB", i.max_memory_kib));
  line("Used memory:", fmt::format("{} KiB", i.used_memory_kib));
  line("Persistent:", i.persistent ? "yes" : "no");
  line("Autostart:", i.autostart ? "enable" : "disable");
  return out + "\n";
}

namespace {
// virsh's table layout: a leading space, columns padded to their widest cell plus three spaces, and
// a rule of dashes under the header as wide as the widest line.
std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(rows.front().size(), 0);
  for (auto& r : rows)
    for (size_t k = 0; k < r.size(); ++k) w[k] = std::max(w[k], r[k].size());
  std::string out;
  size_t width = 1;
  for (size_t k = 0; k < w.size(); ++k) width += w[k] + (k + 1 < w.size() ? 3 : 0);
  for (size_t n = 0; n < rows.size(); ++n) {
    std::string l = " ";
    for (size_t k = 0; k < rows[n].size(); ++k)
      l += k + 1 < rows[n].size() ? fmt::format("{:<{}}   ", rows[n][k], w[k]) : rows[n][k];
    out += l + "\n";
    if (n == 0) out += std::string(width, '-') + "\n";
  }
  return out;
}
}  // namespace

std::string format_hostdevs(const config::DomainConfig& c, const std::function<std::string(const std::string&)>& driver_of) {
  std::vector<std::vector<std::string>> rows = {{"Type", "Source", "Managed", "Alias", "Host driver"}};
  for (const auto& h : c.hostdevs) {
    std::string d = driver_of(h.source.to_string());
    rows.push_back({"pci", h.source.to_string(), h.managed ? "yes" : "no", h.alias.empty() ? "-" : h.alias,
                    d.empty() ? "-" : d});
  }
  return format_table(rows);
}

std::string format_blklist(const config::DomainConfig& c) {
  std::vector<std::vector<std::string>> rows = {{"Target", "Source"}};
  for (const auto& d : c.disks) rows.push_back({d.target.empty() ? "-" : d.target, d.source});
  return format_table(rows);
}

std::optional<double> process_cpu_seconds(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto stat = read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat) return std::nullopt;
  auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  // proc(5): after "pid (comm)", field 3 is the state; utime and stime are fields 14 and 15.
  std::istringstream in(stat->substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && (in >> field); ++n) {
    unsigned long long* to = n == 14 ? &utime : n == 15 ? &stime : nullptr;
    if (to != nullptr && std::from_chars(field.data(), field.data() + field.size(), *to).ec != std::errc())
      return std::nullopt;
  }
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(hz);
}

}  // namespace altoctl
