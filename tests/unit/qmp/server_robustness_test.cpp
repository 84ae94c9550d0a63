// QMP server life cycle and hostile or careless clients: nothing a client does may end the server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <random>
#include <thread>

#include "altovirt/qmp/server.h"
#include "qmp_test_client.h"

namespace altovirt::qmp {
namespace {

using test::Client;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

ServerOptions options(const std::string& path) {
  return {.socket_path = path, .version_major = 7, .version_minor = 2, .version_micro = 0, .package = "altovirt test",
          .max_input_bytes = 1 << 20, .max_output_bytes = 16 << 20, .max_clients = 16};
}

std::unique_ptr<Server> started(ServerOptions opts, std::vector<Command> commands = {}) {
  auto s = Server::listen(std::move(opts));
  EXPECT_TRUE(s) << s.error().message();
  if (!s) return nullptr;
  for (auto& c : commands) EXPECT_TRUE((*s)->register_command(std::move(c)));
  EXPECT_TRUE((*s)->start());
  return std::move(*s);
}

bool wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 300; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(QmpSocket, ReplacesAStaleSocketFile) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  {
    // A server that died leaves its socket file behind.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  auto server = started(options(path));
  ASSERT_TRUE(server);
  Client c(path);
  EXPECT_TRUE(c.handshake());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // only the owner may drive the VM
}

TEST(QmpSocket, RefusesALiveServerAndNonSockets) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  auto first = started(options(path));
  ASSERT_TRUE(first);
  auto second = Server::listen(options(path));
  ASSERT_FALSE(second);
  EXPECT_THAT(second.error().message(), HasSubstr("another QMP server is listening on '" + path + "'"));
  Client c(path);  // the first one is undisturbed
  EXPECT_TRUE(c.handshake());

  std::string file = dir.path() + "/notes.txt";
  std::ofstream(file) << "keep me";
  auto not_socket = Server::listen(options(file));
  ASSERT_FALSE(not_socket);
  EXPECT_THAT(not_socket.error().message(), HasSubstr("exists and is not a socket"));
  EXPECT_TRUE(std::filesystem::exists(file));

  auto too_long = Server::listen(options(dir.path() + "/" + std::string(120, 'x')));
  ASSERT_FALSE(too_long);
  EXPECT_THAT(too_long.error().message(), HasSubstr("longer than 107 bytes"));
  auto missing_dir = Server::listen(options(dir.path() + "/no/such/dir/qmp.sock"));
  ASSERT_FALSE(missing_dir);
  EXPECT_THAT(missing_dir.error().message(), HasSubstr("binding the QMP socket"));
}

TEST(QmpSocket, RegistrationRules) {
  test::TempDir dir;
  auto s = Server::listen(options(dir.path() + "/q"));
  ASSERT_TRUE(s);
  auto handler = [](const Json&) -> Result<Json> { return Json::object(); };
  EXPECT_TRUE((*s)->register_command({"query-status", {}, handler}));
  auto dup = (*s)->register_command({"query-status", {}, handler});
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message(), HasSubstr("registered twice"));
  EXPECT_FALSE((*s)->register_command({"query-version", {}, handler}));  // built in
  EXPECT_FALSE((*s)->register_command({"nohandler", {}, nullptr}));
  ASSERT_TRUE((*s)->start());
  EXPECT_FALSE((*s)->register_command({"late", {}, handler}));
  EXPECT_FALSE((*s)->start());
}

TEST(QmpStop, ClosesClientsRemovesSocketAndSendsQueuedEvents) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  auto server = started(options(path));
  ASSERT_TRUE(server);
  Client c(path);
  ASSERT_TRUE(c.handshake());
  server->emit_event("SHUTDOWN", {{"guest", false}, {"reason", "host-qmp-quit"}});
  server->stop();
  auto event = c.read();
  ASSERT_TRUE(event);
  EXPECT_EQ((*event)["event"], "SHUTDOWN");
  EXPECT_TRUE(c.wait_eof());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(Client(path).connected());
  server->stop();  // idempotent
  server.reset();
}

TEST(QmpStop, QuitHandlerMayStopTheServer) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  Server* raw = nullptr;
  auto server = started(options(path), {{"quit", {}, [&raw](const Json&) -> Result<Json> {
                                           raw->stop();  // on the QMP thread: only requests the stop
                                           return Json::object();
                                         }}});
  ASSERT_TRUE(server);
  raw = server.get();
  Client c(path);
  ASSERT_TRUE(c.handshake());
  EXPECT_EQ(c.execute({{"execute", "quit"}, {"id", 1}}), (Json{{"return", Json::object()}, {"id", 1}}));
  EXPECT_TRUE(c.wait_eof());
  server.reset();  // joins
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(QmpRobustness, ClientThatDisconnectsMidCommand) {
  // SIGPIPE is left at its default here: were the server to write without MSG_NOSIGNAL, the test
  // process would die.
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  std::atomic<int> calls{0};
  auto server = started(options(path), {{"slow", {}, [&](const Json&) -> Result<Json> {
                                           std::this_thread::sleep_for(200ms);
                                           ++calls;
                                           return Json{{"big", std::string(256 * 1024, 'x')}};
                                         }}});
  ASSERT_TRUE(server);
  for (int i = 0; i < 3; ++i) {
    Client c(path);
    ASSERT_TRUE(c.handshake());
    ASSERT_TRUE(c.send({{"execute", "slow"}}));
    c.close();  // gone before the reply is written
  }
  ASSERT_TRUE(wait_for([&] { return calls == 3 && server->client_count() == 0; }));
  Client after(path);
  ASSERT_TRUE(after.handshake());
  auto r = after.execute({{"execute", "slow"}});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["return"]["big"].get<std::string>().size(), 256u * 1024);
}

