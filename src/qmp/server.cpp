#include "altovirt/qmp/server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "altovirt/base/log.h"
#include "altovirt/base/sandbox.h"
#include "altovirt/qmp/json_splitter.h"

namespace altovirt::qmp {
namespace {

constexpr std::string_view kLog = "qmp";

Json error_reply(std::string_view error_class, std::string_view desc) {
  return Json{{"error", {{"class", error_class}, {"desc", desc}}}};
}

const char* type_name(ArgSpec::Type type) {
  switch (type) {
    case ArgSpec::Type::string: return "string";
    case ArgSpec::Type::integer: return "integer";
    case ArgSpec::Type::number: return "number";
    case ArgSpec::Type::boolean: return "boolean";
    case ArgSpec::Type::object: return "object";
    case ArgSpec::Type::array: return "array";
    case ArgSpec::Type::any: break;
  }
  return "any";
}

bool has_type(const Json& v, ArgSpec::Type type) {
  switch (type) {
    case ArgSpec::Type::string: return v.is_string();
    case ArgSpec::Type::integer: return v.is_number_integer();
    case ArgSpec::Type::number: return v.is_number();
    case ArgSpec::Type::boolean: return v.is_boolean();
    case ArgSpec::Type::object: return v.is_object();
    case ArgSpec::Type::array: return v.is_array();
    case ArgSpec::Type::any: break;
  }
  return true;
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) return fail("the QMP socket path is empty");
  if (path.size() >= sizeof(addr.sun_path))
    return fail("QMP socket path '{}' is longer than {} bytes, the limit of unix sockets; use a shorter path", path,
                sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

struct Server::Client {
  UniqueFd fd;
  JsonSplitter splitter;
  std::string out;           // replies and events not yet accepted by the socket
  bool negotiated = false;   // qmp_capabilities done
  bool read_closed = false;  // EOF seen, or input refused: close once `out` is sent
  bool dead = false;         // close now
  Client(UniqueFd f, size_t max_input) : fd(std::move(f)), splitter(max_input) {}
};

Result<std::unique_ptr<Server>> Server::listen(ServerOptions options) {
  const std::string& path = options.socket_path;
  AV_TRY_ASSIGN(sockaddr_un addr, unix_address(path));

  // A socket file left by a server that died is replaced; a live server is not disturbed, and a
  // file that is not a socket is never deleted.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("QMP socket path '{}' exists and is not a socket; remove it or choose another path", path);
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) return fail_errno(errno, "creating a socket to probe '{}'", path);
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0)
      return fail("another QMP server is listening on '{}'; is the VM already running?", path);
    if (errno != ECONNREFUSED) return fail_errno(errno, "probing the existing QMP socket '{}'", path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail_errno(errno, "removing the stale QMP socket '{}'", path);
    log::info(kLog, "removed stale socket {}", path);
  } else if (errno != ENOENT) {
    return fail_errno(errno, "checking QMP socket path '{}'", path);
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail_errno(errno, "creating the QMP socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail_errno(errno, "binding the QMP socket to '{}'", path);
  // QMP controls the VM (quit, reset): only the owner may connect.
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd.get(), 8) != 0 || ::stat(path.c_str(), &st) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return fail_errno(err, "setting up the QMP socket '{}'", path);
  }
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) {
    int err = errno;
    ::unlink(path.c_str());
    return fail_errno(err, "creating the QMP wake-up eventfd");
  }
  return std::unique_ptr<Server>(new Server(std::move(options), std::move(fd), std::move(wake), st.st_dev, st.st_ino));
}

Server::Server(ServerOptions options, UniqueFd listen_fd, UniqueFd wake_fd, dev_t dev, ino_t ino)
    : options_(std::move(options)), listen_fd_(std::move(listen_fd)), wake_fd_(std::move(wake_fd)),
      socket_dev_(dev), socket_ino_(ino) {
  auto names = [this](const Json&) -> Result<Json> {
    Json list = Json::array();
    for (const auto& [name, command] : commands_) list.push_back({{"name", name}});
    return list;
  };
  // qmp_capabilities is answered by dispatch() itself (it changes the client's state); it is
  // registered so that query-commands lists it and its arguments are checked.
  commands_["qmp_capabilities"] = {"qmp_capabilities", {{"enable", ArgSpec::Type::array, false}}, nullptr};
  commands_["query-commands"] = {"query-commands", {}, names};
  commands_["query-version"] = {"query-version", {}, [this](const Json&) -> Result<Json> { return version_json(); }};
}

Server::~Server() { stop(); }

Json Server::version_json() const {
  return {{"qemu", {{"major", options_.version_major}, {"minor", options_.version_minor}, {"micro", options_.version_micro}}},
          {"package", options_.package}};
}

Status Server::register_command(Command command) {
  if (started_) return fail("QMP command '{}' registered after the server started", command.name);
  if (!command.handler) return fail("QMP command '{}' has no handler", command.name);
  if (commands_.contains(command.name)) return fail("QMP command '{}' is registered twice", command.name);
  std::string name = command.name;
  commands_.emplace(std::move(name), std::move(command));
  return ok();
}

