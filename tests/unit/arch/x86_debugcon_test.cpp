// The debug console at 0x402: the probe value OVMF checks, whole lines to the sink, and a guest that
// writes without end or writes binary cannot flood the log.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "altovirt/arch/x86/debugcon.h"

using altovirt::arch::x86::DebugCon;

namespace {
struct Capture {
  std::vector<std::string> lines;
  DebugCon::Sink sink() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};
void put(DebugCon& d, std::string_view s) {
  for (char c : s) {
    uint8_t b = static_cast<uint8_t>(c);
    d.io_write(0, std::span<const uint8_t>(&b, 1));
  }
}
}  // namespace

TEST(DebugCon, ReadsBackTheBochsMagicSoTheFirmwareUsesIt) {
  Capture c;
  DebugCon d(c.sink());
  uint8_t v = 0;
  d.io_read(0, std::span<uint8_t>(&v, 1));
  EXPECT_EQ(v, 0xe9);
}

TEST(DebugCon, HandsOverWholeLinesWithoutCarriageReturns) {
  Capture c;
  {
    DebugCon d(c.sink());
    put(d, "Platform PEIM Loaded\r\nCPU count: 2\n");
    EXPECT_EQ(c.lines, (std::vector<std::string>{"Platform PEIM Loaded", "CPU count: 2"}));
    put(d, "no newline yet");
    EXPECT_EQ(c.lines.size(), 2u);
  }
  ASSERT_EQ(c.lines.size(), 3u);  // the unterminated line at the end
  EXPECT_EQ(c.lines[2], "no newline yet");
}

TEST(DebugCon, HostileOutputIsCutShownSafelyAndCapped) {
  Capture c;
  DebugCon d(c.sink(), 2000);
  const uint8_t binary[] = {'a', 0x1b, '[', '2', 'J', 0x00, 0xff, '\t', 'b', '\n'};
  d.io_write(0, binary);
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0], "a.[2J..\tb");
  c.lines.clear();
  put(d, std::string(DebugCon::kMaxLine + 10, 'x'));  // a line without end is cut
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0].size(), DebugCon::kMaxLine);
  c.lines.clear();
  put(d, std::string(5000, 'y'));  // past the cap: said once, then nothing
  size_t said = c.lines.size();
  ASSERT_GE(said, 1u);
  EXPECT_NE(c.lines.back().find("dropped"), std::string::npos);
  put(d, "more\n");
  EXPECT_EQ(c.lines.size(), said);
}

TEST(DebugCon, OtherOffsetsAreIgnored) {
  Capture c;
  DebugCon d(c.sink());
  const uint8_t x[] = {'z', '\n'};
  d.io_write(1, x);
  EXPECT_TRUE(c.lines.empty());
  uint8_t v = 0;
  d.io_read(1, std::span<uint8_t>(&v, 1));
  EXPECT_EQ(v, 0xff);
}
