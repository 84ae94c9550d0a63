// The few PC legacy devices a Linux guest touches on a machine without firmware:
//  - ResetControl: the PCI reset control register at port 0xCF9 (Intel ICH9 datasheet 13.7.5;
//    bit 2 "reset CPU" with bit 1 "system reset" is a hard reset); the FADT RESET_REG points here.
//  - I8042: the keyboard controller's ports with no keyboard and no mouse behind them. The status
//    register reads 0xC0: parity error and time-out with both buffers empty, the pattern by which
//    firmware tells that no controller decodes the ports (edk2's Ps2KeyboardDxe and Ps2MouseDxe
//    check exactly these two bits and give up at once; with a status of 0 they sent controller
//    and keyboard commands and polled for answers that never came: one-second timeouts counted in
//    loop iterations, each iteration a port exit, hundreds of thousands of exits and seconds of
//    OVMF's boot in the nested testbed). The input buffer reads empty, so a guest may still write
//    command 0xFE (pulse the reset line), which resets the machine: how `reboot=k` and many boot
//    loaders reset a PC. Linux does not probe the controller (the FADT says there is no 8042).
//  - CmosRtc: the MC146818 RTC/CMOS at 0x70/0x71 with the host's UTC time in BCD, 24-hour mode,
//    never "update in progress", so the guest's clock starts right.
//
// Threading: io_* from any vCPU thread; each device has its own mutex or no state.
#pragma once

#include <mutex>

#include "altovirt/devices/io_handler.h"

namespace altovirt::arch::x86 {

class ResetControl : public devices::IoHandler {
 public:
  explicit ResetControl(devices::MachineControl& machine) : machine_(machine) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  devices::MachineControl& machine_;
  std::mutex mutex_;
  uint8_t value_ = 0;
};

// Registered at 0x60 for 5 ports (0x60 data, 0x64 status/command).
class I8042 : public devices::IoHandler {
 public:
  static constexpr uint8_t kStatusNoController = 0xc0;  // KBC_PARE | KBC_TIM, output and input buffers empty
  static constexpr uint8_t kNoData = 0xff;              // the data port of a controller that is not there
  explicit I8042(devices::MachineControl& machine) : machine_(machine) {}
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  devices::MachineControl& machine_;
};

// Registered at 0x70 for 2 ports.
class CmosRtc : public devices::IoHandler {
 public:
  CmosRtc();
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  std::mutex mutex_;
  uint8_t index_ = 0;
  uint8_t nvram_[128] = {};
};

}  // namespace altovirt::arch::x86
