#include "altovirt/arch/arm64/pl061.h"
#include "altovirt/arch/arm64/register_lanes.h"

#include <chrono>

#include "altovirt/base/sandbox.h"

namespace altovirt::arch::arm64 {

namespace {
enum Reg : uint64_t { kDir = 0x400, kIs = 0x404, kIbe = 0x408, kIev = 0x40c, kIe = 0x410, kRis = 0x414, kMis = 0x418, kIc = 0x41c, kAfsel = 0x420 };
// PeripheralID0-3, PrimeCellID0-3 (3.3.11, 3.3.12): the PL061.
constexpr uint8_t kIds[8] = {0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
}  // namespace

Pl061::Pl061(devices::IrqLine& irq, unsigned power_line) : irq_(irq), power_line_(power_line) {
  // The key's release timer, started with the machine (a confined process may not start threads
  // later, e.g. from the QMP thread that presses the key). It only drives the line: the console
  // input role's rights (futex, KVM_IRQ_LINE).
  release_ = std::thread([this] {
    sandbox::start_thread(sandbox::Role::input, "gpio-key");
    std::unique_lock l(mutex_);
    while (!closing_) {
      if (!release_at_) {
        cv_.wait(l);
        continue;
      }
      if (cv_.wait_until(l, *release_at_) == std::cv_status::timeout || std::chrono::steady_clock::now() >= *release_at_) {
        release_at_.reset();
        set_input_locked(power_line_, false);
      }
    }
  });
}

Pl061::~Pl061() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  cv_.notify_all();
  release_.join();
}

void Pl061::io_read(uint64_t offset, std::span<uint8_t> data) {
  uint32_t v = 0;
  {
    std::lock_guard lock(mutex_);
    uint64_t reg = offset & ~3ull;
    // GPIODATA: address bits [9:2] select which lines a read sees (3.3.1).
    if (reg < 0x400) v = ((in_ & ~dir_) | (out_ & dir_)) & static_cast<uint8_t>(reg >> 2);
    else if (reg == kDir) v = dir_;
    else if (reg == kIs) v = is_;
    else if (reg == kIbe) v = ibe_;
    else if (reg == kIev) v = iev_;
    else if (reg == kIe) v = ie_;
    else if (reg == kRis) v = ris_;
    else if (reg == kMis) v = ris_ & ie_;
    else if (reg == kAfsel) v = afsel_;
    else if (reg >= 0xfe0 && reg <= 0xffc) v = kIds[(reg - 0xfe0) / 4];
  }
  load_lanes(v, offset, data);
}

void Pl061::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty() || offset % 4 != 0) return;  // byte lanes other than the first hold no bits
  auto v = data[0];
  std::lock_guard lock(mutex_);
  uint64_t reg = offset;
  if (reg < 0x400) {
    auto mask = static_cast<uint8_t>((reg >> 2) & dir_);  // only output lines, only the addressed ones
    out_ = static_cast<uint8_t>((out_ & ~mask) | (v & mask));
    return;
  }
  switch (reg) {
    case kDir: dir_ = v; break;
    case kIs: is_ = v; break;
    case kIbe: ibe_ = v; break;
    case kIev: iev_ = v; break;
    case kIe: ie_ = v; break;
    case kIc: ris_ &= static_cast<uint8_t>(~v); break;
    case kAfsel: afsel_ = v; break;
    default: return;
  }
  // A level-sensitive line whose level still holds stays pending.
  ris_ |= static_cast<uint8_t>(is_ & ~(in_ ^ iev_));
  update_irq_locked();
}

void Pl061::set_input(unsigned line, bool high) {
  std::lock_guard lock(mutex_);
  set_input_locked(line, high);
}

void Pl061::set_input_locked(unsigned line, bool high) {
  if (line > 7) return;
  auto bit = static_cast<uint8_t>(1u << line);
  bool was = (in_ & bit) != 0;
  in_ = high ? (in_ | bit) : static_cast<uint8_t>(in_ & ~bit);
  if (is_ & bit) {  // level: pending while the level is the one IEV selects
    if (high == ((iev_ & bit) != 0)) ris_ |= bit;
  } else if (was != high && ((ibe_ & bit) || high == ((iev_ & bit) != 0))) {
    ris_ |= bit;  // the edge IBE/IEV asks for
  }
  update_irq_locked();
}

void Pl061::press_power_button() {
  {
    std::lock_guard lock(mutex_);
    if (release_at_) return;  // pressed already: the release is under way
    set_input_locked(power_line_, true);
    release_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  }
  cv_.notify_all();
}

void Pl061::update_irq_locked() {
  bool level = (ris_ & ie_) != 0;
  if (level != level_) {
    level_ = level;
    irq_.set_level(level);
  }
}

}  // namespace altovirt::arch::arm64
