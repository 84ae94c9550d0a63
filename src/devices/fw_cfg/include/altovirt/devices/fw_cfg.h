// FwCfg: QEMU's firmware configuration device (QEMU docs/specs/fw_cfg.rst), the channel through which
// stock OVMF (and SeaBIOS, and Linux's qemu_fw_cfg driver) learn the machine: the CPU count, the
// memory map (etc/e820), the ACPI tables (etc/table-loader), the boot order, and a kernel to boot.
//
// Registers, x86 port I/O at 0x510 (an IoHandler over kPortSize bytes):
//   +0  selector, a 16-bit little-endian write: picks an item and rewinds to its first byte
//   +1  data: each byte read is the item's next byte; past its end, or of an unknown item, 0x00
//       (OVMF reads NB_CPUS 0 as "absent"; 0xff would make it wait for 65535 CPUs)
//   +4  DMA address, big-endian: a 32-bit write at +4 sets the high half, one at +8 the low half and
//       starts the transfer; a 64-bit write at +4 does both. Reading +4..+11 gives "QEMU CFG".
// Registers, memory-mapped (arm64's virt board; fw_cfg.rst "Register Locations", 0x18 bytes):
//   +0   data: 1, 2, 4 or 8 bytes read give the item's next bytes in order (string-preserving)
//   +8   selector, a 16-bit big-endian write
//   +16  DMA address, big-endian: a 64-bit write, or 32-bit writes at +16 (high) and +20 (low, starts)
// A DMA transfer reads struct FWCfgDmaAccess {be32 control; be32 length; be64 address} from guest
// memory; control's bit 3 (select) selects the item in bits 31:16 first, then bit 1 (read) copies
// `length` bytes of the item to `address` (zero-filled past the item's end), bit 2 (skip) moves on
// `length` bytes, bit 4 (write) is refused (no item here is writable); the device then stores
// control = 0, or the error bit (0) on failure. Transfers are synchronous (done when the triggering
// write returns, as in QEMU). A request or buffer outside guest RAM is an error, logged rate-limited.
//
// Items: numeric keys below kFirstFile (little-endian numbers, as QEMU stores them) and named files
// from kFirstFile up, listed in the big-endian file directory (key 0x19), in the order added.
//
// Threading: io_read/io_write from any vCPU thread (one mutex serialises them); items are added or
// replaced while the machine is built or from a select hook, never concurrently with reads of them.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/log.h"
#include "altovirt/devices/io_handler.h"
#include "altovirt/virtio/guest_ram.h"

namespace altovirt::devices {

class FwCfg : public IoHandler {
 public:
  enum class Interface { port, mmio };
  static constexpr uint16_t kPortBase = 0x510;
  static constexpr uint64_t kPortSize = 12;  // selector, data, (pad), DMA address 0x514..0x51b
  static constexpr uint64_t kMmioSize = 0x18;  // data, selector, DMA address
  // Keys (fw_cfg.rst and QEMU include/standard-headers/linux/qemu_fw_cfg.h).
  static constexpr uint16_t kSignature = 0x00, kId = 0x01, kRamSize = 0x03, kNbCpus = 0x05, kMaxCpus = 0x0f,
                            kBootMenu = 0x0e, kKernelSize = 0x08, kInitrdSize = 0x0b, kKernelData = 0x11,
                            kInitrdData = 0x12, kCmdlineSize = 0x14, kCmdlineData = 0x15, kSetupSize = 0x17,
                            kSetupData = 0x18, kFileDir = 0x19, kFirstFile = 0x20;
  static constexpr size_t kMaxFiles = 0x1000;      // keys 0x20..0x101f (QEMU's default is 0x20 files; OVMF needs ~10)
  static constexpr size_t kMaxNameLength = 55;     // a 56-byte name field with its NUL
  // DMA control bits (fw_cfg.rst "DMA interface").
  static constexpr uint32_t kDmaError = 1u << 0, kDmaRead = 1u << 1, kDmaSkip = 1u << 2, kDmaSelect = 1u << 3,
                            kDmaWrite = 1u << 4;
  static constexpr uint64_t kDmaSignature = 0x51454d5520434647ull;  // "QEMU CFG", read big-endian at +4

  explicit FwCfg(const virtio::GuestRam& ram, Interface interface = Interface::port);

  // Sets a numeric item (key < kFirstFile): the bytes as the firmware reads them.
  Status set_item(uint16_t key, std::vector<uint8_t> data);
  // Adds a named file (e.g. "etc/e820") and returns its key; an error for an empty, too long or
  // duplicate name, or when kMaxFiles are taken.
  Result<uint16_t> add_file(std::string_view name, std::vector<uint8_t> data);
  // Replaces a file's contents (e.g. tables rebuilt after the firmware placed the BARs).
  Status replace_file(std::string_view name, std::vector<uint8_t> data);
  // The power-on state of the registers: item 0 selected, no DMA address half written. Items stay.
  void reset();

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

  // Helpers for items' encodings.
  static std::vector<uint8_t> le16(uint16_t v);
  static std::vector<uint8_t> le32(uint32_t v);
  static std::vector<uint8_t> le64(uint64_t v);
  // etc/e820: packed {le64 address, le64 length, le32 type} entries (QEMU's struct e820_entry).
  struct E820Entry {
    uint64_t address, length;
    uint32_t type;  // 1 RAM, 2 reserved
  };
  static std::vector<uint8_t> e820_file(std::span<const E820Entry> entries);

 private:
  struct File {
    std::string name;
    uint16_t key;
  };
  void select_locked(uint16_t key);
  void read_data_locked(std::span<uint8_t> data);
  // A write to the DMA address register, `at` bytes into it (0: the high half, 4: the low half).
  void dma_register_write_locked(uint64_t at, std::span<const uint8_t> data);
  const std::vector<uint8_t>* current_locked() const;
  void rebuild_directory_locked();
  void dma_locked(uint64_t address);
  template <typename... Args>
  void guest_error(fmt::format_string<Args...> f, Args&&... args);

  const virtio::GuestRam& ram_;
  const Interface interface_;
  std::mutex mutex_;
  std::map<uint16_t, std::vector<uint8_t>> items_;
  std::vector<File> files_;
  uint16_t selected_ = kSignature;
  uint64_t offset_ = 0;     // into the selected item
  uint32_t dma_high_ = 0;   // the DMA address's high half, until the low half is written
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::devices
