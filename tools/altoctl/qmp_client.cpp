#include "qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace altoctl {

using namespace altovirt;
using json = nlohmann::json;

Result<QmpClient> QmpClient::connect(const std::string& path, std::chrono::milliseconds timeout, pid_t peer) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return fail("QMP socket path '{}' is too long", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // Non-blocking, so that the timeout covers the connect too: a blocking connect() to a unix socket
  // whose listen backlog is full (a VMM that no longer accepts, e.g. while it exits) waits forever.
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail_errno(errno, "socket for QMP");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EINTR) continue;
    if (errno != EAGAIN || std::chrono::steady_clock::now() >= deadline)
      return fail_errno(errno, "connecting to the VM's QMP socket {}", path);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // backlog full: the VMM accepts one by one
  }
  if (peer > 0) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return fail_errno(errno, "{}: SO_PEERCRED", path);
    if (cred.pid != peer)
      return fail("{} is not the domain's altovirt's (pid {} listens on it, not {}); refusing to use it", path, cred.pid,
                  peer);
  }
  QmpClient c(std::move(fd), path, timeout);
  AV_TRY_ASSIGN(json greeting, c.read_message());
  if (!greeting.contains("QMP")) return fail("{}: no QMP greeting (got {})", path, greeting.dump());
  AV_TRY(c.execute("qmp_capabilities"));
  return c;
}

Result<json> QmpClient::read_message() {
  AV_TRY_ASSIGN(auto m, read_message_until(std::chrono::steady_clock::now() + timeout_));
  if (!m) return fail("{}: no QMP reply within {} ms", path_, timeout_.count());
  return *m;
}

Result<std::optional<json>> QmpClient::read_message_until(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      try {
        return std::optional<json>(json::parse(line));
      } catch (const json::exception& e) {
        return fail("{}: a QMP message that is not JSON: {}", path_, e.what());
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::optional<json>();
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail_errno(errno, "{}: poll", path_);
    if (r == 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, "{}: reading QMP", path_);
    if (n == 0) return fail("{}: the VM closed its QMP connection", path_);
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

Result<json> QmpClient::execute(const std::string& command, json arguments) {
  answered_ = false;
  json req = {{"execute", command}};
  if (!arguments.is_null()) req["arguments"] = std::move(arguments);
  std::string text = req.dump() + "\n";
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (size_t sent = 0; sent < text.size();) {
    ssize_t n = ::send(fd_.get(), text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (n < 0 && errno == EAGAIN && left.count() > 0) {
      pollfd p{fd_.get(), POLLOUT, 0};
      (void)::poll(&p, 1, static_cast<int>(left.count()));
      continue;
    }
    return fail_errno(errno, "{}: sending {}", path_, command);
  }
  for (;;) {
    AV_TRY_ASSIGN(json m, read_message());
    if (m.contains("event")) {
      if (events_.size() < kMaxKeptEvents) events_.push_back(std::move(m));
      continue;
    }
    if (m.contains("error")) {
      answered_ = true;
      const json& e = m["error"];
      return fail("{}: {}", command, e.is_object() && e.contains("desc") && e["desc"].is_string()
                                         ? e["desc"].get<std::string>() : std::string("error"));
    }
    if (m.contains("return")) {
      answered_ = true;
      return m["return"];
    }
  }
}

Result<std::optional<json>> QmpClient::wait_event(const std::string& name, const std::function<bool(const json&)>& match,
                                                 std::chrono::milliseconds timeout) {
  // A VMM's message is checked before use: a field of an unexpected type matches nothing.
  auto wanted = [&](const json& m) {
    auto e = m.find("event");
    if (e == m.end() || !e->is_string() || *e != name) return false;
    auto d = m.find("data");
    return match(d != m.end() && d->is_object() ? *d : json::object());
  };
  for (auto it = events_.begin(); it != events_.end(); ++it)
    if (wanted(*it)) {
      json m = std::move(*it);
      events_.erase(it);
      return std::optional<json>(std::move(m));
    }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    AV_TRY_ASSIGN(auto m, read_message_until(deadline));
    if (!m) return std::optional<json>();
    if (m->contains("event") && wanted(*m)) return m;
  }
}

}  // namespace altoctl
