// Pl061: the ARM PrimeCell GPIO controller (PL061, ARM DDI 0190B), here to carry the power key:
// the device tree's gpio-keys node names line kPowerKeyLine as KEY_POWER, and press_power_button()
// (QMP system_powerdown, altoctl shutdown) drives that input high for 100 ms, as QEMU's virt board
// does, so the guest's gpio-keys driver reports a press and a release and systemd/acpid powers off.
// Interrupts (3.3.7-3.3.15): per line, edge or level (IS), both edges (IBE) or one (IEV), enabled
// by IE; RIS latches edges, IC clears them, the line to the GIC is MIS = RIS & IE != 0.
//
// Threading: io_* from vCPU threads, press_power_button() from any thread; one mutex. The release
// happens on a thread of the device's own, started with it and joined when it is destroyed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <chrono>
#include <thread>

#include "altovirt/devices/io_handler.h"

namespace altovirt::arch::arm64 {

class Pl061 : public devices::IoHandler, public devices::PowerButton {
 public:
  Pl061(devices::IrqLine& irq, unsigned power_line);
  ~Pl061() override;

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  void press_power_button() override;
  // Drives input `line` (0..7) to `high`, latching an interrupt as the guest configured it.
  void set_input(unsigned line, bool high);

 private:
  void set_input_locked(unsigned line, bool high);
  void update_irq_locked();
  devices::IrqLine& irq_;
  const unsigned power_line_;
  std::mutex mutex_;
  uint8_t in_ = 0, out_ = 0, dir_ = 0, is_ = 0, ibe_ = 0, iev_ = 0, ie_ = 0, ris_ = 0, afsel_ = 0;
  bool level_ = false;
  std::condition_variable cv_;
  bool closing_ = false;
  std::optional<std::chrono::steady_clock::time_point> release_at_;  // while the key is down
  std::thread release_;  // last: it uses the members above
};

}  // namespace altovirt::arch::arm64
