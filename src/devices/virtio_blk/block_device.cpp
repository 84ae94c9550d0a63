#include "altovirt/virtio_blk/block_device.h"

#include <linux/virtio_blk.h>
#include <sys/timerfd.h>

#include <cstddef>
#include <cstring>

namespace altovirt::virtio_blk {
namespace {

constexpr uint64_t bit(unsigned b) { return 1ull << b; }
constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per discard / write-zeroes request
constexpr uint32_t kHeaderSize = 16;               // struct virtio_blk_outhdr (5.2.6)

struct DiscardSegment {  // struct virtio_blk_discard_write_zeroes (5.2.6)
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};

}  // namespace

Result<std::shared_ptr<BlockDevice>> BlockDevice::create(std::unique_ptr<Image> image, const BlockOptions& options) {
  if (image->size() < kSector) return fail("{}: the image is smaller than one 512-byte sector", image->path());
  AV_TRY_ASSIGN(auto backend, make_backend(*image, options.io_uring, 2u * options.queue_size));
  std::shared_ptr<BlockDevice> d(new BlockDevice(std::move(image), std::move(backend), options));
  d->timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!d->timer_) return fail_errno(errno, "{}: timerfd", d->image_->path());
  return d;
}

BlockDevice::BlockDevice(std::unique_ptr<Image> image, std::unique_ptr<Backend> backend, const BlockOptions& options)
    : image_(std::move(image)), backend_(std::move(backend)), options_(options), throttle_(options.limits) {}

BlockDevice::~BlockDevice() {
  // The transport resets an active model before it goes; anything left is dropped here.
  backend_->drain([](const IoCompletion&) {});
}

uint64_t BlockDevice::device_features() const {
  uint64_t f = bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH) |
               virtio::kFIndirectDesc | virtio::kFEventIdx;
  if (image_->readonly()) f |= bit(VIRTIO_BLK_F_RO);
  else {
    f |= bit(VIRTIO_BLK_F_WRITE_ZEROES);
    if (options_.discard) f |= bit(VIRTIO_BLK_F_DISCARD);
  }
  return f;
}

uint32_t BlockDevice::config_size() const { return offsetof(virtio_blk_config, write_zeroes_may_unmap) + 4; }

void BlockDevice::read_config(uint32_t offset, std::span<uint8_t> data) {
  virtio_blk_config c{};
  c.capacity = capacity();
  c.seg_max = options_.queue_size - 2;  // header and status take two descriptors
  c.blk_size = std::max<uint32_t>(kSector, image_->alignment());
  c.max_discard_sectors = kMaxDiscardSectors;
  c.max_discard_seg = 1;
  c.discard_sector_alignment = c.blk_size / kSector;
  c.max_write_zeroes_sectors = kMaxDiscardSectors;
  c.max_write_zeroes_seg = 1;
  uint8_t bytes[sizeof c];
  std::memcpy(bytes, &c, sizeof c);
  std::fill(data.begin(), data.end(), 0);
  if (offset < sizeof c) std::memcpy(data.data(), bytes + offset, std::min<size_t>(data.size(), sizeof c - offset));
}

Status BlockDevice::activate(const virtio::Activation& a) {
  queue_ = a.queues.empty() ? nullptr : a.queues[0];
  loop_ = &a.loop;
  flush_negotiated_ = a.features & bit(VIRTIO_BLK_F_FLUSH);
  AV_TRY(loop_->add_fd(backend_->completion_fd(), [this] {
    backend_->reap([this](const IoCompletion& c) { on_completion(c); });
    if (queue_) queue_->notify();
    // Completions free throttle budget only over time, but a full backend or ring may now take more.
    process();
  }));
  AV_TRY(loop_->add_fd(timer_.get(), [this] {
    drain_counter(timer_.get());
    timer_armed_ = false;
    process();
  }));
  return ok();
}

void BlockDevice::reset() {
  // Every request in flight finishes (its buffers are guest memory the driver may reuse after the
  // reset) and is dropped without touching the rings.
  backend_->drain([](const IoCompletion&) {});
  requests_.clear();
  if (loop_) {
    loop_->remove_fd(backend_->completion_fd());
    loop_->remove_fd(timer_.get());
  }
  itimerspec off{};
  ::timerfd_settime(timer_.get(), 0, &off, nullptr);
  timer_armed_ = false;
  queue_ = nullptr;
  loop_ = nullptr;
}

