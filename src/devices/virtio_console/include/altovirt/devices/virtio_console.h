// VirtioConsole: the virtio console device (virtio 1.2 section 5.3) with one port, port 0, which
// is a console: the guest's hvc0. No VIRTIO_CONSOLE_F_MULTIPORT, so the device has exactly the two
// queues of port 0 (5.3.2: receiveq 0, transmitq 1) and no control queue, as Cloud Hypervisor's.
// VIRTIO_CONSOLE_F_EMERG_WRITE is offered: a write to emerg_wr prints one byte even before the
// driver has set up its queues (5.3.4, 5.3.6.1).
//
// Its backend is a CharBackend (pty, stdio, file): what the guest transmits is written to it, and
// never blocks the device (a pty nobody reads drops the bytes, as the UART does); what the backend
// reads is put into the guest's receive buffers. When the guest has no receive buffer, at most
// kInputBuffer bytes wait, and the backend is not read until the guest adds buffers (so the host
// side cannot make altovirt buffer without bound or spin).
//
// Threading: activate, queue_notified, reset and the backend's input callback run on the device's
// EventLoop thread (the transport's contract), so the queue state has no lock. read_config and
// write_config come from vCPU threads; the emergency write and the transmit path share the
// backend under out_mutex_.
#pragma once

#include <mutex>
#include <vector>

#include "altovirt/devices/char_backend.h"
#include "altovirt/virtio/device.h"

namespace altovirt::devices {

class VirtioConsole : public virtio::VirtioDevice {
 public:
  static constexpr uint64_t kFSize = 1ull << 0;        // VIRTIO_CONSOLE_F_SIZE (not offered)
  static constexpr uint64_t kFMultiport = 1ull << 1;   // VIRTIO_CONSOLE_F_MULTIPORT (not offered)
  static constexpr uint64_t kFEmergWrite = 1ull << 2;  // VIRTIO_CONSOLE_F_EMERG_WRITE
  static constexpr unsigned kReceiveQueue = 0, kTransmitQueue = 1;
  // struct virtio_console_config (5.3.4): le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr.
  static constexpr uint32_t kConfigSize = 12, kEmergWrOffset = 8;
  static constexpr size_t kInputBuffer = 4096;

  // `backend` may be null (the port has nothing attached: output is dropped, no input).
  explicit VirtioConsole(std::shared_ptr<CharBackend> backend) : backend_(std::move(backend)) {}
  ~VirtioConsole() override;

  uint16_t device_type() const override { return virtio::kDeviceConsole; }
  uint32_t pci_class() const override { return 0x078000; }  // simple communication controller, other
  unsigned num_queues() const override { return 2; }
  uint64_t device_features() const override { return kFEmergWrite | virtio::kFIndirectDesc | virtio::kFEventIdx; }

  uint32_t config_size() const override { return kConfigSize; }
  void read_config(uint32_t offset, std::span<uint8_t> data) override;
  void write_config(uint32_t offset, std::span<const uint8_t> data) override;

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned queue) override;
  void reset() override;

 private:
  void transmit();
  void on_input();
  // Moves pending input into receive buffers; resumes reading the backend when all of it went.
  void deliver();
  void watch_input(bool on);
  void output(std::span<const uint8_t> bytes);

  std::shared_ptr<CharBackend> backend_;
  std::mutex out_mutex_;
  virtio::EventLoop* loop_ = nullptr;
  virtio::Virtqueue* rx_ = nullptr;
  virtio::Virtqueue* tx_ = nullptr;
  std::vector<uint8_t> pending_;  // input read from the backend, not yet in a guest buffer
  bool watching_ = false;
  bool input_eof_ = false;
};

}  // namespace altovirt::devices
