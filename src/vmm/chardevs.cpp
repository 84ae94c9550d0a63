#include "altovirt/vmm/chardevs.h"

namespace altovirt::vmm {

Result<Chardevs> Chardevs::open(const std::vector<ChardevSpec>& specs) {
  Chardevs c;
  for (const auto& spec : specs) {
    // (ids are unique: parse_options refuses a second -chardev with the same id)
    auto opened = devices::CharBackend::open(spec.backend);
    if (!opened) return std::unexpected(opened.error().context(fmt::format("-chardev {}", spec.text)));
    c.backends_.emplace(spec.id, std::shared_ptr<devices::CharBackend>(std::move(*opened)));
  }
  return c;
}

std::shared_ptr<devices::CharBackend> Chardevs::find(std::string_view id) const {
  auto it = backends_.find(id);
  return it == backends_.end() ? nullptr : it->second;
}

bool Chardevs::first_announcement(std::string_view id) { return announced_.emplace(id).second; }

}  // namespace altovirt::vmm
