#include "altovirt/devices/virtio_console.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "altovirt/base/log.h"

namespace altovirt::devices {

VirtioConsole::~VirtioConsole() { watch_input(false); }

void VirtioConsole::read_config(uint32_t offset, std::span<uint8_t> data) {
  // cols = rows = 0 (no F_SIZE), max_nr_ports = 1 (meaningful with F_MULTIPORT only), emerg_wr
  // reads as 0 (the driver only writes it).
  uint8_t config[kConfigSize] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  // The transport checked offset + size against config_size(); clamp anyway (guest-supplied).
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < kConfigSize ? config[offset + i] : 0;
}

void VirtioConsole::write_config(uint32_t offset, std::span<const uint8_t> data) {
  // 5.3.6.1: writing emerg_wr outputs its low byte on port 0 (the only writable field).
  if (offset != kEmergWrOffset || data.empty()) return;
  output(data.first(1));
}

void VirtioConsole::output(std::span<const uint8_t> bytes) {
  if (!backend_ || bytes.empty()) return;
  std::lock_guard lock(out_mutex_);
  backend_->write(bytes);  // never blocks: a full pty drops
}

Status VirtioConsole::activate(const virtio::Activation& a) {
  loop_ = &a.loop;
  rx_ = a.queues.size() > kReceiveQueue ? a.queues[kReceiveQueue] : nullptr;
  tx_ = a.queues.size() > kTransmitQueue ? a.queues[kTransmitQueue] : nullptr;
  input_eof_ = false;
  if (rx_) watch_input(true);
  transmit();  // anything queued before DRIVER_OK
  return ok();
}

void VirtioConsole::reset() {
  watch_input(false);
  rx_ = tx_ = nullptr;
  pending_.clear();
  loop_ = nullptr;
}

void VirtioConsole::queue_notified(unsigned queue) {
  if (queue == kTransmitQueue) transmit();
  else if (queue == kReceiveQueue) deliver();
}

void VirtioConsole::transmit() {
  if (!tx_) return;
  bool any = false;
  while (auto chain = tx_->pop()) {
    // 5.3.6.2: transmit buffers are driver-readable; device-writable parts are ignored and nothing
    // is written back (used length 0).
    for (auto span : chain->readable) output(span);
    tx_->push(chain->head, 0);
    any = true;
  }
  if (any) tx_->notify();
}

void VirtioConsole::watch_input(bool on) {
  if (!backend_ || backend_->in_fd() < 0 || !loop_ || on == watching_) return;
  if (on) {
    if (input_eof_) return;
    if (auto s = loop_->add_fd(backend_->in_fd(), [this] { on_input(); }); !s) {
      log::warn("virtio-console", "cannot watch the console input: {}", s.error().message());
      return;
    }
  } else {
    loop_->remove_fd(backend_->in_fd());
  }
  watching_ = on;
}

void VirtioConsole::on_input() {
  size_t room = kInputBuffer - pending_.size();
  if (room > 0) {
    uint8_t buf[kInputBuffer];
    ssize_t n = ::read(backend_->in_fd(), buf, room);
    if (n > 0) {
      pending_.insert(pending_.end(), buf, buf + n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR && errno != EIO)) {
      // End of input (stdin closed) or a broken backend: stop reading; output continues. EIO is a
      // pty whose slave side is closed for a moment, which is not an end.
      input_eof_ = true;
      watch_input(false);
    }
  }
  deliver();
}

void VirtioConsole::deliver() {
  if (!rx_) return;
  bool any = false;
  while (!pending_.empty()) {
    auto chain = rx_->pop();
    if (!chain) break;
    size_t n = chain->write(0, pending_);
    rx_->push(chain->head, static_cast<uint32_t>(n));
    any = true;
    if (n == 0) continue;  // a receive buffer with no writable bytes: used with length 0
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(n));
  }
  if (any) rx_->notify();
  // The level-triggered input fd is watched only while there is room to read into; otherwise the
  // loop would spin on it. A full buffer waits for the guest's next receive buffers (rx kick).
  watch_input(pending_.size() < kInputBuffer);
}

}  // namespace altovirt::devices
