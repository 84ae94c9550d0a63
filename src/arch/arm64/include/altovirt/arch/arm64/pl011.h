// Pl011: the ARM PrimeCell UART (PL011 r1p5, ARM DDI 0183G) as the console: what the guest
// transmits goes to the backend at once (the transmit FIFO never fills, FR.TXFE stays set), input
// waits in a 32-byte receive FIFO. Interrupts (section 3.4): RX (data waiting) and TX (a character
// was taken: the FIFO is below its level again); RIS holds them raw, IMSC masks, ICR clears TX, the
// line is MIS != 0. Line control, baud rate and DMA registers keep what the guest writes.
//
// Threading: io_read/io_write from vCPU threads and receive() from the input thread; one mutex.
#pragma once

#include <deque>
#include <mutex>

#include "altovirt/devices/char_backend.h"
#include "altovirt/devices/io_handler.h"

namespace altovirt::arch::arm64 {

class Pl011 : public devices::IoHandler, public devices::ConsoleInput {
 public:
  static constexpr size_t kFifoSize = 32;
  Pl011(devices::IrqLine& irq, devices::CharBackend& backend) : irq_(irq), backend_(backend) {}

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;
  size_t receive(std::span<const uint8_t> data) override;

 private:
  uint32_t read_reg(uint64_t offset);
  void write_reg(uint64_t offset, uint32_t value);
  void update_irq_locked();
  devices::IrqLine& irq_;
  devices::CharBackend& backend_;
  std::mutex mutex_;
  std::deque<uint8_t> rx_;
  uint32_t ris_ = 0, imsc_ = 0;
  uint32_t ibrd_ = 0, fbrd_ = 0, lcr_h_ = 0, cr_ = 0x300, ifls_ = 0x12, dmacr_ = 0;
  bool level_ = false;
};

}  // namespace altovirt::arch::arm64
