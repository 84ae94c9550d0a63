// The VNC server against libvncclient over loopback TCP: what a device shows reaches a client's
// framebuffer, keys and pointer moves come back as Linux input events, several clients at once, a
// client vanishing mid-update, and VNC authentication.
#include <linux/input-event-codes.h>
#include <rfb/keysym.h>
#include <rfb/rfbclient.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "altovirt/ui/vnc_server.h"

namespace altovirt::ui {
namespace {

using namespace std::chrono_literals;

struct RecordingSink : InputSink {
  std::mutex m;
  std::vector<InputEvent> events;
  void send(std::span<const InputEvent> e) override {
    std::lock_guard lock(m);
    events.insert(events.end(), e.begin(), e.end());
  }
  std::vector<InputEvent> take() {
    std::lock_guard lock(m);
    return std::exchange(events, {});
  }
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::string g_password;
char* password(rfbClient*) { return strdup(g_password.c_str()); }
void quiet(const char*, ...) {}

// A client connected to `port`; nullptr when the server refused it.
rfbClient* connect(int port, const std::string& pw = "") {
  rfbClientLog = quiet;
  rfbClientErr = quiet;
  g_password = pw;
  rfbClient* c = rfbGetClient(8, 3, 4);
  c->serverHost = strdup("127.0.0.1");
  c->serverPort = port;
  c->GetPassword = password;
  c->canHandleNewFBSize = TRUE;
  c->appData.encodingsString = strdup("raw");
  int argc = 1;
  char name[] = "test";
  char* argv[] = {name, nullptr};
  if (!rfbInitClient(c, &argc, argv)) return nullptr;  // frees c
  return c;
}

// Reads server messages for a while.
void pump(rfbClient* c, std::chrono::milliseconds d = 300ms) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    int n = WaitForMessage(c, 20'000);
    if (n < 0) return;
    if (n > 0 && !HandleRFBServerMessage(c)) return;
  }
}

class VncServerTest : public ::testing::Test {
 protected:
  void start(const std::string& pw = "") {
    VncOptions o;
    o.display = 60;  // ports 5960..5999: the first free one
    o.to = 99;
    o.width = 64;
    o.height = 32;
    o.password = pw;
    auto s = VncServer::start(o);
    ASSERT_TRUE(s) << s.error().message();
    server = std::move(*s);
    ASSERT_TRUE(server->display_number());
    port = 5900 + static_cast<int>(*server->display_number());
  }
  // A w x h picture: pixel (x, y) is XRGB (x * 3, y * 5, 0x40).
  std::vector<uint8_t> picture(uint32_t w, uint32_t h) {
    std::vector<uint8_t> p(size_t{w} * h * 4);
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) {
        uint8_t* px = &p[(size_t{y} * w + x) * 4];
        px[0] = 0x40;                             // B
        px[1] = static_cast<uint8_t>(y * 5);      // G
        px[2] = static_cast<uint8_t>(x * 3);      // R
        px[3] = 0;
      }
    return p;
  }
  // The client's pixel as (R, G, B): libvncclient's default format has R at bit 0.
  static std::array<uint8_t, 3> rgb(rfbClient* c, int x, int y) {
    const uint8_t* px = c->frameBuffer + (y * c->width + x) * 4;
    return {px[0], px[1], px[2]};
  }

  std::unique_ptr<VncServer> server;
  int port = 0;
};

TEST_F(VncServerTest, AClientSeesWhatTheDeviceShows) {
  start();
  EXPECT_EQ(server->address(), fmt::format("127.0.0.1:{}", port));
  server->resize(80, 40);
  auto pic = picture(80, 40);
  server->update(Rect{0, 0, 80, 40}, pic, 80 * 4);
  rfbClient* c = connect(port);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(eventually([&] { return server->clients() == 1; }));
  SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE);
  pump(c, 500ms);
  ASSERT_EQ(c->width, 80);
  ASSERT_EQ(c->height, 40);
  EXPECT_EQ(rgb(c, 0, 0), (std::array<uint8_t, 3>{0, 0, 0x40}));
  EXPECT_EQ(rgb(c, 79, 39), (std::array<uint8_t, 3>{237, 195, 0x40}));
  EXPECT_EQ(rgb(c, 10, 20), (std::array<uint8_t, 3>{30, 100, 0x40}));