void BlockDevice::queue_notified(unsigned) { process(); }

void BlockDevice::arm_timer(std::chrono::steady_clock::duration after) {
  if (timer_armed_) return;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(after).count();
  itimerspec t{};
  t.it_value.tv_sec = ns / 1000000000;
  t.it_value.tv_nsec = std::max<long>(ns % 1000000000, 1000);
  ::timerfd_settime(timer_.get(), 0, &t, nullptr);
  timer_armed_ = true;
}

void BlockDevice::process() {
  if (!queue_) return;
  while (auto chain = queue_->pop()) {
    if (throttle_.limited()) {
      // The cost is known only from the request itself: peek at its header and size.
      uint8_t hdr[kHeaderSize] = {};
      chain->read(0, hdr);
      uint32_t type;
      std::memcpy(&type, hdr, 4);
      bool write = type == VIRTIO_BLK_T_OUT;
      uint64_t bytes = type == VIRTIO_BLK_T_OUT ? chain->readable_bytes() - std::min<size_t>(chain->readable_bytes(), kHeaderSize)
                       : type == VIRTIO_BLK_T_IN ? chain->writable_bytes() - std::min<size_t>(chain->writable_bytes(), 1)
                                                 : 0;
      if (!throttle_.admit(write, bytes)) {
        queue_->unpop();
        arm_timer(throttle_.wait(write, bytes));
        break;
      }
    }
    handle(*chain);
  }
  queue_->notify();
}

template <typename... Args>
void BlockDevice::guest_error(fmt::format_string<Args...> f, Args&&... args) {
  if (!limiter_.allow()) return;
  uint64_t more = limiter_.take_suppressed();
  log::warn("virtio-blk", "{}: {}{}", image_->path(), fmt::format(f, std::forward<Args>(args)...),
            more ? fmt::format(" ({} similar messages suppressed)", more) : "");
}

void BlockDevice::complete(uint16_t head, uint8_t* status, uint8_t value, uint32_t written) {
  *status = value;
  queue_->push(head, written + 1);
}

