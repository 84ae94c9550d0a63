// Test helpers: a temporary directory and a minimal QMP client over a real unix socket.
#pragma once

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "altovirt/base/fd.h"

namespace altovirt::qmp::test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/altovirt-qmp-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline UniqueFd connect_unix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return UniqueFd();
  return fd;
}

class Client {
 public:
  explicit Client(const std::string& path) : fd_(connect_unix(path)) {}
  bool connected() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

  // Sends raw bytes; false when the server has closed the connection. MSG_NOSIGNAL: the test
  // process must not die of SIGPIPE either.
  bool send_raw(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool send(const nlohmann::json& j) { return send_raw(j.dump() + "\n"); }

  // The next message, or nullopt on EOF or when nothing arrives within `timeout`.
  std::optional<nlohmann::json> read(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    eof_ = false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto pos = buf_.find("\r\n"); pos != std::string::npos) {
        std::string line = buf_.substr(0, pos);
        buf_.erase(0, pos + 2);
        return nlohmann::json::parse(line);
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char tmp[65536];
      ssize_t n = ::recv(fd_.get(), tmp, sizeof(tmp), 0);
      if (n <= 0) {
        eof_ = true;
        return std::nullopt;
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  // True when the server closes the connection (after any messages still in flight are skipped).
  bool wait_eof(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())))
        continue;
      return eof_;
    }
    return false;
  }
  bool saw_eof() const { return eof_; }

  // Reads the greeting and negotiates capabilities.
  bool handshake() {
    auto greeting = read();
    if (!greeting || !greeting->contains("QMP")) return false;
    send({{"execute", "qmp_capabilities"}});
    auto reply = read();
    return reply && *reply == nlohmann::json{{"return", nlohmann::json::object()}};
  }
  // Sends a command and returns the reply.
  std::optional<nlohmann::json> execute(const nlohmann::json& cmd) {
    if (!send(cmd)) return std::nullopt;
    return read();
  }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  std::string buf_;
  bool eof_ = false;
};

}  // namespace altovirt::qmp::test