  // A small change: only that rectangle is marked, and the client gets it.
  uint64_t marked = server->rects_marked();
  std::vector<uint8_t> white(4 * 4 * 4, 0xff);
  server->update(Rect{5, 6, 4, 4}, white, 16);
  ASSERT_TRUE(eventually([&] { return server->rects_marked() == marked + 1; }));
  SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, TRUE);
  pump(c, 300ms);
  EXPECT_EQ(rgb(c, 5, 6), (std::array<uint8_t, 3>{255, 255, 255}));
  EXPECT_EQ(rgb(c, 8, 9), (std::array<uint8_t, 3>{255, 255, 255}));
  EXPECT_EQ(rgb(c, 9, 9), (std::array<uint8_t, 3>{27, 45, 0x40}));
  rfbClientCleanup(c);
  ASSERT_TRUE(eventually([&] { return server->clients() == 0; }));
}

TEST_F(VncServerTest, UpdatesOutsideTheSurfaceAreClipped) {
  start();
  std::vector<uint8_t> big(size_t{200} * 200 * 4, 0x11);
  server->update(Rect{60, 30, 200, 200}, big, 200 * 4);  // runs past 64 x 32: clipped, no crash
  server->update(Rect{500, 500, 4, 4}, big, 16);            // wholly outside: ignored
  std::vector<uint8_t> tiny(4, 0);
  server->update(Rect{0, 0, 8, 8}, tiny, 32);  // fewer pixels than the rectangle claims: ignored
  rfbClient* c = connect(port);
  ASSERT_NE(c, nullptr);
  SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE);
  pump(c);
  EXPECT_EQ(rgb(c, 63, 31), (std::array<uint8_t, 3>{0x11, 0x11, 0x11}));
  EXPECT_EQ(rgb(c, 59, 31), (std::array<uint8_t, 3>{0, 0, 0}));
  rfbClientCleanup(c);
}

TEST_F(VncServerTest, KeysAndPointerBecomeInputEvents) {
  start();
  auto kbd = std::make_shared<RecordingSink>();
  auto tablet = std::make_shared<RecordingSink>();
  server->set_keyboard(kbd);
  server->set_tablet(tablet);
  rfbClient* c = connect(port);
  ASSERT_NE(c, nullptr);
  SendKeyEvent(c, 'a', TRUE);
  SendKeyEvent(c, 'a', FALSE);
  SendKeyEvent(c, XK_Return, TRUE);
  SendKeyEvent(c, 0x20ac, TRUE);  // no such key: ignored
  ASSERT_TRUE(eventually([&] { std::lock_guard l(kbd->m); return kbd->events.size() >= 6; }));
  std::this_thread::sleep_for(100ms);
  auto keys = kbd->take();
  ASSERT_EQ(keys.size(), 6u);
  EXPECT_EQ(keys[0].type, EV_KEY);
  EXPECT_EQ(keys[0].code, KEY_A);
  EXPECT_EQ(keys[0].value, 1);
  EXPECT_EQ(keys[1].type, EV_SYN);
  EXPECT_EQ(keys[2].value, 0);
  EXPECT_EQ(keys[4].code, KEY_ENTER);

  // The far corner of a 64 x 32 screen is the tablet's maximum; left button down, then up.
  SendPointerEvent(c, 63, 31, 1);
  SendPointerEvent(c, 63, 31, 0);
  SendPointerEvent(c, 0, 0, 8);  // wheel up
  ASSERT_TRUE(eventually([&] { std::lock_guard l(tablet->m); return tablet->events.size() >= 12; }));
  auto ev = tablet->take();
  EXPECT_EQ(ev[0].type, EV_ABS);
  EXPECT_EQ(ev[0].code, ABS_X);
  EXPECT_EQ(ev[0].value, 32767);
  EXPECT_EQ(ev[1].code, ABS_Y);
  EXPECT_EQ(ev[1].value, 32767);
  EXPECT_EQ(ev[2].code, BTN_LEFT);
  EXPECT_EQ(ev[2].value, 1);
  EXPECT_EQ(ev[3].type, EV_SYN);
  EXPECT_EQ(ev[6].code, BTN_LEFT);
  EXPECT_EQ(ev[6].value, 0);
  EXPECT_EQ(ev[10].type, EV_REL);
  EXPECT_EQ(ev[10].code, REL_WHEEL);
  EXPECT_EQ(ev[10].value, 1);

  // Between machines there is no keyboard: keys go nowhere, and nothing breaks.
  server->set_keyboard(nullptr);
  SendKeyEvent(c, 'b', TRUE);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(kbd->take().empty());
  rfbClientCleanup(c);
}

