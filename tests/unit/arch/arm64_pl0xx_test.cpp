// The PL011 console UART, PL031 RTC and PL061 GPIO (with the power key) as a guest driver sees them.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "altovirt/arch/arm64/pl011.h"
#include "altovirt/arch/arm64/pl031.h"
#include "altovirt/arch/arm64/pl061.h"

namespace altovirt::arch::arm64 {
namespace {

struct Line : devices::IrqLine {
  std::atomic<bool> level{false};
  std::atomic<int> raises{0};
  void set_level(bool a) override {
    if (a && !level) ++raises;
    level = a;
  }
};

uint32_t rd(devices::IoHandler& d, uint64_t off) {
  uint8_t b[4] = {};
  d.io_read(off, b);
  return b[0] | b[1] << 8 | b[2] << 16 | static_cast<uint32_t>(b[3]) << 24;
}
void wr(devices::IoHandler& d, uint64_t off, uint32_t v) {
  uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
                  static_cast<uint8_t>(v >> 24)};
  d.io_write(off, b);
}

struct Uart : ::testing::Test {
  std::string path = ::testing::TempDir() + "pl011-out";
  std::unique_ptr<devices::CharBackend> backend;
  Line irq;
  std::unique_ptr<Pl011> uart;
  void SetUp() override {
    auto b = devices::CharBackend::open("file:" + path);
    ASSERT_TRUE(b);
    backend = std::move(*b);
    uart = std::make_unique<Pl011>(irq, *backend);
  }
  std::string output() {
    uart.reset();
    backend.reset();
    std::stringstream s;
    s << std::ifstream(path).rdbuf();
    return s.str();
  }
};

TEST_F(Uart, IdentifiesAsAPl011) {
  uint32_t id = 0;
  for (int i = 0; i < 4; ++i) id |= (rd(*uart, 0xfe0 + 4 * static_cast<uint64_t>(i)) & 0xff) << (8 * i);
  EXPECT_EQ(id, 0x00141011u);  // the part number 0x011, ARM's designer code, revision 1
  EXPECT_EQ(rd(*uart, 0xff0), 0x0du);
  EXPECT_EQ(rd(*uart, 0xffc), 0xb1u);
}

// An 8-byte access (KVM_EXIT_MMIO allows it; a hostile guest may make one) reads the 32-bit
// register and zeroes above it, and a byte read at lane 1 gets the register's second byte.
TEST_F(Uart, WideAndUnalignedReadsStayInsideTheRegister) {
  uint8_t wide[8];
  std::fill(std::begin(wide), std::end(wide), 0xee);
  uart->io_read(0xfe0, wide);
  EXPECT_EQ(wide[0], 0x11);
  for (int i = 1; i < 8; ++i) EXPECT_EQ(wide[i], 0) << i;
  Pl031 rtc;
  wr(rtc, 0x08, 0x01020304);  // LR: the counter now reads about 0x01020304
  uint8_t lane1[1] = {0};
  rtc.io_read(0x01, lane1);
  EXPECT_EQ(lane1[0], 0x03);
  uint8_t wide2[8];
  rtc.io_read(0x00, wide2);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(wide2[i], 0) << i;
}

TEST_F(Uart, TransmitsAtOnceAndRaisesTheTxInterruptWhenUnmasked) {
  EXPECT_TRUE(rd(*uart, 0x18) & (1u << 7));  // FR.TXFE
  wr(*uart, 0x00, 'h');
  EXPECT_FALSE(irq.level);  // masked
  EXPECT_TRUE(rd(*uart, 0x3c) & (1u << 5));  // RIS.TX
  wr(*uart, 0x38, 1u << 5);  // IMSC.TX
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(rd(*uart, 0x40), 1u << 5);  // MIS
  wr(*uart, 0x44, 1u << 5);  // ICR
  EXPECT_FALSE(irq.level);
  wr(*uart, 0x00, 'i');
  EXPECT_EQ(output(), "hi");
}

TEST_F(Uart, ReceivesIntoItsFifoAndTheRxInterruptFollowsTheData) {
  wr(*uart, 0x38, (1u << 4) | (1u << 6));  // IMSC: RX, RT
  EXPECT_TRUE(rd(*uart, 0x18) & (1u << 4));  // FR.RXFE
  const uint8_t in[] = {'o', 'k'};
  EXPECT_EQ(uart->receive(in), 2u);
  EXPECT_TRUE(irq.level);
  EXPECT_FALSE(rd(*uart, 0x18) & (1u << 4));
  wr(*uart, 0x44, 0x7ff);  // ICR cannot clear RX while data waits
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(rd(*uart, 0x00), 'o');
  EXPECT_EQ(rd(*uart, 0x00), 'k');
  EXPECT_FALSE(irq.level);
  EXPECT_TRUE(rd(*uart, 0x18) & (1u << 4));
  std::vector<uint8_t> many(100, 'x');
  EXPECT_EQ(uart->receive(many), Pl011::kFifoSize);  // the rest waits in the input thread
  EXPECT_TRUE(rd(*uart, 0x18) & (1u << 6));          // FR.RXFF
}

TEST(Pl031, CountsHostSecondsAndKeepsTheGuestsOffset) {
  Pl031 rtc;
  auto now = static_cast<uint32_t>(::time(nullptr));
  EXPECT_NEAR(static_cast<double>(rd(rtc, 0x00)), now, 2);
  wr(rtc, 0x08, 1000);  // LR: the guest sets the clock
  EXPECT_NEAR(static_cast<double>(rd(rtc, 0x00)), 1000, 2);
  EXPECT_EQ(rd(rtc, 0xfe0), 0x31u);
}

TEST(Pl061, PowerKeyPressesAndReleasesLineThreeWithBothEdges) {
  Line irq;
  Pl061 gpio(irq, 3);
  wr(gpio, 0x408, 1u << 3);  // IBE: both edges, as gpio-keys asks
  wr(gpio, 0x410, 1u << 3);  // IE
  gpio.press_power_button();
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(rd(gpio, 0x3fc), 1u << 3);  // GPIODATA, every line addressed
  EXPECT_EQ(rd(gpio, 0x004), 0u);       // an address that selects line 0 only
  EXPECT_EQ(rd(gpio, 0x020), 1u << 3);  // ... and one that selects line 3 (address bit 5)
  wr(gpio, 0x41c, 1u << 3);             // IC
  EXPECT_FALSE(irq.level);
  for (int i = 0; i < 100 && (rd(gpio, 0x3fc) & (1u << 3)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(rd(gpio, 0x3fc), 0u);  // released after about 100 ms
  EXPECT_TRUE(irq.level);          // the release edge
  EXPECT_EQ(irq.raises, 2);
}

TEST(Pl061, RisingEdgeOnlyAndLevelTriggers) {
  Line irq;
  Pl061 gpio(irq, 3);
  wr(gpio, 0x40c, 1u << 1);  // IEV: line 1 rising (IBE off)
  wr(gpio, 0x410, 0xff);
  gpio.set_input(1, true);
  EXPECT_TRUE(irq.level);
  wr(gpio, 0x41c, 0xff);
  gpio.set_input(1, false);  // falling: not asked for
  EXPECT_FALSE(irq.level);
  wr(gpio, 0x404, 1u << 2);  // IS: line 2 level, low (IEV bit clear)
  EXPECT_TRUE(irq.level);    // line 2 is low now: pending
  wr(gpio, 0x41c, 1u << 2);
  EXPECT_TRUE(irq.level);    // still low: IC cannot clear a level that holds
  gpio.set_input(2, true);
  wr(gpio, 0x41c, 1u << 2);
  EXPECT_FALSE(irq.level);
}

}  // namespace
}  // namespace altovirt::arch::arm64
