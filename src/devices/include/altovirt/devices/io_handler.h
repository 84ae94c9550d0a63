// The interfaces between emulated devices and the machine: IoHandler (a device's port I/O or MMIO
// registers, reached through the VMM's dispatch bus), IrqLine (a wire into the interrupt
// controller), MachineControl (power off / reset requests from the guest), and what each
// architecture's platform devices offer the machine: ConsoleInput (the console UART's receive
// side: 16550 on x86, PL011 on arm64) and PowerButton (ACPI's on x86, a GPIO key on arm64).
//
// Threading: io_read/io_write may be called from any vCPU thread at once; each device serialises
// itself. IrqLine and MachineControl implementations must be callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace altovirt::devices {

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // `offset` is from the start of the region the handler was registered for.
  virtual void io_read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void io_write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void set_level(bool asserted) = 0;
};

enum class ShutdownReason { poweroff, reset };

class MachineControl {
 public:
  virtual ~MachineControl() = default;
  virtual void request_shutdown(ShutdownReason reason) = 0;
};

class ConsoleInput {
 public:
  virtual ~ConsoleInput() = default;
  // Input from the console backend; returns how many bytes were taken (the rest must be offered
  // again). Called from the console input thread.
  virtual size_t receive(std::span<const uint8_t> data) = 0;
};

class PowerButton {
 public:
  virtual ~PowerButton() = default;
  // A press the guest's OS sees as its power button (QMP system_powerdown); any thread.
  virtual void press_power_button() = 0;
};

}  // namespace altovirt::devices
