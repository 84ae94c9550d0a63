// A minimal blocking QMP client for altoctl: connects to a VM's socket, reads the greeting,
// negotiates capabilities and runs commands, keeping events for wait_event(). Every wait has a deadline, so a
// stuck VM cannot hang altoctl.
//
// Threading: one object per thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altoctl {

class QmpClient {
 public:
  // `peer`: the pid the socket must belong to (its listener, SO_PEERCRED), 0 for any. The socket is
  // in a directory altovirt may write (vm_store.h); a compromised altovirt could put a link to
  // another VM's socket there and have root's altoctl drive that VM instead.
  static altovirt::Result<QmpClient> connect(const std::string& socket_path,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                             pid_t peer = 0);
  // Runs `command` and returns its "return" value; an "error" reply becomes an Error with its desc.
  altovirt::Result<nlohmann::json> execute(const std::string& command, nlohmann::json arguments = nullptr);
  // Whether the last execute() got a reply ("return" or "error"). After a timeout or a lost
  // connection the command's outcome is unknown, and the connection is out of step: use a new one.
  bool answered() const { return answered_; }
  // Waits up to `timeout` for event `name` whose data satisfies `match`; events that arrived while
  // commands ran count too. nullopt when none came in time.
  altovirt::Result<std::optional<nlohmann::json>> wait_event(const std::string& name,
                                                             const std::function<bool(const nlohmann::json&)>& match,
                                                             std::chrono::milliseconds timeout);

 private:
  QmpClient(altovirt::UniqueFd fd, std::string path, std::chrono::milliseconds timeout)
      : fd_(std::move(fd)), path_(std::move(path)), timeout_(timeout) {}
  static constexpr size_t kMaxKeptEvents = 256;
  altovirt::Result<nlohmann::json> read_message();
  // The next message, or nullopt at `deadline`.
  altovirt::Result<std::optional<nlohmann::json>> read_message_until(std::chrono::steady_clock::time_point deadline);
  altovirt::UniqueFd fd_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  std::deque<nlohmann::json> events_;  // seen while a command ran, for wait_event()
  bool answered_ = false;
};

}  // namespace altoctl
