// The QMP protocol as clients see it, over a real unix socket.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "altovirt/qmp/server.h"
#include "qmp_test_client.h"

namespace altovirt::qmp {
namespace {

using test::Client;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

Json error(std::string_view cls, std::string_view desc) { return {{"error", {{"class", cls}, {"desc", desc}}}}; }
Json error_id(std::string_view cls, std::string_view desc, Json id) {
  Json e = error(cls, desc);
  e["id"] = std::move(id);
  return e;
}

class QmpServer : public ::testing::Test {
 protected:
  void SetUp() override {
    path = dir.path() + "/qmp.sock";
    auto s = Server::listen({.socket_path = path, .version_major = 0, .version_minor = 1, .version_micro = 2,
                             .package = "altovirt 0.1.2", .max_input_bytes = 1 << 20, .max_output_bytes = 16 << 20,
                             .max_clients = 16});
    ASSERT_TRUE(s) << s.error().message();
    server = std::move(*s);
    ASSERT_TRUE(server->register_command(
        {"echo",
         {{"text", ArgSpec::Type::string, true}, {"count", ArgSpec::Type::integer, false}},
         [](const Json& args) -> Result<Json> {
           std::string out;
           for (int64_t i = 0; i < args.value("count", int64_t{1}); ++i) out += args["text"].get<std::string>();
           return Json{{"text", out}};
         }}));
    ASSERT_TRUE(server->register_command({"fail", {}, [](const Json&) -> Result<Json> {
                                            return fail("device 0000:01:00.0 is not assigned to this VM");
                                          }}));
    ASSERT_TRUE(server->register_command({"nothing", {}, [](const Json&) -> Result<Json> { return Json(); }}));
    ASSERT_TRUE(server->register_command({"stop", {}, [this](const Json&) -> Result<Json> {
                                            server->emit_event("STOP");
                                            return Json::object();
                                          }}));
    ASSERT_TRUE(server->register_command({"throw", {}, [](const Json&) -> Result<Json> {
                                            throw std::runtime_error("boom");
                                          }}));
    ASSERT_TRUE(server->start());
  }

  test::TempDir dir;
  std::string path;
  std::unique_ptr<Server> server;
};

TEST_F(QmpServer, GreetingHasVersionAndNoCapabilities) {
  Client c(path);
  ASSERT_TRUE(c.connected());
  auto greeting = c.read();
  ASSERT_TRUE(greeting);
  EXPECT_EQ(*greeting, Json::parse(R"({"QMP": {"version": {"qemu": {"major": 0, "minor": 1, "micro": 2},
                                       "package": "altovirt 0.1.2"}, "capabilities": []}})"));
}

TEST_F(QmpServer, CommandsRequireCapabilitiesNegotiation) {
  Client c(path);
  ASSERT_TRUE(c.read());
  EXPECT_EQ(c.execute({{"execute", "query-version"}, {"id", 1}}),
            error_id("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'", 1));
  // An unknown command gets the same answer before negotiation, as in QEMU.
  EXPECT_EQ(c.execute({{"execute", "no-such-command"}}),
            error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"));
  EXPECT_EQ(c.execute({{"execute", "qmp_capabilities"}, {"id", "cap"}}), (Json{{"return", Json::object()}, {"id", "cap"}}));
  EXPECT_EQ(c.execute({{"execute", "qmp_capabilities"}}),
            error("CommandNotFound", "Capabilities negotiation is already complete, command ignored"));
  auto v = c.execute({{"execute", "query-version"}});
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)["return"]["qemu"]["micro"], 2);
  EXPECT_EQ((*v)["return"]["package"], "altovirt 0.1.2");
}

TEST_F(QmpServer, CapabilitiesWithUnknownOrUnofferedCapability) {
  Client c(path);
  ASSERT_TRUE(c.read());
  EXPECT_EQ(c.execute({{"execute", "qmp_capabilities"}, {"arguments", {{"enable", {"oob"}}}}}),
            error("GenericError", "Capability oob not available"));
  EXPECT_EQ(c.execute({{"execute", "qmp_capabilities"}, {"arguments", {{"enable", {"nope"}}}}}),
            error("GenericError", "Parameter 'enable' does not accept value 'nope'"));
  EXPECT_EQ(c.execute({{"execute", "qmp_capabilities"}, {"arguments", {{"enable", Json::array()}}}}),
            (Json{{"return", Json::object()}}));
}

