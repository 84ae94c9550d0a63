// AcpiPm: the ACPI PM1 fixed hardware the FADT points at (ACPI 6.4 4.8.3):
//   +0  PM1_STS  (16 bit, write-1-to-clear): TMR_STS (0), PWRBTN_STS (8), WAK_STS (15)
//   +2  PM1_EN   (16 bit): TMR_EN (0), PWRBTN_EN (8)
//   +4  PM1_CNT  (16 bit): SCI_EN (0, always 1: no SMI_CMD, the machine starts in ACPI mode),
//                SLP_TYP (12:10), SLP_EN (13, write-only: the guest enters the sleep state)
//   +8  PM_TMR   (32 bit, read-only): 3.579545 MHz free-running counter (TMR_VAL_EXT)
// The SCI is asserted while any enabled status bit is set. Writing SLP_EN with the \_S5 sleep type
// asks the machine to power off.
//
// Threading: io_* from vCPU threads and press_power_button() from any thread; one mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "altovirt/devices/io_handler.h"

namespace altovirt::arch::x86 {

class AcpiPm : public devices::IoHandler, public devices::PowerButton {
 public:
  static constexpr unsigned kSize = 12;
  AcpiPm(devices::IrqLine& sci, devices::MachineControl& machine, uint8_t s5_sleep_type)
      : sci_(sci), machine_(machine), s5_(s5_sleep_type), start_(std::chrono::steady_clock::now()) {}

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  // The power button (QMP system_powerdown): the guest's ACPI driver sees PWRBTN_STS.
  void press_power_button() override;

 private:
  uint32_t read_reg(uint64_t offset, unsigned size);
  void update_sci_locked();
  devices::IrqLine& sci_;
  devices::MachineControl& machine_;
  uint8_t s5_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  uint16_t sts_ = 0, en_ = 0, cnt_ = 1;
  bool sci_level_ = false;
};

}  // namespace altovirt::arch::x86
