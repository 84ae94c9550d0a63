// The hot-reset ioctl buffers byte for byte (the C layout of vfio_pci_hot_reset_info and
// vfio_pci_hot_reset), and the reset policy against a fake device: function reset first, hot reset
// only when every affected IOMMU group is this VM's, refused (naming the blocking functions and
// groups) otherwise. The refusal is covered here because the testbed has no bus where two functions
// in different groups share a reset.
#include <cstring>
#include <map>

#include <gtest/gtest.h>

#include "altovirt/vfio/hot_reset_layout.h"
#include "altovirt/vfio/reset.h"

namespace altovirt::vfio {
namespace {

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

// What the kernel writes back: header then entries {group_id u32, segment u16, bus u8, devfn u8}.
std::vector<uint8_t> canned_info(uint32_t argsz, std::vector<std::array<uint32_t, 4>> devs, uint32_t count) {
  std::vector<uint8_t> b(argsz, 0);
  std::memcpy(b.data(), &argsz, 4);
  std::memcpy(b.data() + 8, &count, 4);
  for (size_t i = 0; i < devs.size(); ++i) {
    uint8_t* e = b.data() + 12 + i * 8;
    uint32_t group = devs[i][0];
    uint16_t seg = static_cast<uint16_t>(devs[i][1]);
    std::memcpy(e, &group, 4);
    std::memcpy(e + 4, &seg, 2);
    e[6] = static_cast<uint8_t>(devs[i][2]);
    e[7] = static_cast<uint8_t>(devs[i][3]);
  }
  return b;
}

TEST(HotResetLayout, InfoRequestCarriesArgszForItsRoom) {
  auto empty = hot_reset_info_request(0);
  ASSERT_EQ(empty.size(), 12u);
  EXPECT_EQ(u32_at(empty, 0), 12u);
  auto three = hot_reset_info_request(3);
  ASSERT_EQ(three.size(), 12u + 3 * 8);
  EXPECT_EQ(u32_at(three, 0), 36u);
  EXPECT_EQ(u32_at(three, 4), 0u);
  EXPECT_EQ(u32_at(three, 8), 0u);
}

TEST(HotResetLayout, ParsesTheKernelsAnswer) {
  // 0000:01:00.0 in group 7 and 0001:02:03.1 in group 9 (devfn = slot << 3 | function).
  auto info = canned_info(28, {{7, 0, 1, 0x00}, {9, 1, 2, (3 << 3) | 1}}, 2);
  auto devs = parse_hot_reset_info(info);
  ASSERT_TRUE(devs) << devs.error().message();
  ASSERT_EQ(devs->size(), 2u);
  EXPECT_EQ((*devs)[0], (DependentDevice{7, 0, 1, 0}));
  EXPECT_EQ((*devs)[0].address(), "0000:01:00.0");
  EXPECT_EQ((*devs)[1].group, 9u);
  EXPECT_EQ((*devs)[1].address(), "0001:02:03.1");
}

TEST(HotResetLayout, EnospcAnswerGivesTheCountAndACountPastTheBufferIsAnError) {
  auto answer = canned_info(12, {}, 4);  // argsz 12 was too small for 4 entries
  auto count = hot_reset_info_count(answer);
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 4u);
  auto bad = parse_hot_reset_info(answer);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("lists 4 devices but holds room for only 0"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(parse_hot_reset_info(std::vector<uint8_t>(8, 0)));
}

TEST(HotResetLayout, ResetRequestIsHeaderThenGroupFds) {
  std::vector<int> fds = {11, 42};
  auto b = hot_reset_request(fds);
  ASSERT_EQ(b.size(), 12u + 2 * 4);
  EXPECT_EQ(u32_at(b, 0), 20u);  // argsz
  EXPECT_EQ(u32_at(b, 4), 0u);   // flags
  EXPECT_EQ(u32_at(b, 8), 2u);   // count
  EXPECT_EQ(u32_at(b, 12), 11u);
  EXPECT_EQ(u32_at(b, 16), 42u);
}

// A device whose resets are scripted.
class FakeDevice : public Device {
 public:
  FakeDevice() : Device("0000:01:00.0", UniqueFd()) {}
  bool can_reset() const override { return function_reset; }
  Status reset() override {
    ++function_resets;
    if (function_reset_fails) return fail("resetting 0000:01:00.0: Input/output error");
    return ok();
  }
  Result<std::vector<DependentDevice>> hot_reset_info() const override {
    if (!bus_reset) return fail("0000:01:00.0 can be reset neither by its slot nor by its bus");
    return affected;
  }
  Status hot_reset(std::span<const int> fds) override {
    hot_resets.push_back(std::vector<int>(fds.begin(), fds.end()));
    return ok();
  }

