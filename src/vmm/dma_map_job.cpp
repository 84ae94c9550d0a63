#include "altovirt/vmm/dma_map_job.h"

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

}  // namespace altovirt::vmm
