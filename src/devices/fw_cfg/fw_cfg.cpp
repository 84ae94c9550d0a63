#include "altovirt/devices/fw_cfg.h"

#include <endian.h>

#include <algorithm>
#include <cstring>

namespace altovirt::devices {
namespace {

constexpr uint16_t kWriteChannel = 0x4000;  // a selector bit that only says "for writing" (legacy)

uint64_t be_bytes(std::span<const uint8_t> d) {
  uint64_t v = 0;
  for (uint8_t b : d) v = v << 8 | b;
  return v;
}

}  // namespace

FwCfg::FwCfg(const virtio::GuestRam& ram, Interface interface) : ram_(ram), interface_(interface) {
  items_[kSignature] = {'Q', 'E', 'M', 'U'};
  // FW_CFG_ID: bit 0 the traditional interface, bit 1 DMA (OVMF uses DMA when it is set).
  items_[kId] = le32(0x3);
  rebuild_directory_locked();
}

std::vector<uint8_t> FwCfg::le16(uint16_t v) { return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)}; }
std::vector<uint8_t> FwCfg::le32(uint32_t v) {
  std::vector<uint8_t> b(4);
  for (unsigned i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  return b;
}
std::vector<uint8_t> FwCfg::le64(uint64_t v) {
  std::vector<uint8_t> b(8);
  for (unsigned i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  return b;
}

std::vector<uint8_t> FwCfg::e820_file(std::span<const E820Entry> entries) {
  std::vector<uint8_t> out;
  for (const auto& e : entries) {
    auto a = le64(e.address), l = le64(e.length), t = le32(e.type);
    out.insert(out.end(), a.begin(), a.end());
    out.insert(out.end(), l.begin(), l.end());
    out.insert(out.end(), t.begin(), t.end());
  }
  return out;
}

Status FwCfg::set_item(uint16_t key, std::vector<uint8_t> data) {
  if (key & kWriteChannel) return fail("fw_cfg: key {:#x} has the write-channel bit", key);
  if (key == kFileDir || (!(key & 0x8000) && key >= kFirstFile))
    return fail("fw_cfg: key {:#x} is the file directory's or a file's; use add_file", key);
  std::lock_guard lock(mutex_);
  items_[key] = std::move(data);
  return ok();
}

Result<uint16_t> FwCfg::add_file(std::string_view name, std::vector<uint8_t> data) {
  if (name.empty() || name.size() > kMaxNameLength)
    return fail("fw_cfg: file name '{}' must have 1 to {} bytes", name, kMaxNameLength);
  std::lock_guard lock(mutex_);
  for (const auto& f : files_)
    if (f.name == name) return fail("fw_cfg: file '{}' exists already", name);
  if (files_.size() >= kMaxFiles) return fail("fw_cfg: no room for file '{}' ({} files at most)", name, kMaxFiles);
  auto key = static_cast<uint16_t>(kFirstFile + files_.size());
  files_.push_back({std::string(name), key});
  items_[key] = std::move(data);
  rebuild_directory_locked();
  return key;
}

Status FwCfg::replace_file(std::string_view name, std::vector<uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (const auto& f : files_) {
    if (f.name != name) continue;
    items_[f.key] = std::move(data);
    rebuild_directory_locked();  // the size is in the directory
    return ok();
  }
  return fail("fw_cfg: no file '{}' to replace", name);
}

void FwCfg::rebuild_directory_locked() {
  // struct FWCfgFiles: be32 count, then {be32 size; be16 select; be16 reserved; char name[56]} each.
  std::vector<uint8_t> dir(4 + 64 * files_.size(), 0);
  uint32_t count = htobe32(static_cast<uint32_t>(files_.size()));
  std::memcpy(dir.data(), &count, 4);
  for (size_t i = 0; i < files_.size(); ++i) {
    uint8_t* e = dir.data() + 4 + 64 * i;
    uint32_t size = htobe32(static_cast<uint32_t>(items_[files_[i].key].size()));
    uint16_t select = htobe16(files_[i].key);
    std::memcpy(e, &size, 4);
    std::memcpy(e + 4, &select, 2);
    std::memcpy(e + 8, files_[i].name.data(), files_[i].name.size());
  }
  items_[kFileDir] = std::move(dir);
}

void FwCfg::reset() {
  std::lock_guard lock(mutex_);
  selected_ = kSignature;
  offset_ = 0;
  dma_high_ = 0;
}

void FwCfg::select_locked(uint16_t key) {
  selected_ = static_cast<uint16_t>(key & ~kWriteChannel);
  offset_ = 0;
}

const std::vector<uint8_t>* FwCfg::current_locked() const {
  auto it = items_.find(selected_);
  return it == items_.end() ? nullptr : &it->second;
}

void FwCfg::read_data_locked(std::span<uint8_t> data) {
  // The item's next bytes, 0 past its end (fw_cfg.rst "Data Register").
  const auto* item = current_locked();
  for (auto& b : data) {
    b = item != nullptr && offset_ < item->size() ? (*item)[offset_] : 0;
    if (item != nullptr && offset_ < item->size()) ++offset_;
  }
}

void FwCfg::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  const uint64_t data_at = interface_ == Interface::port ? 1 : 0, dma_at = interface_ == Interface::port ? 4 : 16;
  if (offset == data_at && (interface_ == Interface::port || data.size() <= 8)) return read_data_locked(data);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    // The DMA address register reads as the signature "QEMU CFG", big-endian.
    data[i] = at >= dma_at && at < dma_at + 8 ? static_cast<uint8_t>(kDmaSignature >> (8 * (dma_at + 7 - at))) : 0;
  }
}

