// A minimal blocking QMP client for altoctl: connects to a VM's socket, reads the greeting,
// negotiates capabilities and runs commands, skipping events. Every wait has a deadline, so a
// stuck VM cannot hang altoctl.
//
// Threading: one object per thread.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altoctl {

class QmpClient {
 public:
  static altovirt::Result<QmpClient> connect(const std::string& socket_path,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Runs `command` and returns its "return" value; an "error" reply becomes an Error with its desc.
  altovirt::Result<nlohmann::json> execute(const std::string& command, nlohmann::json arguments = nullptr);

 private:
  QmpClient(altovirt::UniqueFd fd, std::string path, std::chrono::milliseconds timeout)
      : fd_(std::move(fd)), path_(std::move(path)), timeout_(timeout) {}
  altovirt::Result<nlohmann::json> read_message();
  altovirt::UniqueFd fd_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
};

}  // namespace altoctl