  bool function_reset = true, function_reset_fails = false, bus_reset = true;
  std::vector<DependentDevice> affected = {{7, 0, 1, 0}};
  int function_resets = 0;
  std::vector<std::vector<int>> hot_resets;
};

OwnedGroupFd owning(std::map<unsigned, int> groups) {
  return [groups](unsigned g) {
    auto it = groups.find(g);
    return it == groups.end() ? -1 : it->second;
  };
}

TEST(DeviceReset, FunctionResetWhenTheDeviceHasOne) {
  FakeDevice dev;
  auto r = reset_device(dev, owning({{7, 30}}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->method, ResetMethod::function);
  EXPECT_EQ(dev.function_resets, 1);
  EXPECT_TRUE(dev.hot_resets.empty());
  EXPECT_EQ(describe(*r), "function reset (VFIO_DEVICE_RESET)");
}

TEST(DeviceReset, TheResetAtOpenCountsOnceThenTheFunctionReset) {
  FakeDevice dev;
  dev.opened_now();  // vfio-pci reset the function in this open (it offers VFIO_DEVICE_FLAGS_RESET)
  auto first = reset_device(dev, owning({{7, 30}}));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->method, ResetMethod::at_open);
  EXPECT_EQ(dev.function_resets, 0);
  EXPECT_TRUE(dev.hot_resets.empty());
  EXPECT_EQ(describe(*first), "the function reset vfio-pci did when this VM opened it");
  auto second = reset_device(dev, owning({{7, 30}}));  // after a guest reset: the device stayed open
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->method, ResetMethod::function);
  EXPECT_EQ(dev.function_resets, 1);
}

TEST(DeviceReset, NoResetAtOpenWithoutAFunctionReset) {
  FakeDevice dev;
  dev.function_reset = false;  // the open's reset failed, so vfio-pci offers none: the bus is reset
  dev.opened_now();
  auto r = reset_device(dev, owning({{7, 30}}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->method, ResetMethod::hot);
  EXPECT_EQ(dev.hot_resets.size(), 1u);
}

TEST(DeviceReset, ADeviceNotJustOpenedIsReset) {
  FakeDevice dev;  // opened_now() never called: not opened by this VM just now
  auto r = reset_device(dev, owning({{7, 30}}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->method, ResetMethod::function);
  EXPECT_EQ(dev.function_resets, 1);
}

TEST(DeviceReset, HotResetWithEveryOwnedGroupOnceWhenThereIsNoFunctionReset) {
  FakeDevice dev;
  dev.function_reset = false;
  dev.affected = {{7, 0, 1, 0}, {8, 0, 1, 1}, {7, 0, 1, 2}};  // two functions share group 7
  auto r = reset_device(dev, owning({{7, 30}, {8, 31}, {9, 32}}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->method, ResetMethod::hot);
  EXPECT_EQ(dev.function_resets, 0);
  ASSERT_EQ(dev.hot_resets.size(), 1u);
  EXPECT_EQ(dev.hot_resets[0], (std::vector<int>{30, 31}));
  EXPECT_NE(describe(*r).find("hot reset (VFIO_DEVICE_PCI_HOT_RESET) of 0000:01:00.0 (group 7), 0000:01:00.1 (group 8)"),
            std::string::npos)
      << describe(*r);
  EXPECT_NE(r->function_error.find("no function reset"), std::string::npos);
}

TEST(DeviceReset, HotResetWhenTheFunctionResetFails) {
  FakeDevice dev;
  dev.function_reset_fails = true;
  auto r = reset_device(dev, owning({{7, 30}}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->method, ResetMethod::hot);
  EXPECT_EQ(dev.function_resets, 1);
  EXPECT_EQ(dev.hot_resets.size(), 1u);
}

TEST(DeviceReset, RefusedWhenAnAffectedGroupIsNotOwned) {
  FakeDevice dev;
  dev.function_reset = false;
  dev.affected = {{7, 0, 1, 0}, {12, 0, 1, 1}};  // 01:00.1 is in group 12, which the VM does not hold
  auto r = reset_device(dev, owning({{7, 30}}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(dev.hot_resets.empty());  // nothing was reset
  const std::string msg = r.error().message();
  EXPECT_NE(msg.find("0000:01:00.0 has no function reset"), std::string::npos) << msg;
  EXPECT_NE(msg.find("would also reset 0000:01:00.1 (IOMMU group 12), which this VM does not own"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("(IOMMU group 7)"), std::string::npos) << msg;  // the owned one does not block
  EXPECT_NE(msg.find("pass it to this VM too"), std::string::npos) << msg;
  EXPECT_NE(msg.find("echo default > /sys/bus/pci/devices/0000:01:00.0/reset_method"), std::string::npos) << msg;
}

TEST(DeviceReset, RefusedWithoutAnyOwnedGroupLookup) {
  FakeDevice dev;
  dev.function_reset = false;
  auto r = reset_device(dev, OwnedGroupFd());
  ASSERT_FALSE(r);
  EXPECT_TRUE(dev.hot_resets.empty());
  EXPECT_NE(r.error().message().find("0000:01:00.0 (IOMMU group 7)"), std::string::npos) << r.error().message();
}

TEST(DeviceReset, NoResetAtAllSaysWhy) {
  FakeDevice dev;
  dev.function_reset = false;
  dev.bus_reset = false;
  auto r = reset_device(dev, owning({{7, 30}}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("neither by its slot nor by its bus"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace altovirt::vfio
