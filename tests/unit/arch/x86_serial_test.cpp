// 16550A behaviour the Linux 8250 driver depends on: loopback probing, THRE and RX interrupts
// gated by OUT2, the divisor latch, output to the backend.
#include <gtest/gtest.h>
#include <linux/serial_reg.h>
#include <unistd.h>

#include "altovirt/arch/x86/serial.h"

using namespace altovirt::devices;
using namespace altovirt::arch::x86;

namespace {
struct Line : IrqLine {
  bool level = false;
  int edges = 0;
  void set_level(bool l) override {
    if (l != level) ++edges;
    level = l;
  }
};
struct SerialFixture : ::testing::Test {
  Line irq;
  std::unique_ptr<CharBackend> backend;
  std::unique_ptr<Serial16550> uart;
  std::string path;
  void SetUp() override {
    char tmpl[] = "/tmp/serial-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    path = tmpl;
    auto b = CharBackend::open("file:" + path);
    ASSERT_TRUE(b);
    backend = std::move(*b);
    uart = std::make_unique<Serial16550>(irq, *backend);
  }
  void TearDown() override { ::unlink(path.c_str()); }
  uint8_t in(unsigned reg) {
    uint8_t v;
    uart->io_read(reg, std::span(&v, 1));
    return v;
  }
  void out(unsigned reg, uint8_t v) { uart->io_write(reg, std::span<const uint8_t>(&v, 1)); }
};
}  // namespace

TEST_F(SerialFixture, TransmitsToTheBackend) {
  for (char c : std::string("hi\n")) out(UART_TX, static_cast<uint8_t>(c));
  EXPECT_TRUE(in(UART_LSR) & UART_LSR_THRE);
  EXPECT_TRUE(in(UART_LSR) & UART_LSR_TEMT);
  backend.reset();
  char buf[8] = {};
  FILE* f = std::fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  EXPECT_EQ(std::string(buf, n), "hi\n");
}

TEST_F(SerialFixture, LoopbackReflectsModemControlAsLinuxProbesIt) {
  out(UART_MCR, UART_MCR_LOOP | 0x0a);  // RTS | OUT2
  EXPECT_EQ(in(UART_MSR) & 0xf0, 0x90) << "CTS and DCD, what serial8250 autoconfig expects";
  out(UART_TX, 0x5a);
  EXPECT_TRUE(in(UART_LSR) & UART_LSR_DR);
  EXPECT_EQ(in(UART_RX), 0x5a);
  EXPECT_FALSE(irq.level) << "no interrupt leaves the chip in loopback";
}

TEST_F(SerialFixture, DivisorLatch) {
  out(UART_LCR, UART_LCR_DLAB);
  out(UART_DLL, 0x01);
  out(UART_DLM, 0x00);
  EXPECT_EQ(in(UART_DLL), 0x01);
  out(UART_LCR, UART_LCR_WLEN8);
  EXPECT_EQ(in(UART_IER), 0x00) << "IER is separate from DLM";
  EXPECT_EQ(in(UART_LCR), UART_LCR_WLEN8);
}

TEST_F(SerialFixture, ThreInterruptRaisedByIerAndClearedByIirRead) {
  out(UART_MCR, UART_MCR_OUT2);
  out(UART_IER, UART_IER_THRI);
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(in(UART_IIR) & 0x0f, UART_IIR_THRI);
  EXPECT_FALSE(irq.level) << "reading IIR clears THRE";
  EXPECT_EQ(in(UART_IIR) & 0x0f, UART_IIR_NO_INT);
  out(UART_TX, 'x');
  EXPECT_TRUE(irq.level) << "the byte left at once: THRE again";
}

TEST_F(SerialFixture, ReceiveRaisesRxInterruptAndFifoBounds) {
  out(UART_MCR, UART_MCR_OUT2);
  out(UART_FCR, UART_FCR_ENABLE_FIFO);
  out(UART_IER, UART_IER_RDI);
  std::vector<uint8_t> data(20, 'a');
  EXPECT_EQ(uart->receive(data), Serial16550::kFifoSize);
  EXPECT_FALSE(uart->can_receive());
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(in(UART_IIR), 0xc0 | UART_IIR_RDI) << "FIFO enabled bits and RX data available";
  for (unsigned i = 0; i < Serial16550::kFifoSize; ++i) in(UART_RX);
  EXPECT_FALSE(irq.level);
  EXPECT_FALSE(in(UART_LSR) & UART_LSR_DR);
  EXPECT_EQ(in(UART_RX), 0) << "empty FIFO reads 0";
}

TEST_F(SerialFixture, NoInterruptWithoutOut2) {
  out(UART_IER, UART_IER_THRI);
  EXPECT_FALSE(irq.level);
}

TEST(CharBackendOpen, RejectsUnknownForms) {
  auto b = CharBackend::open("tcp:1234");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("stdio, pty, file:PATH or none"), std::string::npos);
  EXPECT_FALSE(CharBackend::open("file:/nonexistent-dir/x"));
  auto pty = CharBackend::open("pty");
  ASSERT_TRUE(pty);
  EXPECT_EQ((*pty)->description().rfind("/dev/pts/", 0), 0u);
}
