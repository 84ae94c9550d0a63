#include "altovirt/vmm/dma_map_job.h"

#include <algorithm>

#include "altovirt/base/sandbox.h"

namespace altovirt::vmm {

void DmaMapJob::expect() {
  std::lock_guard lock(mutex_);
  if (state_ == State::idle) state_ = State::pending;
}

void DmaMapJob::start(std::function<Status()> work) {
  std::thread old;
  {
    std::lock_guard lock(mutex_);
    old = std::move(thread_);  // a finished earlier job's thread (joined below, outside the lock)
    state_ = State::running;
  }
  if (old.joinable()) old.join();
  thread_ = std::thread([this, work = std::move(work)] {
    sandbox::start_thread(sandbox::Role::main, "dma-map");
    Status outcome = work();
    std::lock_guard lock(mutex_);
    outcome_ = std::move(outcome);
    state_ = State::done;
    cv_.notify_all();
  });
}

Status DmaMapJob::wait() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return state_ == State::idle || state_ == State::done; });
  return state_ == State::done ? outcome_ : ok();
}

bool DmaMapJob::busy() const {
  std::lock_guard lock(mutex_);
  return state_ == State::pending || state_ == State::running;
}

void DmaMapJob::wait_running() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return state_ != State::running; });
}

void DmaMapJob::reset() {
  std::unique_lock lock(mutex_);
  if (state_ == State::pending) state_ = State::idle;  // nothing will start it now
  cv_.wait(lock, [this] { return state_ != State::running; });
  std::thread t = std::move(thread_);
  state_ = State::idle;
  outcome_ = ok();
  cv_.notify_all();
  lock.unlock();
  if (t.joinable()) t.join();
}

std::vector<kvm::RamRegion> dma_map_pieces(const std::vector<kvm::RamRegion>& regions, uint64_t page_size) {
  constexpr uint64_t kPiece = uint64_t{32} << 20;
  uint64_t total = 0;
  for (auto& r : regions) total += r.size;
  page_size = std::max<uint64_t>(page_size, 4096);
  uint64_t piece = std::max(kPiece, total / 1024);
  piece = (piece + page_size - 1) / page_size * page_size;
  std::vector<kvm::RamRegion> pieces;
  for (auto& r : regions)
    for (uint64_t off = 0; off < r.size; off += piece)
      pieces.push_back({r.gpa + off, std::min(piece, r.size - off), r.host + off});
  std::ranges::sort(pieces, [](const kvm::RamRegion& a, const kvm::RamRegion& b) { return a.gpa > b.gpa; });
  return pieces;
}

}  // namespace altovirt::vmm