Status Server::start() {
  std::lock_guard lock(stop_mutex_);
  if (started_.exchange(true)) return fail("the QMP server on '{}' is already started", options_.socket_path);
  if (stopping_) return fail("the QMP server on '{}' was stopped", options_.socket_path);
  thread_ = std::thread([this] { run(); });
  return ok();
}

void Server::stop() {
  stopping_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_.get(), &one, sizeof(one));
  // From a handler: run() ends after it returns; joining here would wait for ourselves, and taking
  // stop_mutex_ could wait for another thread that is joining us.
  if (std::this_thread::get_id() == qmp_thread_id_.load()) return;
  std::lock_guard lock(stop_mutex_);
  if (thread_.joinable()) thread_.join();
  if (cleaned_up_) return;
  cleaned_up_ = true;
  listen_fd_.reset();
  // Remove the socket file only if it is still ours (a new server may have replaced it).
  struct stat st {};
  if (::lstat(options_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_)
    ::unlink(options_.socket_path.c_str());
}

void Server::emit_event(const std::string& name, Json data) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  Json event = {{"event", name}, {"timestamp", {{"seconds", now.tv_sec}, {"microseconds", now.tv_nsec / 1000}}}};
  if (!data.is_null()) event["data"] = std::move(data);
  {
    std::lock_guard lock(events_mutex_);
    events_.push_back(std::move(event));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_.get(), &one, sizeof(one));
}

void Server::run() {
  sandbox::start_thread(sandbox::Role::qmp, "qmp");
  qmp_thread_id_ = std::this_thread::get_id();
  std::vector<pollfd> fds;
  while (true) {
    fds.clear();
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({listen_fd_.get(), POLLIN, 0});
    for (const auto& c : clients_) {
      short events = 0;
      if (!c->read_closed) events |= POLLIN;
      if (!c->out.empty()) events |= POLLOUT;
      fds.push_back({c->fd.get(), events, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log::error(kLog, "poll failed: {}; QMP server stops", strerror(errno));
      break;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_fd_.get(), &count, sizeof(count));
    }
    deliver_events();
    if (stopping_) break;
    if (fds[1].revents & POLLIN) accept_clients();
    // Clients accepted just now are not in `fds`; they are polled from the next round.
    for (size_t i = 2; i < fds.size(); ++i) {
      Client& c = *clients_[i - 2];
      if (c.dead) continue;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) read_client(c);
      if (!c.dead && (fds[i].revents & POLLOUT)) flush(c);
    }
    std::erase_if(clients_, [](const auto& c) { return c->dead || (c->read_closed && c->out.empty()); });
    client_count_ = clients_.size();
  }
  // Last words: what was queued before stop() is sent if the sockets take it now.
  deliver_events();
  for (auto& c : clients_)
    if (!c->dead) flush(*c);
  clients_.clear();
  client_count_ = 0;
}

void Server::accept_clients() {
  while (true) {
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) log::warn(kLog, "accept on {} failed: {}", options_.socket_path, strerror(errno));
      return;
    }
    if (clients_.size() >= options_.max_clients) {
      std::string msg = error_reply("GenericError", fmt::format("too many QMP clients (at most {}); try again later",
                                                                options_.max_clients)).dump() + "\r\n";
      [[maybe_unused]] auto n = ::send(fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      continue;  // closed by UniqueFd
    }
    auto client = std::make_unique<Client>(std::move(fd), options_.max_input_bytes);
    send(*client, {{"QMP", {{"version", version_json()}, {"capabilities", Json::array()}}}});
    clients_.push_back(std::move(client));
    client_count_ = clients_.size();
  }
}

void Server::read_client(Client& c) {
  char buf[64 * 1024];
  ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    c.dead = true;  // ECONNRESET and the like: nobody to answer
    return;
  }
  if (n == 0) {
    c.read_closed = true;  // the client is done sending; answer what it sent, then close
    return;
  }
  c.splitter.feed(std::string_view(buf, static_cast<size_t>(n)));
  std::string text;
  while (!c.dead && !c.read_closed) {
    JsonSplitter::Status status = c.splitter.next(text);
    if (status == JsonSplitter::Status::need_more) break;
    if (status == JsonSplitter::Status::text) {
      handle_text(c, text);
      // Events a handler emitted (STOP from `stop`) go out before the replies to later commands.
      deliver_events();
      continue;
    }
    // The stream can no longer be cut into texts reliably: say why and hang up, as QEMU does when
    // its JSON lexer gives up.
    send(c, error_reply("GenericError", status == JsonSplitter::Status::too_large
                                            ? fmt::format("JSON parse error, input exceeds {} bytes without a complete "
                                                          "JSON value; closing the connection", options_.max_input_bytes)
                                            : std::string("JSON parse error, nesting deeper than 1024 levels; closing the connection")));
    log::warn(kLog, "client sent unparseable input ({}); disconnected",
              status == JsonSplitter::Status::too_large ? "too large" : "too deep");
    c.read_closed = true;
  }
}

