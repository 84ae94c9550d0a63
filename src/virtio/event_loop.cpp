#include "altovirt/virtio/event_loop.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <future>

#include "altovirt/base/log.h"
#include "altovirt/base/sandbox.h"

namespace altovirt::virtio {

Result<std::unique_ptr<EventLoop>> EventLoop::create(std::string name) {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return fail_errno(errno, "iothread {}: epoll_create1", name);
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return fail_errno(errno, "iothread {}: eventfd", name);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake.get();
  if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake.get(), &ev) != 0) return fail_errno(errno, "iothread {}: epoll_ctl", name);
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(name), std::move(ep), std::move(wake)));
  // Thread names are at most 15 characters; "io:" + the id helps in top -H. The thread names and
  // confines itself before it serves anything.
  loop->thread_ = std::thread([l = loop.get()] {
    sandbox::start_thread(sandbox::Role::io, "io:" + l->name_);
    l->loop();
  });
  return loop;
}

EventLoop::~EventLoop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

Status EventLoop::add_fd(int fd, Callback cb) {
  {
    std::lock_guard lock(mutex_);
    callbacks_[fd] = std::make_shared<Callback>(std::move(cb));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    std::lock_guard lock(mutex_);
    callbacks_.erase(fd);
    return fail_errno(err, "iothread {}: watching fd {}", name_, fd);
  }
  return ok();
}

void EventLoop::remove_fd(int fd) {
  // On the loop thread the callback is not running (or is the caller); elsewhere run_sync waits
  // for any running callback to return first.
  run_sync([&] {
    (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    std::lock_guard lock(mutex_);
    callbacks_.erase(fd);
  });
}

void EventLoop::run_sync(const std::function<void()>& fn) {
  if (in_loop_thread()) {
    fn();
    return;
  }
  std::promise<void> done;
  {
    std::lock_guard lock(mutex_);
    if (stop_ || !thread_.joinable()) {
      fn();  // no loop thread (any more): nothing can run concurrently
      return;
    }
    posted_.push_back([&] {
      fn();
      done.set_value();
    });
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  done.get_future().wait();
}

void EventLoop::loop() {
  epoll_event events[32];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::error("virtio", "iothread {}: epoll_wait: {}", name_, strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_.get()) {
        drain_counter(wake_.get());
        std::vector<std::function<void()>> posted;
        bool stop;
        {
          std::lock_guard lock(mutex_);
          posted.swap(posted_);
          stop = stop_;
        }
        for (auto& f : posted) f();
        if (stop) return;
        continue;
      }
      std::shared_ptr<Callback> cb;
      {
        std::lock_guard lock(mutex_);
        auto it = callbacks_.find(fd);
        if (it != callbacks_.end()) cb = it->second;
      }
      if (cb) (*cb)();
    }
  }
}

}  // namespace altovirt::virtio
