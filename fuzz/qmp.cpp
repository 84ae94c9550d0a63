// Fuzz target: the QMP command path (src/qmp) as a client reaches it: bytes on the unix socket are
// cut into JSON texts (JsonSplitter, with its size and depth limits), parsed, checked as QMP
// requests (members, capabilities negotiation, command lookup, argument names and types) and
// dispatched to handlers that echo their arguments back (as query handlers build replies), with the
// id echoed. The server runs as in the VMM, on its own thread; each input is one client session:
// connect, send the input (negotiated first when the first byte says so), half-close, read every
// reply until the server closes. A crash, a sanitizer report or a server that stops answering
// (the read times out) fails the target.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "altovirt/base/log.h"
#include "altovirt/qmp/server.h"
#include "fuzz_input.h"

using namespace altovirt;
using qmp::ArgSpec;
using qmp::Json;

namespace {

qmp::Server& server() {
  static qmp::Server* s = [] {
    log::set_level(log::Level::error);
    qmp::ServerOptions o;
    o.socket_path = "/tmp/altovirt-fuzz-qmp-" + std::to_string(::getpid()) + ".sock";
    o.package = "altovirt fuzz";
    o.max_input_bytes = 64 * 1024;  // small, so the limit is reached often
    auto made = qmp::Server::listen(o);
    if (!made) std::abort();
    qmp::Server* srv = made->release();
    auto echo = [](const Json& args) -> Result<Json> { return args; };
    (void)srv->register_command({"echo", {{"s", ArgSpec::Type::string, false}, {"i", ArgSpec::Type::integer, false},
                                          {"n", ArgSpec::Type::number, false}, {"b", ArgSpec::Type::boolean, false},
                                          {"o", ArgSpec::Type::object, false}, {"a", ArgSpec::Type::array, false},
                                          {"x", ArgSpec::Type::any, false}}, echo});
    (void)srv->register_command({"need", {{"id", ArgSpec::Type::string, true}}, echo});
    (void)srv->register_command({"fail", {}, [](const Json&) -> Result<Json> { return fail("refused \xff"); }});
    (void)srv->register_command({"event", {}, [srv](const Json& a) -> Result<Json> {
                                   srv->emit_event("FUZZ", a);
                                   return Json(nullptr);
                                 }});
    if (!srv->start()) std::abort();
    std::atexit([] { ::unlink(("/tmp/altovirt-fuzz-qmp-" + std::to_string(::getpid()) + ".sock").c_str()); });
    return srv;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qmp::Server& srv = server();
  fuzz::FuzzInput in(data, size);
  const bool negotiate = in.take_bool();
  auto body = in.rest();

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", srv.socket_path().c_str());
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
  std::string out;
  if (negotiate) out = "{\"execute\": \"qmp_capabilities\"}";
  out.append(body.begin(), body.end());
  // Send and read at once, so that a server that answers while we send never deadlocks us.
  size_t sent = 0;
  bool half_closed = false;
  char buf[65536];
  for (;;) {
    if (sent == out.size() && !half_closed) {
      ::shutdown(fd, SHUT_WR);
      half_closed = true;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (half_closed ? 0 : POLLOUT)), 0};
    int r = ::poll(&p, 1, 10000);
    if (r == 0) {
      std::fprintf(stderr, "qmp fuzz: the server did not answer or close within 10 s\n");
      std::abort();
    }
    if (p.revents & POLLOUT) {
      ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent += static_cast<size_t>(n);
      else if (n < 0 && errno != EAGAIN) sent = out.size();  // the server hung up on us (input refused)
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN)) break;  // closed by the server: session over
    }
  }
  ::close(fd);
  return 0;
}
