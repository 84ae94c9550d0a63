// UringBackend (aio=io_uring): reads, writes and flushes as io_uring SQEs; discard and write-zeroes
// run synchronously (they are rare and the ioctls have no io_uring form on older kernels) and are
// completed through the same eventfd.
#include <liburing.h>
#include <sys/eventfd.h>

#include <deque>
#include <map>
#include <optional>

#include "altovirt/base/fd.h"
#include "altovirt/virtio_blk/backend.h"
#include "bounce.h"
#include "transfer.h"

namespace altovirt::virtio_blk {
namespace {

// Threading: everything on the device's I/O thread (the ring is single-issuer).
class UringBackend : public Backend {
 public:
  UringBackend(const Image& image, UniqueFd efd) : image_(image), efd_(std::move(efd)) {}
  ~UringBackend() override {
    drain([](const IoCompletion&) {});
    if (ring_ok_) io_uring_queue_exit(&ring_);
  }
  Status init(unsigned depth) {
    int r = io_uring_queue_init(depth, &ring_, 0);
    if (r < 0) return fail_errno(-r, "io_uring_queue_init");
    ring_ok_ = true;
    r = io_uring_register_eventfd(&ring_, efd_.get());
    if (r < 0) return fail_errno(-r, "io_uring_register_eventfd");
    return ok();
  }

  Status submit(IoOp op) override {
    auto p = std::make_unique<Transfer>();
    p->op = std::move(op);
    ++in_flight_;
    if (p->op.kind == IoKind::discard || p->op.kind == IoKind::write_zeroes) {
      ready_.push_back({p->op.tag, run_sync(image_, p->op)});
      uint64_t one = 1;
      (void)!::write(efd_.get(), &one, sizeof one);
      return ok();
    }
    if ((p->op.kind == IoKind::read || p->op.kind == IoKind::write)) {
      if (needs_bounce(image_, p->op)) {
        p->bounce = std::make_unique<AlignedBuffer>(p->op.length, image_.alignment());
        if (!p->bounce->data()) {
          ready_.push_back({p->op.tag, -ENOMEM});
          uint64_t one = 1;
          (void)!::write(efd_.get(), &one, sizeof one);
          return ok();
        }
        if (p->op.kind == IoKind::write) copy_in(p->bounce->data(), p->op.iov);
        p->iov = {{p->bounce->data(), p->op.length}};
      } else {
        p->iov = to_iovec(p->op.iov);
      }
    }
    Transfer* raw = p.get();
    pending_[raw] = std::move(p);
    queue_sqe(raw);
    flush_sqes();
    return ok();
  }

  int completion_fd() const override { return efd_.get(); }

  void reap(const std::function<void(const IoCompletion&)>& done) override {
    drain_counter(efd_.get());
    std::deque<IoCompletion> ready;
    ready.swap(ready_);
    io_uring_cqe* cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      auto* p = static_cast<Transfer*>(io_uring_cqe_get_data(cqe));
      int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (auto c = complete(p, res)) ready.push_back(*c);
    }
    flush_sqes();
    in_flight_ -= ready.size();
    for (auto& c : ready) done(c);
  }

  size_t in_flight() const override { return in_flight_; }

  void drain(const std::function<void(const IoCompletion&)>& done) override {
    while (in_flight_ > 0) {
      if (ready_.empty() && !pending_.empty()) {
        io_uring_cqe* cqe;
        if (io_uring_wait_cqe(&ring_, &cqe) < 0) continue;
      }
      reap(done);
    }
  }

 private:
  void queue_sqe(Transfer* p) { backlog_.push_back(p); }

  // Moves backlogged ops into the submission queue (when it has room) and submits them.
  void flush_sqes() {
    while (!backlog_.empty()) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) break;  // full: the rest goes when completions free slots
      Transfer* p = backlog_.front();
      backlog_.pop_front();
      const int fd = image_.fd();
      const uint64_t off = p->op.offset + p->done;
      auto n = static_cast<unsigned>(std::min<size_t>(p->iov.size() - p->first, IOV_MAX));
      switch (p->op.kind) {
        case IoKind::read: io_uring_prep_readv(sqe, fd, p->iov.data() + p->first, n, off); break;
        case IoKind::write: io_uring_prep_writev(sqe, fd, p->iov.data() + p->first, n, off); break;
        default: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
      }
      io_uring_sqe_set_data(sqe, p);
    }
    io_uring_submit(&ring_);
  }

  // A CQE for `p`: the final completion, or nothing when it was queued again (retry, or the rest).
  std::optional<IoCompletion> complete(Transfer* p, int res) {
    auto it = pending_.find(p);
    if (it == pending_.end()) return std::nullopt;
    std::optional<int64_t> result = on_result(*p, res);
    if (!result) {
      queue_sqe(p);
      return std::nullopt;
    }
    IoCompletion c{p->op.tag, *result};
    pending_.erase(it);
    return c;
  }

  const Image& image_;
  UniqueFd efd_;
  io_uring ring_{};
  bool ring_ok_ = false;
  std::map<Transfer*, std::unique_ptr<Transfer>> pending_;
  std::deque<Transfer*> backlog_;
  std::deque<IoCompletion> ready_;
  size_t in_flight_ = 0;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_uring_backend(const Image& image, unsigned depth) {
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!efd) return fail_errno(errno, "{}: eventfd", image.path());
  auto b = std::make_unique<UringBackend>(image, std::move(efd));
  AV_TRY(b->init(depth));
  return b;
}

}  // namespace altovirt::virtio_blk