void FwCfg::dma_register_write_locked(uint64_t at, std::span<const uint8_t> data) {
  if (at == 0 && data.size() == 4) {
    dma_high_ = static_cast<uint32_t>(be_bytes(data));
  } else if (at == 4 && data.size() == 4) {
    // The low half starts the transfer; the high half is spent (a 32-bit guest writes only this one).
    uint64_t address = uint64_t{dma_high_} << 32 | be_bytes(data);
    dma_high_ = 0;
    dma_locked(address);
  } else if (at == 0 && data.size() == 8) {
    dma_high_ = 0;
    dma_locked(be_bytes(data));
  }
}

void FwCfg::io_write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (interface_ == Interface::port) {
    if (offset == 0 && (data.size() == 1 || data.size() == 2))
      select_locked(static_cast<uint16_t>(data[0] | (data.size() == 2 ? data[1] << 8 : 0)));  // little-endian
    else if (offset >= 4)
      dma_register_write_locked(offset - 4, data);
  } else {
    if (offset == 8 && data.size() == 2)
      select_locked(static_cast<uint16_t>(be_bytes(data)));  // big-endian on MMIO (fw_cfg.rst)
    else if (offset >= 16)
      dma_register_write_locked(offset - 16, data);
  }
  // Anything else, data register writes included (removed in QEMU 2.4), is ignored.
}

template <typename... Args>
void FwCfg::guest_error(fmt::format_string<Args...> f, Args&&... args) {
  if (!limiter_.allow()) return;
  uint64_t more = limiter_.take_suppressed();
  log::warn("fw_cfg", "{}{}", fmt::format(f, std::forward<Args>(args)...),
            more ? fmt::format(" ({} similar messages suppressed)", more) : "");
}

void FwCfg::dma_locked(uint64_t address) {
  uint8_t raw[16];
  if (auto s = ram_.read(address, raw); !s) {
    // Nowhere to report the error: the control word itself is outside RAM.
    guest_error("DMA request at {:#x} is not in guest RAM; ignored", address);
    return;
  }
  uint32_t control, length;
  uint64_t buffer;
  std::memcpy(&control, raw, 4);
  std::memcpy(&length, raw + 4, 4);
  std::memcpy(&buffer, raw + 8, 8);
  control = be32toh(control);
  length = be32toh(length);
  buffer = be64toh(buffer);

  if (control & kDmaSelect) select_locked(static_cast<uint16_t>(control >> 16));
  bool error = false;
  const auto* item = current_locked();
  const uint64_t have = item != nullptr && offset_ < item->size() ? item->size() - offset_ : 0;
  if (control & kDmaRead) {
    // The item's bytes, then zeros for what the item does not have (fw_cfg.rst; QEMU does the same).
    uint64_t n = std::min<uint64_t>(length, have);
    if (n > 0 && !ram_.write(buffer, std::span<const uint8_t>(item->data() + offset_, n))) error = true;
    if (!error && length > n) {
      auto rest = ram_.slice(buffer + n, length - n);
      if (rest) std::fill(rest->begin(), rest->end(), 0);
      else error = true;
    }
    if (!error) offset_ += n;
    else guest_error("DMA read of {} bytes of item {:#x} to {:#x}: not in guest RAM", length, selected_, buffer);
  } else if (control & kDmaWrite) {
    // No item is writable (the etc/smi/* negotiation of SMM firmware is not offered).
    error = true;
    guest_error("DMA write to item {:#x} refused: it is read-only", selected_);
  } else if (control & kDmaSkip) {
    offset_ += std::min<uint64_t>(length, have);
  }
  // The device's answer: control := 0, or only the error bit (the driver spins until it changes).
  uint32_t done = htobe32(error ? kDmaError : 0);
  if (!ram_.write(address, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&done), 4)))
    guest_error("DMA request at {:#x}: its control word is not writable", address);
}

}  // namespace altovirt::devices