TEST_F(QmpServer, DispatchAndIdEcho) {
  Client c(path);
  ASSERT_TRUE(c.handshake());
  EXPECT_EQ(c.execute({{"execute", "echo"}, {"arguments", {{"text", "ab"}, {"count", 3}}}, {"id", 42}}),
            (Json{{"return", {{"text", "ababab"}}}, {"id", 42}}));
  // Any JSON value is a valid id and comes back unchanged.
  Json id = {{"seq", 7}, {"tag", {"x", nullptr}}};
  EXPECT_EQ(c.execute({{"execute", "echo"}, {"arguments", {{"text", "z"}}}, {"id", id}}),
            (Json{{"return", {{"text", "z"}}}, {"id", id}}));
  // A command without a return value returns {}.
  EXPECT_EQ(c.execute({{"execute", "nothing"}}), (Json{{"return", Json::object()}}));
}

TEST_F(QmpServer, QueryCommandsListsTheRegistry) {
  Client c(path);
  ASSERT_TRUE(c.handshake());
  auto r = c.execute({{"execute", "query-commands"}});
  ASSERT_TRUE(r);
  std::vector<std::string> names;
  for (const auto& entry : (*r)["return"]) names.push_back(entry["name"]);
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("qmp_capabilities", "query-commands", "query-version", "echo",
                                                     "fail", "nothing", "stop", "throw"));
}

