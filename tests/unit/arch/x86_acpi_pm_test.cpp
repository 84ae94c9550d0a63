// ACPI PM1 registers: W1C status, SCI level, S5 -> poweroff, the PM timer; reset control and the
// keyboard-controller reset.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "altovirt/arch/x86/acpi_pm.h"
#include "altovirt/arch/x86/legacy.h"

using namespace altovirt::devices;
using namespace altovirt::arch::x86;

namespace {
struct Line : IrqLine {
  bool level = false;
  void set_level(bool l) override { level = l; }
};
struct Control : MachineControl {
  std::vector<ShutdownReason> requests;
  void request_shutdown(ShutdownReason r) override { requests.push_back(r); }
};
uint32_t rd(IoHandler& h, uint64_t off, size_t size) {
  uint8_t b[4] = {};
  h.io_read(off, std::span(b, size));
  uint32_t v = 0;
  std::memcpy(&v, b, size);
  return v;
}
void wr(IoHandler& h, uint64_t off, size_t size, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  h.io_write(off, std::span<const uint8_t>(b, size));
}
}  // namespace

TEST(AcpiPm, SciEnIsAlwaysSet) {
  Line sci;
  Control c;
  AcpiPm pm(sci, c, 5);
  EXPECT_EQ(rd(pm, 4, 2) & 1, 1u);
  wr(pm, 4, 2, 0);
  EXPECT_EQ(rd(pm, 4, 2) & 1, 1u);
}

TEST(AcpiPm, PowerButtonRaisesSciOnlyWhenEnabledAndStatusIsW1C) {
  Line sci;
  Control c;
  AcpiPm pm(sci, c, 5);
  pm.press_power_button();
  EXPECT_EQ(rd(pm, 0, 2), 1u << 8);
  EXPECT_FALSE(sci.level) << "PWRBTN_EN is clear";
  wr(pm, 2, 2, 1u << 8);
  EXPECT_TRUE(sci.level);
  wr(pm, 0, 2, 0);
  EXPECT_TRUE(sci.level) << "writing 0 clears nothing";
  wr(pm, 0, 2, 1u << 8);
  EXPECT_EQ(rd(pm, 0, 2), 0u);
  EXPECT_FALSE(sci.level);
}

TEST(AcpiPm, SleepTypeS5PowersOffOthersDoNot) {
  Line sci;
  Control c;
  AcpiPm pm(sci, c, 5);
  wr(pm, 4, 2, (3u << 10) | (1u << 13));  // S3
  EXPECT_TRUE(c.requests.empty());
  wr(pm, 4, 2, 5u << 10);  // SLP_TYP without SLP_EN
  EXPECT_TRUE(c.requests.empty());
  wr(pm, 4, 2, (5u << 10) | (1u << 13));
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0], ShutdownReason::poweroff);
  EXPECT_EQ(rd(pm, 4, 2) & (1u << 13), 0u) << "SLP_EN is write-only";
}

TEST(AcpiPm, TimerCountsAt3_58MHz) {
  Line sci;
  Control c;
  AcpiPm pm(sci, c, 5);
  uint32_t a = rd(pm, 8, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint32_t b = rd(pm, 8, 4);
  EXPECT_GE(b - a, 3579545u / 50 - 1000) << "at least ~20 ms worth of ticks";
  EXPECT_EQ(rd(pm, 12, 4), 0xffffffffu) << "outside the block";
}

TEST(ResetControl, ResetOnBit2RisingEdge) {
  Control c;
  ResetControl r(c);
  wr(r, 0, 1, 0x02);
  EXPECT_TRUE(c.requests.empty());
  wr(r, 0, 1, 0x06);
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0], ShutdownReason::reset);
  wr(r, 0, 4, 0x06);  // not a byte access: ignored
  EXPECT_EQ(c.requests.size(), 1u);
}

TEST(I8042, CommandFEResets) {
  Control c;
  I8042 k(c);
  EXPECT_EQ(rd(k, 4, 1) & 0x02, 0u) << "input buffer empty: the guest may send a command";
  wr(k, 4, 1, 0xd1);
  EXPECT_TRUE(c.requests.empty());
  wr(k, 4, 1, 0xfe);
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0], ShutdownReason::reset);
}

TEST(I8042, StatusSaysNoControllerSoFirmwareSkipsIt) {
  Control c;
  I8042 k(c);
  // edk2 (Ps2KeyboardDxe, Ps2MouseDxe): both KBC_PARE (0x80) and KBC_TIM (0x40) set = no controller.
  EXPECT_EQ(rd(k, 4, 1) & 0xc0, 0xc0u);
  EXPECT_EQ(rd(k, 4, 1) & 0x01, 0u) << "nothing to read (output buffer empty)";
  EXPECT_EQ(rd(k, 0, 1), 0xffu) << "the data port reads as undecoded";
  EXPECT_EQ(rd(k, 1, 1), 0u) << "port 0x61 (system control port B) is not the controller's";
  wr(k, 4, 1, 0xaa);  // a self-test that nobody answers
  EXPECT_EQ(rd(k, 4, 1) & 0x01, 0u);
  EXPECT_TRUE(c.requests.empty());
}

TEST(CmosRtc, TimeIsBcdAndValid) {
  CmosRtc rtc;
  wr(rtc, 0, 1, 0x0b);
  EXPECT_EQ(rd(rtc, 1, 1), 0x02u) << "24-hour BCD";
  wr(rtc, 0, 1, 0x0a);
  EXPECT_EQ(rd(rtc, 1, 1) & 0x80, 0u) << "no update in progress";
  wr(rtc, 0, 1, 0x08);
  uint32_t month = rd(rtc, 1, 1);
  EXPECT_GE(month, 1u);
  EXPECT_LE(month, 0x12u);
  EXPECT_LE(month & 0xf, 9u);
}