void BlockDevice::handle(const virtio::Chain& chain) {
  // The status byte is the last byte of the chain and device-writable (5.2.6).
  if (chain.writable.empty()) {
    guest_error("request {} has no device-writable status byte; dropped", chain.head);
    queue_->push(chain.head, 0);
    return;
  }
  uint8_t* status = &chain.writable.back().back();
  const size_t in_len = chain.writable_bytes() - 1;  // device-writable data before the status
  uint8_t hdr[kHeaderSize];
  if (chain.read(0, hdr) != kHeaderSize) {
    guest_error("request {} has a {}-byte header (16 needed)", chain.head, chain.readable_bytes());
    return complete(chain.head, status, VIRTIO_BLK_S_IOERR, 0);
  }
  uint32_t type;
  uint64_t sector;
  std::memcpy(&type, hdr, 4);
  std::memcpy(&sector, hdr + 8, 8);
  const size_t out_len = chain.readable_bytes() - kHeaderSize;  // driver-readable data after the header
  const uint64_t cap = capacity();
  auto in_range = [&](uint64_t first, uint64_t count) { return first <= cap && count <= cap - first; };

  IoOp op;
  op.tag = next_tag_++;
  Request req{chain.head, status, 0, IoKind::read, false};
  switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
      bool write = type == VIRTIO_BLK_T_OUT;
      size_t len = write ? out_len : in_len;
      if (write && image_->readonly()) return complete(chain.head, status, VIRTIO_BLK_S_IOERR, 0);
      if (len % kSector != 0 || !in_range(sector, len / kSector)) {
        guest_error("{} of {} bytes at sector {} is not whole sectors inside the {} sectors", write ? "write" : "read",
                    len, sector, cap);
        return complete(chain.head, status, VIRTIO_BLK_S_IOERR, 0);
      }
      if (len == 0) return complete(chain.head, status, VIRTIO_BLK_S_OK, 0);
      op.kind = write ? IoKind::write : IoKind::read;
      op.offset = sector * kSector;
      op.length = len;
      op.iov = write ? chain.readable_range(kHeaderSize, len) : chain.writable_range(0, len);
      req.kind = op.kind;
      req.written = write ? 0 : static_cast<uint32_t>(len);
      req.sync_after = write && !flush_negotiated_;
      break;
    }
    case VIRTIO_BLK_T_FLUSH:
      op.kind = req.kind = IoKind::flush;
      break;
    case VIRTIO_BLK_T_GET_ID: {
      // 5.2.6: a 20-byte identifier, zero-padded (not terminated when all 20 are used).
      uint8_t id[VIRTIO_BLK_ID_BYTES] = {};
      std::memcpy(id, options_.serial.data(), std::min<size_t>(options_.serial.size(), sizeof id));
      size_t n = std::min<size_t>(in_len, sizeof id);
      chain.write(0, std::span<const uint8_t>(id, n));
      return complete(chain.head, status, VIRTIO_BLK_S_OK, static_cast<uint32_t>(n));
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
      bool discard = type == VIRTIO_BLK_T_DISCARD;
      if (image_->readonly()) return complete(chain.head, status, VIRTIO_BLK_S_IOERR, 0);
      // DISCARD was not offered (discard=ignore): the request type is one the device does not support.
      if (discard && !options_.discard) return complete(chain.head, status, VIRTIO_BLK_S_UNSUPP, 0);
      if (out_len != sizeof(DiscardSegment)) {  // max_discard_seg / max_write_zeroes_seg are 1
        guest_error("{} with {} bytes of segments (one 16-byte segment allowed)", discard ? "discard" : "write-zeroes", out_len);
        return complete(chain.head, status, VIRTIO_BLK_S_IOERR, 0);
      }
      DiscardSegment seg;
      uint8_t raw[sizeof seg];
      chain.read(kHeaderSize, raw);
      std::memcpy(&seg, raw, sizeof seg);
      // 5.2.6.2: discard with the unmap flag, or any reserved flag, is unsupported.
      uint32_t allowed = discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
      if (seg.flags & ~allowed) return complete(chain.head, status, VIRTIO_BLK_S_UNSUPP, 0);
      if (seg.num_sectors > kMaxDiscardSectors || !in_range(seg.sector, seg.num_sectors)) {
        guest_error("{} of {} sectors at {} outside the {} sectors", discard ? "discard" : "write-zeroes",
                    seg.num_sectors, seg.sector, cap);
        return complete(chain.head, status, VIRTIO_BLK_S_IOERR, 0);
      }
      op.kind = req.kind = discard ? IoKind::discard : IoKind::write_zeroes;
      op.offset = seg.sector * kSector;
      op.length = uint64_t{seg.num_sectors} * kSector;
      break;
    }
    default:
      return complete(chain.head, status, VIRTIO_BLK_S_UNSUPP, 0);
  }
  uint64_t tag = op.tag;
  requests_[tag] = req;
  if (auto s = backend_->submit(std::move(op)); !s) {
    requests_.erase(tag);
    guest_error("submitting request {}: {}", chain.head, s.error().message());
    complete(chain.head, status, VIRTIO_BLK_S_IOERR, 0);
  }
}

void BlockDevice::on_completion(const IoCompletion& c) {
  auto it = requests_.find(c.tag);
  if (it == requests_.end()) return;
  Request& r = it->second;
  if (c.result >= 0 && r.sync_after) {
    // Write-through (FLUSH not negotiated): the write counts as done once it is on stable storage.
    r.sync_after = false;
    IoOp flush;
    flush.kind = IoKind::flush;
    flush.tag = c.tag;
    if (backend_->submit(std::move(flush))) return;
  }
  if (c.result < 0) guest_error("I/O error on request {}: {}", r.head, strerror(static_cast<int>(-c.result)));
  bool ok = c.result >= 0;
  complete(r.head, r.status, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, ok ? r.written : 0);
  requests_.erase(it);
}

}  // namespace altovirt::virtio_blk