void Server::handle_text(Client& c, const std::string& text) {
  Json request;
  try {
    request = Json::parse(text);
  } catch (const Json::exception& e) {
    // nlohmann's message starts with "[json.exception.parse_error.101] "; keep what follows.
    std::string_view what = e.what();
    if (auto pos = what.find("] "); what.starts_with("[json.exception") && pos != std::string_view::npos)
      what.remove_prefix(pos + 2);
    send(c, error_reply("GenericError", fmt::format("JSON parse error, {}", what)));
    return;
  }
  if (!request.is_object()) {
    send(c, error_reply("GenericError", "QMP input must be a JSON object"));
    return;
  }
  Json reply = dispatch(c, request);
  if (auto id = request.find("id"); id != request.end()) reply["id"] = *id;
  send(c, reply);
}

Json Server::dispatch(Client& c, const Json& request) {
  // The members QEMU's qmp_dispatch_check_obj() accepts, with its messages.
  for (const auto& [key, value] : request.items()) {
    if (key == "execute") {
      if (!value.is_string()) return error_reply("GenericError", "QMP input member 'execute' must be a string");
    } else if (key == "arguments") {
      if (!value.is_object()) return error_reply("GenericError", "QMP input member 'arguments' must be an object");
    } else if (key != "id") {
      return error_reply("GenericError", fmt::format("QMP input member '{}' is unexpected", key));
    }
  }
  auto execute = request.find("execute");
  if (execute == request.end()) return error_reply("GenericError", "QMP input lacks member 'execute'");
  const std::string& name = execute->get_ref<const std::string&>();

  if (!c.negotiated && name != "qmp_capabilities")
    return error_reply("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
  if (c.negotiated && name == "qmp_capabilities")
    return error_reply("CommandNotFound", "Capabilities negotiation is already complete, command ignored");
  auto it = commands_.find(name);
  if (it == commands_.end()) return error_reply("CommandNotFound", fmt::format("The command {} has not been found", name));
  const Command& command = it->second;

  static const Json kNoArguments = Json::object();
  auto args_it = request.find("arguments");
  const Json& args = args_it != request.end() ? *args_it : kNoArguments;
  for (const auto& [key, value] : args.items()) {
    auto spec = std::find_if(command.args.begin(), command.args.end(), [&](const ArgSpec& a) { return a.name == key; });
    if (spec == command.args.end()) return error_reply("GenericError", fmt::format("Parameter '{}' is unexpected", key));
    if (!has_type(value, spec->type))
      return error_reply("GenericError", fmt::format("Invalid parameter type for '{}', expected: {}", key, type_name(spec->type)));
  }
  for (const ArgSpec& spec : command.args)
    if (spec.required && !args.contains(spec.name))
      return error_reply("GenericError", fmt::format("Parameter '{}' is missing", spec.name));

  if (name == "qmp_capabilities") {
    // No optional capability (such as "oob") is offered; the greeting's list is empty.
    for (const Json& cap : args.value("enable", Json::array())) {
      if (!cap.is_string()) return error_reply("GenericError", "Invalid parameter type for 'enable', expected: string");
      if (cap == "oob") return error_reply("GenericError", "Capability oob not available");
      return error_reply("GenericError", fmt::format("Parameter 'enable' does not accept value '{}'", cap.get<std::string>()));
    }
    c.negotiated = true;
    return {{"return", Json::object()}};
  }

  Result<Json> result = fail("command {} failed", name);
  try {
    result = command.handler(args);
  } catch (const std::exception& e) {
    // Handlers should not throw; one that does must still not take the server down.
    log::error(kLog, "handler of {} threw: {}", name, e.what());
    return error_reply("GenericError", fmt::format("{}: internal error: {}", name, e.what()));
  } catch (...) {
    log::error(kLog, "handler of {} threw", name);
    return error_reply("GenericError", fmt::format("{}: internal error", name));
  }
  if (!result) return error_reply("GenericError", result.error().message());
  return {{"return", result->is_null() ? Json::object() : std::move(*result)}};
}

void Server::send(Client& c, const Json& message) {
  if (c.dead) return;
  // replace: a handler's string with invalid UTF-8 must not make dump() throw.
  c.out += message.dump(-1, ' ', false, Json::error_handler_t::replace);
  c.out += "\r\n";  // QEMU ends each message with CR LF
  if (c.out.size() > options_.max_output_bytes) {
    log::warn(kLog, "client does not read its replies and events ({} bytes pending); disconnected", c.out.size());
    c.dead = true;
    return;
  }
  flush(c);
}

void Server::flush(Client& c) {
  size_t sent = 0;
  while (sent < c.out.size()) {
    // MSG_NOSIGNAL: a client that has gone away gives EPIPE here instead of killing the VMM.
    ssize_t n = ::send(c.fd.get(), c.out.data() + sent, c.out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // the rest on POLLOUT
    c.dead = true;
    break;
  }
  c.out.erase(0, sent);
}

void Server::deliver_events() {
  std::deque<Json> events;
  {
    std::lock_guard lock(events_mutex_);
    events.swap(events_);
  }
  for (const Json& event : events)
    for (auto& c : clients_)
      if (c->negotiated && !c->dead) send(*c, event);
}

}  // namespace altovirt::qmp