TEST(QmpRobustness, HugeInputGetsAnErrorAndIsDisconnected) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  auto server = started(options(path));
  ASSERT_TRUE(server);
  Client c(path);
  ASSERT_TRUE(c.handshake());
  // 2 MiB inside one unterminated string; the server stops reading after 1 MiB, so send from a
  // thread that gives up when the connection closes.
  std::thread writer([fd = c.fd()] {
    std::string chunk = "{\"execute\": \"x\", \"arguments\": {\"s\": \"" + std::string(64 * 1024, 'a');
    for (int i = 0; i < 32; ++i) {
      if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) return;
      chunk.assign(64 * 1024, 'a');
    }
  });
  auto r = c.read(5000ms);
  writer.join();
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["error"]["class"], "GenericError");
  EXPECT_THAT((*r)["error"]["desc"].get<std::string>(), HasSubstr("input exceeds 1048576 bytes"));
  EXPECT_TRUE(c.wait_eof());
  Client next(path);
  EXPECT_TRUE(next.handshake());
}

TEST(QmpRobustness, DeepNestingGetsAnErrorAndIsDisconnected) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  auto server = started(options(path));
  ASSERT_TRUE(server);
  Client c(path);
  ASSERT_TRUE(c.handshake());
  ASSERT_TRUE(c.send_raw(std::string(5000, '[')));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_THAT((*r)["error"]["desc"].get<std::string>(), HasSubstr("nesting deeper than 1024 levels"));
  EXPECT_TRUE(c.wait_eof());
  // 1000 levels are fine (and parse: an array, not an object).
  Client d(path);
  ASSERT_TRUE(d.handshake());
  ASSERT_TRUE(d.send_raw(std::string(1000, '[') + std::string(1000, ']') + "\n"));
  EXPECT_EQ(d.read(), (Json{{"error", {{"class", "GenericError"}, {"desc", "QMP input must be a JSON object"}}}}));
}

TEST(QmpRobustness, RandomGarbageNeverEndsTheServer) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  auto server = started(options(path), {{"echo", {{"s", ArgSpec::Type::any, false}},
                                         [](const Json& a) -> Result<Json> { return a; }}});
  ASSERT_TRUE(server);
  std::mt19937 rng(1234);
  const std::string alphabet = "{}[]\":,\\ \n\r\t0123456789.eE+-truefalsnl\x01\xff\xc3\x28" "abc";
  for (int round = 0; round < 20; ++round) {
    Client c(path);
    ASSERT_TRUE(c.connected());
    std::string junk;
    for (int i = 0; i < 4000; ++i) junk += alphabet[rng() % alphabet.size()];
    if (round % 2) junk.insert(0, "{\"execute\":\"qmp_capabilities\"}");
    c.send_raw(junk);
    // Drain whatever comes back for a moment, then hang up in the middle of it.
    c.read(20ms);
  }
  // Every garbage client is gone (closed by the server or by itself).
  ASSERT_TRUE(wait_for([&] { return server->client_count() == 0; }));
  // Invalid UTF-8 inside a string: a parse error reply, not a crash.
  Client u(path);
  ASSERT_TRUE(u.handshake());
  ASSERT_TRUE(u.send_raw("{\"execute\": \"echo\", \"arguments\": {\"s\": \"\xff\xfe\"}}\n"));
  auto r = u.read();
  ASSERT_TRUE(r);
  EXPECT_THAT((*r)["error"]["desc"].get<std::string>(), HasSubstr("JSON parse error"));
  EXPECT_EQ(u.execute({{"execute", "echo"}, {"arguments", {{"s", "ok"}}}}), (Json{{"return", {{"s", "ok"}}}}));
}

TEST(QmpRobustness, TooManyClientsAreTurnedAway) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  ServerOptions opts = options(path);
  opts.max_clients = 2;
  auto server = started(opts);
  ASSERT_TRUE(server);
  Client a(path), b(path);
  ASSERT_TRUE(a.handshake());
  ASSERT_TRUE(b.handshake());
  Client c(path);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_THAT((*r)["error"]["desc"].get<std::string>(), HasSubstr("too many QMP clients (at most 2)"));
  EXPECT_TRUE(c.wait_eof());
  a.close();
  ASSERT_TRUE(wait_for([&] { return server->client_count() == 1; }));
  Client d(path);
  EXPECT_TRUE(d.handshake());
}

TEST(QmpRobustness, ClientThatNeverReadsIsDroppedNotBuffered) {
  test::TempDir dir;
  std::string path = dir.path() + "/qmp.sock";
  ServerOptions opts = options(path);
  opts.max_output_bytes = 256 * 1024;
  auto server = started(opts);
  ASSERT_TRUE(server);
  Client lazy(path), good(path);
  ASSERT_TRUE(lazy.handshake());
  ASSERT_TRUE(good.handshake());
  ASSERT_EQ(server->client_count(), 2u);
  // `good` reads its events; `lazy` never does, so its socket and then its queue fill up.
  std::atomic<int> got{0};
  std::thread reader([&] {
    while (got < 20000 && good.read(2000ms)) ++got;
  });
  // In batches that `good` keeps up with, so that only `lazy` falls behind.
  for (int i = 0; i < 20000; ++i) {
    server->emit_event("RTC_CHANGE", {{"offset", i}, {"pad", std::string(100, 'p')}});
    if (i % 100 == 99) {
      ASSERT_TRUE(wait_for([&] { return got == i + 1; })) << "good client got " << got;
    }
  }
  reader.join();
  EXPECT_EQ(got, 20000);
  EXPECT_TRUE(wait_for([&] { return server->client_count() == 1; }));
}

}  // namespace
}  // namespace altovirt::qmp
