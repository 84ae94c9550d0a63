#include "altovirt/arch/x86/serial.h"

#include <linux/serial_reg.h>

namespace altovirt::arch::x86 {

void Serial16550::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
  if (data.size() != 1 || offset > 7) return;
  data[0] = read_reg(static_cast<unsigned>(offset));
}

void Serial16550::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1 || offset > 7) return;
  write_reg(static_cast<unsigned>(offset), data[0]);
}

uint8_t Serial16550::iir_locked() const {
  uint8_t fifo = (fcr_ & UART_FCR_ENABLE_FIFO) ? 0xc0 : 0;
  if ((ier_ & UART_IER_RDI) && !rx_.empty()) return fifo | UART_IIR_RDI;
  if ((ier_ & UART_IER_THRI) && thre_pending_) return fifo | UART_IIR_THRI;
  return fifo | UART_IIR_NO_INT;
}

void Serial16550::update_irq_locked() {
  // OUT2 gates the interrupt onto the ISA bus on PC serial ports; Linux sets it before expecting
  // interrupts. In loopback mode no interrupt leaves the chip.
  bool level = !(iir_locked() & UART_IIR_NO_INT) && (mcr_ & UART_MCR_OUT2) && !(mcr_ & UART_MCR_LOOP);
  if (level != irq_level_) {
    irq_level_ = level;
    irq_.set_level(level);
  }
}

uint8_t Serial16550::read_reg(unsigned reg) {
  std::lock_guard lock(mutex_);
  bool dlab = lcr_ & UART_LCR_DLAB;
  uint8_t v = 0;
  switch (reg) {
    case UART_RX:
      if (dlab) return dll_;
      if (!rx_.empty()) {
        v = rx_.front();
        rx_.pop_front();
      }
      break;
    case UART_IER:
      return dlab ? dlm_ : ier_;
    case UART_IIR:
      v = iir_locked();
      if ((v & 0x0f) == UART_IIR_THRI) thre_pending_ = false;  // reading IIR clears THRE (data sheet table 4)
      break;
    case UART_LCR: return lcr_;
    case UART_MCR: return mcr_;
    case UART_LSR:
      v = UART_LSR_TEMT | UART_LSR_THRE | (rx_.empty() ? 0 : UART_LSR_DR);
      break;
    case UART_MSR:
      if (mcr_ & UART_MCR_LOOP) {
        // Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
        v = static_cast<uint8_t>(((mcr_ & UART_MCR_RTS) ? UART_MSR_CTS : 0) | ((mcr_ & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
                                 ((mcr_ & UART_MCR_OUT1) ? UART_MSR_RI : 0) | ((mcr_ & UART_MCR_OUT2) ? UART_MSR_DCD : 0));
      } else {
        v = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;  // a connected, ready line
      }
      break;
    case UART_SCR: return scr_;
    default: break;
  }
  update_irq_locked();
  return v;
}

void Serial16550::write_reg(unsigned reg, uint8_t v) {
  std::lock_guard lock(mutex_);
  bool dlab = lcr_ & UART_LCR_DLAB;
  switch (reg) {
    case UART_TX:
      if (dlab) {
        dll_ = v;
        return;
      }
      if (mcr_ & UART_MCR_LOOP) {
        if (rx_.size() < kFifoSize) rx_.push_back(v);
      } else {
        backend_.write(std::span(&v, 1));
      }
      thre_pending_ = true;  // sent at once, so the holding register is empty again
      break;
    case UART_IER:
      if (dlab) {
        dlm_ = v;
        return;
      }
      // Enabling THRI while the transmitter is empty raises the interrupt (data sheet 8.4).
      if ((v & UART_IER_THRI) && !(ier_ & UART_IER_THRI)) thre_pending_ = true;
      ier_ = v & 0x0f;
      break;
    case UART_FCR:
      fcr_ = v & (UART_FCR_ENABLE_FIFO | 0xc0);
      if (v & UART_FCR_CLEAR_RCVR) rx_.clear();
      break;
    case UART_LCR: lcr_ = v; return;
    case UART_MCR: mcr_ = v & 0x1f; break;
    case UART_SCR: scr_ = v; return;
    default: return;  // LSR, MSR: read-only
  }
  update_irq_locked();
}

size_t Serial16550::receive(std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  while (n < data.size() && rx_.size() < kFifoSize) rx_.push_back(data[n++]);
  update_irq_locked();
  return n;
}

bool Serial16550::can_receive() const {
  std::lock_guard lock(mutex_);
  return rx_.size() < kFifoSize;
}

}  // namespace altovirt::arch::x86