TEST_F(QmpServer, ErrorClassesAndMessages) {
  Client c(path);
  ASSERT_TRUE(c.handshake());
  struct Case { std::string input; Json expected; };
  const Case cases[] = {
      {R"({"execute": "no-such-command", "id": 3})", error_id("CommandNotFound", "The command no-such-command has not been found", 3)},
      {R"([1, 2])", error("GenericError", "QMP input must be a JSON object")},
      {R"("just a string")", error("GenericError", "QMP input must be a JSON object")},
      {R"(17)", error("GenericError", "QMP input must be a JSON object")},
      {R"({"id": 4})", error_id("GenericError", "QMP input lacks member 'execute'", 4)},
      {R"({"execute": 5})", error("GenericError", "QMP input member 'execute' must be a string")},
      {R"({"execute": "echo", "arguments": [1]})", error("GenericError", "QMP input member 'arguments' must be an object")},
      {R"({"execute": "echo", "colour": "red"})", error("GenericError", "QMP input member 'colour' is unexpected")},
      {R"({"execute": "echo", "arguments": {}, "id": "m"})", error_id("GenericError", "Parameter 'text' is missing", "m")},
      {R"({"execute": "echo", "arguments": {"text": 1}})", error("GenericError", "Invalid parameter type for 'text', expected: string")},
      {R"({"execute": "echo", "arguments": {"text": "a", "count": 1.5}})", error("GenericError", "Invalid parameter type for 'count', expected: integer")},
      {R"({"execute": "echo", "arguments": {"text": "a", "bogus": 1}})", error("GenericError", "Parameter 'bogus' is unexpected")},
      {R"({"execute": "query-version", "arguments": {"x": 1}})", error("GenericError", "Parameter 'x' is unexpected")},
      {R"({"execute": "fail", "id": 9})", error_id("GenericError", "device 0000:01:00.0 is not assigned to this VM", 9)},
      {R"({"execute": "throw"})", error("GenericError", "throw: internal error: boom")},
  };
  for (const Case& tc : cases) {
    ASSERT_TRUE(c.send_raw(tc.input + "\n"));
    EXPECT_EQ(c.read(), tc.expected) << tc.input;
  }
  // Malformed JSON: GenericError with the parser's complaint; the session goes on.
  ASSERT_TRUE(c.send_raw("{\"execute\": qmp}\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["error"]["class"], "GenericError");
  EXPECT_THAT((*r)["error"]["desc"].get<std::string>(), HasSubstr("JSON parse error, "));
  EXPECT_THAT((*r)["error"]["desc"].get<std::string>(), HasSubstr("syntax error"));
  EXPECT_EQ(c.execute({{"execute", "echo"}, {"arguments", {{"text", "still here"}}}}), (Json{{"return", {{"text", "still here"}}}}));
}

TEST_F(QmpServer, InputSplitAcrossReadsAndSeveralCommandsPerRead) {
  Client c(path);
  ASSERT_TRUE(c.read());
  // Two commands in one write, no newline between them.
  ASSERT_TRUE(c.send_raw(R"({"execute":"qmp_capabilities","id":1}{"execute":"echo","arguments":{"text":"x"},"id":2})"));
  EXPECT_EQ(c.read(), (Json{{"return", Json::object()}, {"id", 1}}));
  EXPECT_EQ(c.read(), (Json{{"return", {{"text", "x"}}}, {"id", 2}}));
  // One command in pieces, with pauses so that the server reads them separately.
  const std::string cmd = R"({"execute": "echo", "arguments": {"text": "{split}"}, "id": 3})";
  for (size_t i = 0; i < cmd.size(); i += 7) {
    ASSERT_TRUE(c.send_raw(cmd.substr(i, 7)));
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(c.read(), (Json{{"return", {{"text", "{split}"}}}, {"id", 3}}));
}

TEST_F(QmpServer, EventsReachNegotiatedClientsOnly) {
  Client a(path), b(path), fresh(path);
  ASSERT_TRUE(a.handshake());
  ASSERT_TRUE(b.handshake());
  ASSERT_TRUE(fresh.read());  // greeting only: not negotiated
  auto before = std::chrono::system_clock::now();
  // From another thread, as the VMM's vCPU or main thread would.
  std::thread([&] {
    server->emit_event("SHUTDOWN", {{"guest", true}, {"reason", "guest-shutdown"}});
    server->emit_event("STOP");
  }).join();
  for (Client* c : {&a, &b}) {
    auto shutdown = c->read();
    ASSERT_TRUE(shutdown);
    EXPECT_EQ((*shutdown)["event"], "SHUTDOWN");
    EXPECT_EQ((*shutdown)["data"], (Json{{"guest", true}, {"reason", "guest-shutdown"}}));
    int64_t seconds = (*shutdown)["timestamp"]["seconds"];
    int64_t micros = (*shutdown)["timestamp"]["microseconds"];
    EXPECT_GE(seconds, std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count());
    EXPECT_GE(micros, 0);
    EXPECT_LT(micros, 1000000);
    auto stop = c->read();
    ASSERT_TRUE(stop);
    EXPECT_EQ((*stop)["event"], "STOP");
    EXPECT_FALSE(stop->contains("data"));  // QEMU sends STOP without data
  }
  // The client that has not negotiated got no event: the next thing it reads is its own reply.
  EXPECT_EQ(fresh.execute({{"execute", "qmp_capabilities"}}), (Json{{"return", Json::object()}}));
}

TEST_F(QmpServer, EventFromAHandlerPrecedesLaterReplies) {
  Client c(path);
  ASSERT_TRUE(c.handshake());
  ASSERT_TRUE(c.send_raw("{\"execute\":\"stop\",\"id\":1}\n{\"execute\":\"nothing\",\"id\":2}\n"));
  EXPECT_EQ(c.read(), (Json{{"return", Json::object()}, {"id", 1}}));
  auto event = c.read();
  ASSERT_TRUE(event);
  EXPECT_EQ((*event)["event"], "STOP");
  EXPECT_EQ(c.read(), (Json{{"return", Json::object()}, {"id", 2}}));
}

TEST_F(QmpServer, ClientsOneAfterAnotherAndAtOnce) {
  for (int i = 0; i < 5; ++i) {
    Client c(path);
    ASSERT_TRUE(c.handshake()) << "client " << i;
    EXPECT_EQ(c.execute({{"execute", "echo"}, {"arguments", {{"text", std::to_string(i)}}}}),
              (Json{{"return", {{"text", std::to_string(i)}}}}));
  }
  Client a(path), b(path), c(path);
  ASSERT_TRUE(a.handshake());
  ASSERT_TRUE(b.handshake());
  ASSERT_TRUE(c.handshake());
  EXPECT_EQ(b.execute({{"execute", "echo"}, {"arguments", {{"text", "b"}}}}), (Json{{"return", {{"text", "b"}}}}));
  EXPECT_EQ(a.execute({{"execute", "echo"}, {"arguments", {{"text", "a"}}}}), (Json{{"return", {{"text", "a"}}}}));
  c.close();
  EXPECT_EQ(b.execute({{"execute", "echo"}, {"arguments", {{"text", "b2"}}}}), (Json{{"return", {{"text", "b2"}}}}));
}

TEST_F(QmpServer, ClientHalfClosingGetsItsRepliesThenEof) {
  // socat STDIO UNIX-CONNECT:... < script: the commands, then EOF on the write side.
  Client c(path);
  ASSERT_TRUE(c.send_raw("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"echo\",\"arguments\":{\"text\":\"t\"}}\n"));
  ASSERT_EQ(::shutdown(c.fd(), SHUT_WR), 0);
  EXPECT_TRUE(c.read());  // greeting
  EXPECT_EQ(c.read(), (Json{{"return", Json::object()}}));
  EXPECT_EQ(c.read(), (Json{{"return", {{"text", "t"}}}}));
  EXPECT_TRUE(c.wait_eof());
}

}  // namespace
}  // namespace altovirt::qmp