TEST_F(VncServerTest, SeveralClientsAtOnceAndOneThatLeavesMidUpdate) {
  start();
  server->resize(320, 240);
  auto pic = picture(320, 240);
  server->update(Rect{0, 0, 320, 240}, pic, 320 * 4);
  rfbClient* a = connect(port);
  rfbClient* b = connect(port);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(eventually([&] { return server->clients() == 2; }));
  auto list = server->client_list();  // what QMP query-vnc reports
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].host, "127.0.0.1");
  EXPECT_FALSE(list[0].service.empty());
  EXPECT_NE(list[0].service, list[1].service);
  EXPECT_FALSE(server->password_required());
  // A third asks for the whole screen and closes its socket at once.
  rfbClient* d = connect(port);
  ASSERT_NE(d, nullptr);
  SendFramebufferUpdateRequest(d, 0, 0, 320, 240, FALSE);
  ::close(d->sock);
  d->sock = RFB_INVALID_SOCKET;
  rfbClientCleanup(d);
  ASSERT_TRUE(eventually([&] { return server->clients() == 2; }));
  for (rfbClient* c : {a, b}) {
    SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE);
    pump(c, 500ms);
    EXPECT_EQ(c->width, 320);
    EXPECT_EQ(rgb(c, 10, 20), (std::array<uint8_t, 3>{30, 100, 0x40}));
  }
  rfbClientCleanup(a);
  rfbClientCleanup(b);
  ASSERT_TRUE(eventually([&] { return server->clients() == 0; }));
  EXPECT_TRUE(server->client_list().empty());
}

TEST_F(VncServerTest, PasswordIsRequiredAndChecked) {
  start("s3cret");
  EXPECT_TRUE(server->password_required());
  EXPECT_EQ(connect(port, "wrong"), nullptr);
  EXPECT_EQ(connect(port, ""), nullptr);
  rfbClient* c = connect(port, "s3cret");
  ASSERT_NE(c, nullptr);
  rfbClientCleanup(c);
}

TEST_F(VncServerTest, ABusyDisplayIsAClearError) {
  start();
  VncOptions o;
  o.display = static_cast<unsigned>(port - 5900);
  auto again = VncServer::start(o);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("in use"), std::string::npos) << again.error().message();
  EXPECT_NE(again.error().message().find(std::to_string(port)), std::string::npos) << again.error().message();
  o.host = "not-an-address";
  auto bad = VncServer::start(o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("not-an-address"), std::string::npos);
}

TEST_F(VncServerTest, UnixSocket) {
  std::string path = fmt::format("/tmp/altovirt-vnc-test-{}.sock", ::getpid());
  VncOptions o;
  o.unix_path = path;
  auto s = VncServer::start(o);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ((*s)->address(), "unix:" + path);
  EXPECT_FALSE((*s)->display_number());
  // libvncclient speaks TCP only: the RFB greeting read by hand is enough to show it serves.
  rfbSocket fd = ConnectClientToUnixSock(path.c_str());
  ASSERT_NE(fd, RFB_INVALID_SOCKET);
  char banner[12] = {};
  ASSERT_TRUE(eventually([&] { return ::recv(fd, banner, sizeof banner, MSG_DONTWAIT | MSG_PEEK) == 12; }));
  ASSERT_EQ(::recv(fd, banner, sizeof banner, 0), 12);
  EXPECT_EQ(std::string(banner, 12), "RFB 003.008\n");
  ::close(fd);
  s->reset();
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace altovirt::ui
