// Serial16550: a 16550A UART (National Semiconductor PC16550D data sheet) at 8 I/O ports, e.g.
// COM1 at 0x3f8 on ISA IRQ 4. Transmitted bytes go to the CharBackend at once (the transmitter is
// always empty), received bytes wait in a 16-byte FIFO, interrupts follow the data sheet's
// priorities (receiver data, then transmitter empty) and the IRQ line is held high while one is
// pending. Loopback mode (MCR bit 4) reflects the modem control outputs in MSR, which Linux's 8250
// driver checks when it probes the port.
//
// Threading: io_read/io_write from vCPU threads and receive() from the input thread; one mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "altovirt/devices/char_backend.h"
#include "altovirt/devices/io_handler.h"

namespace altovirt::arch::x86 {

class Serial16550 : public devices::IoHandler, public devices::ConsoleInput {
 public:
  static constexpr unsigned kFifoSize = 16;
  Serial16550(devices::IrqLine& irq, devices::CharBackend& backend) : irq_(irq), backend_(backend) {}

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  // Input from the backend; returns how many bytes were taken (the rest must be offered again).
  size_t receive(std::span<const uint8_t> data) override;
  // True while the receive FIFO has room (the input thread waits otherwise).
  bool can_receive() const;

 private:
  uint8_t read_reg(unsigned reg);
  void write_reg(unsigned reg, uint8_t value);
  void update_irq_locked();
  uint8_t iir_locked() const;

  devices::IrqLine& irq_;
  devices::CharBackend& backend_;
  mutable std::mutex mutex_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
  uint8_t dll_ = 0x0c, dlm_ = 0;  // 9600 baud at reset
  bool thre_pending_ = false;     // the "transmitter holding register empty" interrupt
  bool irq_level_ = false;
};

}  // namespace altovirt::arch::x86
