// BlockDevice: the virtio-blk device model (virtio 1.2 section 5.2) on a raw Image.
//
// Offers VERSION_1 (by the transport), FLUSH, SEG_MAX, BLK_SIZE, RO (readonly drives), DISCARD
// (unless the drive says discard=ignore), WRITE_ZEROES, INDIRECT_DESC and EVENT_IDX; GET_ID answers the serial. One request queue.
// Each request is checked before any I/O (5.2.6): a 16-byte driver-readable header, a writable
// status byte at the very end, data lengths in whole sectors, sector + length inside the capacity
// (no overflow); an unknown type is answered VIRTIO_BLK_S_UNSUPP, a write to a read-only drive
// VIRTIO_BLK_S_IOERR. The used length is the number of bytes written into the device-writable
// buffers (data read + the status byte). I/O runs asynchronously on the Backend with as many
// requests in flight as the driver gives; a FLUSH completes only after fdatasync, and when the
// driver did not negotiate FLUSH every write is followed by one (write-through, 5.2.6.2).
// With limits, the Throttle decides when the next request may start; when it may not, the queue
// is left alone and a timerfd wakes the device when the budget allows.
//
// Threading: the VirtioDevice contract: activate/queue_notified/reset and the completion and timer
// callbacks run on the device's EventLoop thread; the configuration is constant.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/virtio/device.h"
#include "altovirt/virtio_blk/backend.h"
#include "altovirt/virtio_blk/image.h"
#include "altovirt/virtio_blk/throttle.h"

namespace altovirt::virtio_blk {

struct BlockOptions {
  std::string serial;      // GET_ID (at most 20 bytes are reported)
  Limits limits;
  bool io_uring = true;    // else worker threads
  bool discard = true;     // offer DISCARD (punching holes in the image); off: the guest never discards
  uint16_t queue_size = 256;
};

class BlockDevice : public virtio::VirtioDevice {
 public:
  static constexpr uint32_t kSector = 512;
  static Result<std::shared_ptr<BlockDevice>> create(std::unique_ptr<Image> image, const BlockOptions& options);
  ~BlockDevice() override;

  uint16_t device_type() const override { return virtio::kDeviceBlock; }
  uint32_t pci_class() const override { return 0x010000; }  // mass storage, SCSI (as QEMU's virtio-blk)
  unsigned num_queues() const override { return 1; }
  uint16_t max_queue_size() const override { return options_.queue_size; }
  uint64_t device_features() const override;
  uint32_t config_size() const override;
  void read_config(uint32_t offset, std::span<uint8_t> data) override;

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned queue) override;
  void reset() override;

  uint64_t capacity() const { return image_->size() / kSector; }
  size_t in_flight() const { return backend_->in_flight(); }

 private:
  struct Request {
    uint16_t head;
    uint8_t* status;
    uint32_t written;   // data bytes written into the guest (reads), without the status byte
    IoKind kind;
    bool sync_after;    // write-through: a flush follows before completing
  };
  BlockDevice(std::unique_ptr<Image> image, std::unique_ptr<Backend> backend, const BlockOptions& options);
  void process();
  // Handles one chain: completes it at once (bad request, GET_ID) or submits it.
  void handle(const virtio::Chain& chain);
  void complete(uint16_t head, uint8_t* status, uint8_t value, uint32_t written);
  void on_completion(const IoCompletion& c);
  void arm_timer(std::chrono::steady_clock::duration after);
  template <typename... Args>
  void guest_error(fmt::format_string<Args...> f, Args&&... args);

  std::unique_ptr<Image> image_;
  std::unique_ptr<Backend> backend_;
  BlockOptions options_;
  Throttle throttle_;
  UniqueFd timer_;
  // Loop-thread state (between activate and reset).
  virtio::Virtqueue* queue_ = nullptr;
  virtio::EventLoop* loop_ = nullptr;
  bool flush_negotiated_ = false;
  bool timer_armed_ = false;
  uint64_t next_tag_ = 1;
  std::map<uint64_t, Request> requests_;
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::virtio_blk
