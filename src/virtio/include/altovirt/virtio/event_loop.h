// EventLoop: one I/O thread (epoll) that runs a set of virtio devices: their queue notifications
// (ioeventfds), their backends' completions (io_uring / worker eventfds) and timers (timerfds).
// Each device gets its own loop by default; `-object iothread,id=ID` names a loop several devices
// share. Nothing here ever runs on a vCPU thread, so a slow disk never stalls a vCPU.
//
// Threading: add_fd/remove_fd/run_sync may be called from any thread. Callbacks run on the loop
// thread only, one at a time. remove_fd returns once the callback is not running and will not run
// again. run_sync(fn) runs fn on the loop thread and waits for it (runs it inline when called from
// the loop thread), which is how the transport serialises activate/reset with queue processing.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altovirt::virtio {

class EventLoop {
 public:
  using Callback = std::function<void()>;
  // Starts the thread.
  static Result<std::unique_ptr<EventLoop>> create(std::string name);
  ~EventLoop();  // stops and joins the thread
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  const std::string& name() const { return name_; }
  // `cb` runs whenever `fd` is readable (level-triggered: the callback must drain it).
  Status add_fd(int fd, Callback cb);
  void remove_fd(int fd);
  void run_sync(const std::function<void()>& fn);
  bool in_loop_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  EventLoop(std::string name, UniqueFd epoll, UniqueFd wake) : name_(std::move(name)), epoll_(std::move(epoll)), wake_(std::move(wake)) {}
  void loop();
  std::string name_;
  UniqueFd epoll_, wake_;
  std::thread thread_;
  std::mutex mutex_;
  std::map<int, std::shared_ptr<Callback>> callbacks_;
  std::vector<std::function<void()>> posted_;
  bool stop_ = false;
};

}  // namespace altovirt::virtio
