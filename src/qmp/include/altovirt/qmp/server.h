// A QMP server (QEMU Machine Protocol, docs/interop/qmp-spec.rst in QEMU) on a unix socket.
//
// Protocol, as QEMU speaks it:
//   - on connect the server sends the greeting {"QMP": {"version": {...}, "capabilities": []}};
//   - the client must send {"execute": "qmp_capabilities"} first; anything else gets
//     CommandNotFound "Expecting capabilities negotiation with 'qmp_capabilities'";
//   - then {"execute": NAME, "arguments": {...}, "id": ANY} gets {"return": ..., "id": ...} or
//     {"error": {"class": ..., "desc": ...}, "id": ...}; classes are CommandNotFound (unknown
//     command) and GenericError (everything else: malformed JSON, bad input, bad arguments, a
//     failing handler);
//   - events go to every client that has negotiated capabilities:
//     {"event": NAME, "data": {...}, "timestamp": {"seconds": S, "microseconds": US}}.
// Built in: qmp_capabilities, query-commands (from the registry) and query-version.
//
// Robustness: input is cut into JSON texts by JsonSplitter (split reads and several commands per
// read both work); a client whose unfinished input exceeds max_input_bytes, or nests deeper than
// 1024 levels, gets an error and is disconnected; replies are sent with MSG_NOSIGNAL, so a client
// that disconnects mid-command cannot raise SIGPIPE; a client that stops reading is dropped when its
// pending output exceeds max_output_bytes. Nothing a client sends can end the server.
//
// Threading contract:
//   - start() runs the server on its own thread (the "QMP thread"); every handler runs on that
//     thread, one at a time, with the reply sent right after it returns. Handlers therefore must be
//     thread-safe with respect to the VMM's own threads (vCPUs, main loop) and must not block for
//     long: all clients wait while one runs. A handler such as `quit` should ask the VMM's main
//     thread to act and return.
//   - emit_event() may be called from any thread, including from a handler; events are delivered
//     by the QMP thread in the order they were emitted.
//   - register_command() only before start(). stop() from any thread (also from a handler, in which
//     case it only requests the stop; the destructor joins); it sends what is queued, closes every
//     client, removes the socket file and is idempotent. The destructor calls it.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altovirt::qmp {

using Json = nlohmann::json;

// What a handler gets: the "arguments" object (an empty object when the client sent none), already
// checked against the command's ArgSpec list.
using Handler = std::function<Result<Json>(const Json& arguments)>;

// One argument a command accepts. The server rejects unknown arguments, missing required ones and
// wrong JSON types before the handler runs, with QEMU's messages ("Parameter 'x' is missing").
struct ArgSpec {
  enum class Type { any, string, integer, number, boolean, object, array };
  std::string name;
  Type type = Type::any;
  bool required = true;
};

struct Command {
  std::string name;
  std::vector<ArgSpec> args;
  Handler handler;  // a returned Error becomes {"error": {"class": "GenericError", "desc": message}}
};

struct ServerOptions {
  std::string socket_path;
  // Reported in the greeting and by query-version as {"qemu": {major, minor, micro}, "package"}.
  int version_major = 0;
  int version_minor = 0;
  int version_micro = 0;
  std::string package;  // e.g. "altovirt 0.1.0"
  size_t max_input_bytes = 1 << 20;
  size_t max_output_bytes = 16 << 20;
  size_t max_clients = 16;
};

class Server {
 public:
  // Binds and listens on options.socket_path (mode 0600). A socket file nobody listens on any more
  // is replaced; a live server at the path, or a file that is not a socket, is an error.
  static Result<std::unique_ptr<Server>> listen(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds a command; fails on a duplicate name or after start().
  Status register_command(Command command);
  // Starts the QMP thread.
  Status start();
  // See the threading contract above.
  void stop();
  // Queues an event for every negotiated client. `data` may be null (no "data" member, as QEMU
  // sends STOP and RESUME).
  void emit_event(const std::string& name, Json data = nullptr);

  const std::string& socket_path() const { return options_.socket_path; }
  // Clients connected now (for tests and diagnostics); any thread.
  size_t client_count() const { return client_count_.load(); }

 private:
  struct Client;
  explicit Server(ServerOptions options, UniqueFd listen_fd, UniqueFd wake_fd, dev_t dev, ino_t ino);

  void run();
  void accept_clients();
  void read_client(Client& client);
  void handle_text(Client& client, const std::string& text);
  Json dispatch(Client& client, const Json& request);
  void send(Client& client, const Json& message);
  void flush(Client& client);
  void deliver_events();
  Json version_json() const;

  ServerOptions options_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: emit_event() and stop() wake the QMP thread
  dev_t socket_dev_;
  ino_t socket_ino_;
  std::map<std::string, Command> commands_;
  std::vector<std::unique_ptr<Client>> clients_;  // QMP thread only
  std::thread thread_;  // guarded by stop_mutex_ once started
  std::atomic<std::thread::id> qmp_thread_id_{};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> client_count_{0};
  std::mutex events_mutex_;
  std::deque<Json> events_;  // guarded by events_mutex_
  std::mutex stop_mutex_;    // serialises stop() callers
  bool cleaned_up_ = false;  // guarded by stop_mutex_
};

}  // namespace altovirt::qmp
