// ThreadBackend (aio=threads): worker threads run each op with run_sync() and post completions.
#include <sys/eventfd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/base/sandbox.h"
#include "altovirt/virtio_blk/backend.h"

namespace altovirt::virtio_blk {
namespace {

// Threading: submit/reap/drain on the device's I/O thread; workers take ops from `queue_` and put
// results in `done_`, both under `mutex_`.
class ThreadBackend : public Backend {
 public:
  ThreadBackend(const Image& image, UniqueFd efd) : image_(image), efd_(std::move(efd)) {}
  ~ThreadBackend() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void start(unsigned n) {
    for (unsigned i = 0; i < n; ++i)
      workers_.emplace_back([this] {
        sandbox::start_thread(sandbox::Role::io, "blk-worker");
        work();
      });
  }
  Status submit(IoOp op) override {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(op));
      ++in_flight_;
    }
    work_cv_.notify_one();
    return ok();
  }
  int completion_fd() const override { return efd_.get(); }
  void reap(const std::function<void(const IoCompletion&)>& done) override {
    drain_counter(efd_.get());
    std::deque<IoCompletion> ready;
    {
      std::lock_guard lock(mutex_);
      ready.swap(done_);
      in_flight_ -= ready.size();
    }
    for (auto& c : ready) done(c);
  }
  size_t in_flight() const override {
    std::lock_guard lock(mutex_);
    return in_flight_;
  }
  void drain(const std::function<void(const IoCompletion&)>& done) override {
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        done_cv_.wait(lock, [&] { return !done_.empty() || in_flight_ == 0; });
        if (in_flight_ == 0) return;
      }
      reap(done);
    }
  }

 private:
  void work() {
    for (;;) {
      IoOp op;
      {
        std::unique_lock lock(mutex_);
        work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_ && queue_.empty()) return;
        op = std::move(queue_.front());
        queue_.pop_front();
      }
      int64_t r = run_sync(image_, op);
      {
        std::lock_guard lock(mutex_);
        done_.push_back({op.tag, r});
      }
      done_cv_.notify_all();
      uint64_t one = 1;
      (void)!::write(efd_.get(), &one, sizeof one);
    }
  }

  const Image& image_;
  UniqueFd efd_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<IoOp> queue_;
  std::deque<IoCompletion> done_;
  size_t in_flight_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_thread_backend(const Image& image, unsigned workers) {
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!efd) return fail_errno(errno, "{}: eventfd", image.path());
  auto b = std::make_unique<ThreadBackend>(image, std::move(efd));
  b->start(workers);
  return b;
}

Result<std::unique_ptr<Backend>> make_backend(const Image& image, bool io_uring, unsigned depth) {
  if (io_uring) {
    auto b = make_uring_backend(image, depth);
    if (b) return b;
    log::warn("virtio-blk", "{}: io_uring unavailable ({}); using worker threads (aio=threads)", image.path(),
              b.error().message());
  }
  return make_thread_backend(image, 4);
}

}  // namespace altovirt::virtio_blk
