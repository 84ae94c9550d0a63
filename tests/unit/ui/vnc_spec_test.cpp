// -vnc's syntax (QEMU's subset) and the keysym table.
#include <linux/input-event-codes.h>

#include <gtest/gtest.h>

#include "altovirt/ui/vnc_server.h"

namespace altovirt::ui {
namespace {

TEST(VncSpec, DisplayNumbersAndAddresses) {
  auto a = parse_vnc(":1");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->options.host, "127.0.0.1");  // QEMU's ":N" listens on every address; altovirt on loopback only
  EXPECT_EQ(a->options.display, 1u);
  EXPECT_FALSE(a->options.to);
  auto b = parse_vnc("0.0.0.0:2,to=5,password-secret=pw");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->options.host, "0.0.0.0");
  EXPECT_EQ(b->options.display, 2u);
  EXPECT_EQ(*b->options.to, 5u);
  EXPECT_EQ(b->password_secret, "pw");
  auto c = parse_vnc("unix:/run/vm/vnc.sock");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->options.unix_path, "/run/vm/vnc.sock");
  EXPECT_TRUE(parse_vnc(":0,password=on,password-secret=s"));
}

TEST(VncSpec, MistakesAreNamed) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"5900", "no display number"},
      {":abc", "is not a number"},
      {":70000", "is not a number 0..59635"},
      {":3,to=1", "to=1 must be a display number from 3"},
      {"unix:", "needs a socket path"},
      {"unix:/x,to=3", "not unix"},
      {":1,share=ignore", "unknown option 'share'"},
      {":1,password=on", "password=on needs the password itself"},
      {":1,password-secret=", "needs the id"},
      {"[::1]:1", "IPv6"},
  };
  for (const auto& c : cases) {
    auto r = parse_vnc(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << c.text << ": " << r.error().message();
    EXPECT_NE(r.error().message().find(c.text), std::string::npos) << "names the option: " << r.error().message();
  }
}

TEST(Keymap, UsLayout) {
  EXPECT_EQ(keysym_to_key('a'), KEY_A);
  EXPECT_EQ(keysym_to_key('A'), KEY_A);  // the client sends Shift itself
  EXPECT_EQ(keysym_to_key('q'), KEY_Q);
  EXPECT_EQ(keysym_to_key('0'), KEY_0);
  EXPECT_EQ(keysym_to_key('!'), KEY_1);
  EXPECT_EQ(keysym_to_key('_'), KEY_MINUS);
  EXPECT_EQ(keysym_to_key(' '), KEY_SPACE);
  EXPECT_EQ(keysym_to_key(0xff0d), KEY_ENTER);      // XK_Return
  EXPECT_EQ(keysym_to_key(0xffe1), KEY_LEFTSHIFT);  // XK_Shift_L
  EXPECT_EQ(keysym_to_key(0xffc9), KEY_F12);
  EXPECT_EQ(keysym_to_key(0x20ac), 0);  // the euro sign: no key on a US keyboard
}

}  // namespace
}  // namespace altovirt::ui
