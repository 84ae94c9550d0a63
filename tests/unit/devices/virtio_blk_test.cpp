// virtio-blk without a guest kernel: the test plays the guest driver against the device model over
// the real virtio-pci transport and EventLoop (as QEMU's qtest does), on a temporary raw image,
// with both I/O engines. Also the image checks (missing, directory, qcow2, locked) and the
// token bucket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>

#include "altovirt/virtio_blk/block_device.h"
#include "altovirt/virtio_blk/throttle.h"
#include "fake_guest.h"

namespace altovirt::virtio_blk {
namespace {

using virtio::testing::Driver;
using virtio::testing::FakeHost;
using virtio::testing::FakeRam;
using virtio::testing::kNext;
using virtio::testing::kWrite;
using virtio::testing::Ring;

constexpr uint64_t kBase = 0x100000;
constexpr uint64_t kRam = 0x400000;
constexpr uint64_t kImageSize = 1 << 20;  // 2048 sectors

class TempDir {
 public:
  // Under /tmp by default; `parent` for tests that need a file system with O_DIRECT (tmpfs has none).
  explicit TempDir(const std::string& parent = "/tmp") {
    std::string tmpl = parent + "/altovirt-blk-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string make_image(const std::string& path, uint64_t size, uint8_t fill = 0) {
  std::ofstream f(path, std::ios::binary);
  std::vector<char> buf(size, static_cast<char>(fill));
  f.write(buf.data(), static_cast<std::streamsize>(size));
  return path;
}

std::vector<uint8_t> file_bytes(const std::string& path, uint64_t off, size_t len) {
  std::vector<uint8_t> b(len);
  int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_EQ(::pread(fd, b.data(), len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
  ::close(fd);
  return b;
}

TEST(Image, ErrorsNameTheProblem) {
  TempDir dir;
  auto missing = Image::open(dir.file("nope.img"), {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("no such image"), std::string::npos);
  std::filesystem::create_directory(dir.file("d"));
  auto d = Image::open(dir.file("d"), {});
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("directory"), std::string::npos);
  std::string q = make_image(dir.file("q.img"), 4096);
  {
    std::fstream f(q, std::ios::in | std::ios::out | std::ios::binary);
    f.write("QFI\xfb\0\0\0\3", 8);
  }
  auto qcow = Image::open(q, {});
  ASSERT_FALSE(qcow);
  EXPECT_NE(qcow.error().message().find("qcow2"), std::string::npos);
}

TEST(Image, LockedImageIsRefused) {
  TempDir dir;
  std::string p = make_image(dir.file("a.img"), kImageSize);
  auto first = Image::open(p, {});
  ASSERT_TRUE(first) << first.error().message();
  auto second = Image::open(p, {});
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("locked"), std::string::npos);
  EXPECT_FALSE(Image::open(p, {.readonly = true})) << "a reader cannot share it with a writer";
  first = std::unexpected(Error("closed"));
  EXPECT_TRUE(Image::open(p, {.readonly = true})) << "the lock goes with the fd";
}

TEST(Throttle, TokenBucketLimitsTheRate) {
  auto t0 = std::chrono::steady_clock::now();
  Throttle t(Limits{.iops = 10}, t0);
  int admitted = 0;
  while (t.admit(false, 4096, t0)) ++admitted;
  EXPECT_EQ(admitted, 10);
  auto wait = t.wait(false, 4096, t0);
  EXPECT_GT(wait, std::chrono::milliseconds(50));
  EXPECT_LE(wait, std::chrono::milliseconds(101));
  EXPECT_TRUE(t.admit(false, 4096, t0 + std::chrono::milliseconds(101)));
  EXPECT_FALSE(t.admit(false, 4096, t0 + std::chrono::milliseconds(102)));
}

// The device admits what the bucket holds whenever its timer fires; a timer that fires late (a
// loaded host: 3 ms instead of the 1 ms asked for) must not lower the rate: the refill counts the
// real time elapsed, so each late wake-up admits the requests that time paid for.
TEST(Throttle, LateTimersStillGiveTheFullRate) {
  auto t0 = std::chrono::steady_clock::now();
  Throttle t(Limits{.iops = 1000}, t0);
  int burst = 0;
  while (t.admit(false, 4096, t0)) ++burst;
  EXPECT_EQ(burst, 1000) << "one second's worth at once";
  int admitted = 0;
  auto now = t0;
  for (int wake = 0; wake < 1000; ++wake) {  // 3 s of wake-ups, each 3 ms after the last
    EXPECT_GT(t.wait(false, 4096, now), std::chrono::nanoseconds(0)) << "the queue waits between wake-ups";
    now += std::chrono::milliseconds(3);
    while (t.admit(false, 4096, now)) ++admitted;
  }
  EXPECT_GE(admitted, 2999);
  EXPECT_LE(admitted, 3000);
}

TEST(Throttle, BytesAndReadWriteBucketsAreSeparate) {
  auto t0 = std::chrono::steady_clock::now();
  Throttle t(Limits{.bps_wr = 8192}, t0);
  EXPECT_TRUE(t.admit(true, 65536, t0)) << "a large request goes into debt";
  EXPECT_FALSE(t.admit(true, 512, t0));
  EXPECT_TRUE(t.admit(false, 65536, t0)) << "reads are not limited";
  EXPECT_GE(t.wait(true, 512, t0), std::chrono::seconds(6));
}

// The guest side of one virtio-blk device.
class BlkTest : public ::testing::TestWithParam<bool> {
 protected:
  void start(bool readonly = false, std::string serial = "disk-serial-1", Limits limits = {}, bool direct = false,
             bool discard = true) {
    // cache=none needs O_DIRECT, which /tmp may not have (tmpfs): such an image lives in the test's
    // working directory (the build tree, on a disk file system). No skip: without O_DIRECT it fails.
    if (direct) direct_dir.emplace(std::filesystem::current_path().string());
    image_path = make_image((direct ? *direct_dir : dir).file("disk.img"), kImageSize, 0xee);
    auto img = Image::open(image_path, {.readonly = readonly, .direct = direct});
    ASSERT_TRUE(img) << img.error().message();
    BlockOptions o;
    o.serial = std::move(serial);
    o.io_uring = GetParam();
    o.queue_size = 64;
    o.limits = limits;
    o.discard = discard;
    auto m = BlockDevice::create(std::make_unique<Image>(std::move(*img)), o);
    ASSERT_TRUE(m) << m.error().message();
    model = *m;
    auto l = virtio::EventLoop::create("blk");
    ASSERT_TRUE(l);
    loop = std::move(*l);
    auto d = virtio::VirtioPciDevice::create("blk", model, host, ram, *loop);
    ASSERT_TRUE(d) << d.error().message();
    dev = *d;
    driver.emplace(Driver{*dev});
    uint64_t offered = driver->device_features();
    ASSERT_TRUE(offered & (1ull << VIRTIO_BLK_F_FLUSH));
    ASSERT_TRUE(driver->negotiate(offered));
    driver->setup_queue(0, ring.layout);
    driver->driver_ok();
  }
  void TearDown() override {
    dev.reset();
    model.reset();
    loop.reset();
  }
  struct Seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
  };
  // Puts a request (header, data segments, status) on the ring; returns the status byte's address.
  uint64_t request(uint32_t type, uint64_t sector, const std::vector<Seg>& data) {
    uint16_t head = next_desc;
    uint64_t hdr = scratch;
    scratch += 16;
    ram.put<uint32_t>(hdr, type);
    ram.put<uint32_t>(hdr + 4, 0);
    ram.put<uint64_t>(hdr + 8, sector);
    uint16_t i = next_desc;
    auto next = [&] { return static_cast<uint16_t>((i + 1) % ring.layout.size); };
    ring.desc(i, hdr, 16, kNext, next());
    i = next();
    for (auto& s : data) {
      ring.desc(i, s.gpa, s.len, static_cast<uint16_t>(kNext | (s.write ? kWrite : 0)), next());
      i = next();
    }
    uint64_t status = scratch++;
    ram.put<uint8_t>(status, 0xff);
    ring.desc(i, status, 1, kWrite);
    next_desc = next();
    ring.publish(head);
    return status;
  }
  // Kicks and waits until `n` requests in total have completed.
  void run(uint16_t n) {
    driver->kick(0);
    ASSERT_TRUE(virtio::testing::eventually([&] { return ring.used_idx() == n; })) << "used " << ring.used_idx();
  }
  TempDir dir;
  std::optional<TempDir> direct_dir;
  std::string image_path;
  FakeRam ram{kBase, kRam};
  Ring ring{ram, kBase, 64};
  uint64_t scratch = kBase + 0x10000;  // headers and status bytes
  uint16_t next_desc = 0;
  FakeHost host;
  std::shared_ptr<BlockDevice> model;
  std::unique_ptr<virtio::EventLoop> loop;
  std::shared_ptr<virtio::VirtioPciDevice> dev;
  std::optional<Driver> driver;
};

constexpr uint64_t kBuf = kBase + 0x100000;

TEST_P(BlkTest, ConfigSpaceDescribesTheDisk) {
  start();
  EXPECT_EQ(driver->read<uint64_t>(virtio::VirtioPciDevice::kDeviceOffset + offsetof(virtio_blk_config, capacity)),
            kImageSize / 512);
  EXPECT_EQ(driver->read<uint32_t>(virtio::VirtioPciDevice::kDeviceOffset + offsetof(virtio_blk_config, seg_max)), 62u);
  EXPECT_EQ(driver->read<uint32_t>(virtio::VirtioPciDevice::kDeviceOffset + offsetof(virtio_blk_config, blk_size)), 512u);
}

TEST_P(BlkTest, WriteThenReadBackAcrossSeveralSegments) {
  start();
  for (unsigned i = 0; i < 1536; ++i) ram.put<uint8_t>(kBuf + i, static_cast<uint8_t>(i * 7));
  uint64_t st = request(VIRTIO_BLK_T_OUT, 3, {{kBuf, 512, false}, {kBuf + 512, 1024, false}});
  run(1);
  EXPECT_EQ(ram.get<uint8_t>(st), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ring.used_len(0), 1u) << "a write only writes the status byte";
  auto bytes = file_bytes(image_path, 3 * 512, 1536);
  for (unsigned i = 0; i < 1536; ++i) ASSERT_EQ(bytes[i], static_cast<uint8_t>(i * 7)) << i;
  EXPECT_EQ(file_bytes(image_path, 3 * 512 - 1, 1)[0], 0xee) << "nothing before the range";

  st = request(VIRTIO_BLK_T_IN, 3, {{kBuf + 0x10000, 1024, true}, {kBuf + 0x20000, 512, true}});
  run(2);
  EXPECT_EQ(ram.get<uint8_t>(st), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ring.used_len(1), 1536u + 1);
  EXPECT_EQ(ram.get<uint8_t>(kBuf + 0x10000 + 5), static_cast<uint8_t>(5 * 7));
  EXPECT_EQ(ram.get<uint8_t>(kBuf + 0x20000 + 1), static_cast<uint8_t>(1025 * 7));
}

TEST_P(BlkTest, FlushGetIdAndBadType) {
  start();
  uint64_t flush = request(VIRTIO_BLK_T_FLUSH, 0, {});
  uint64_t id = request(VIRTIO_BLK_T_GET_ID, 0, {{kBuf, 20, true}});
  uint64_t bad = request(77, 0, {{kBuf + 0x1000, 512, true}});
  run(3);
  EXPECT_EQ(ram.get<uint8_t>(flush), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ram.get<uint8_t>(id), VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(kBuf))), "disk-serial-1");
  EXPECT_EQ(ram.get<uint8_t>(bad), VIRTIO_BLK_S_UNSUPP);
}

TEST_P(BlkTest, OutOfRangeAndPartialSectorsAreIoErrors) {
  start();
  uint64_t past = request(VIRTIO_BLK_T_IN, kImageSize / 512 - 1, {{kBuf, 1024, true}});
  uint64_t huge = request(VIRTIO_BLK_T_IN, ~0ull - 1, {{kBuf, 1024, true}});
  uint64_t partial = request(VIRTIO_BLK_T_OUT, 0, {{kBuf, 100, false}});
  uint64_t last = request(VIRTIO_BLK_T_IN, kImageSize / 512 - 1, {{kBuf, 512, true}});
  run(4);
  EXPECT_EQ(ram.get<uint8_t>(past), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(ram.get<uint8_t>(huge), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(ram.get<uint8_t>(partial), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(ram.get<uint8_t>(last), VIRTIO_BLK_S_OK) << "the last sector is inside";
  EXPECT_EQ(file_bytes(image_path, 0, 1)[0], 0xee);
}

TEST_P(BlkTest, DiscardAndWriteZeroes) {
  start();
  auto seg = [&](uint64_t at, uint64_t sector, uint32_t n, uint32_t flags) {
    ram.put<uint64_t>(at, sector);
    ram.put<uint32_t>(at + 8, n);
    ram.put<uint32_t>(at + 12, flags);
  };
  seg(kBuf, 8, 8, 0);
  seg(kBuf + 16, 64, 16, 0);
  seg(kBuf + 32, 8, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);  // unmap on discard: unsupported
  uint64_t discard = request(VIRTIO_BLK_T_DISCARD, 0, {{kBuf, 16, false}});
  uint64_t zeroes = request(VIRTIO_BLK_T_WRITE_ZEROES, 0, {{kBuf + 16, 16, false}});
  uint64_t unmap = request(VIRTIO_BLK_T_DISCARD, 0, {{kBuf + 32, 16, false}});
  run(3);
  EXPECT_EQ(ram.get<uint8_t>(discard), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ram.get<uint8_t>(zeroes), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ram.get<uint8_t>(unmap), VIRTIO_BLK_S_UNSUPP);
  auto z = file_bytes(image_path, 64 * 512, 16 * 512);
  EXPECT_TRUE(std::all_of(z.begin(), z.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(file_bytes(image_path, 80 * 512, 1)[0], 0xee) << "only the range";
  auto d = file_bytes(image_path, 8 * 512, 8 * 512);
  EXPECT_TRUE(std::all_of(d.begin(), d.end(), [](uint8_t b) { return b == 0; })) << "a punched hole reads zeroes";
  struct stat st{};
  ASSERT_EQ(::stat(image_path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kImageSize) << "discard keeps the size";
}

TEST_P(BlkTest, DiscardIgnoreNeitherOffersNorPunches) {
  start(false, "disk-serial-1", {}, false, /*discard=*/false);
  uint64_t offered = driver->device_features();
  EXPECT_FALSE(offered & (1ull << VIRTIO_BLK_F_DISCARD)) << "discard=ignore offers no DISCARD";
  EXPECT_TRUE(offered & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
  ram.put<uint64_t>(kBuf, 8);
  ram.put<uint32_t>(kBuf + 8, 8);
  ram.put<uint32_t>(kBuf + 12, 0);
  uint64_t discard = request(VIRTIO_BLK_T_DISCARD, 0, {{kBuf, 16, false}});
  run(1);
  EXPECT_EQ(ram.get<uint8_t>(discard), VIRTIO_BLK_S_UNSUPP) << "a discard the device never offered";
  EXPECT_EQ(file_bytes(image_path, 8 * 512, 1)[0], 0xee) << "the image is untouched";
}

TEST_P(BlkTest, ReadOnlyDriveRefusesWrites) {
  start(true);
  EXPECT_TRUE(driver->device_features() & (1ull << VIRTIO_BLK_F_RO));
  ram.put<uint8_t>(kBuf, 0x42);
  uint64_t w = request(VIRTIO_BLK_T_OUT, 0, {{kBuf, 512, false}});
  uint64_t r = request(VIRTIO_BLK_T_IN, 0, {{kBuf + 0x1000, 512, true}});
  run(2);
  EXPECT_EQ(ram.get<uint8_t>(w), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(ram.get<uint8_t>(r), VIRTIO_BLK_S_OK);
  EXPECT_EQ(file_bytes(image_path, 0, 1)[0], 0xee);
}

TEST_P(BlkTest, MissingStatusByteOrShortHeader) {
  start();
  // Header only, no writable status: the request is dropped (used length 0).
  ram.put<uint32_t>(scratch, VIRTIO_BLK_T_IN);
  ring.desc(0, scratch, 16, 0);
  ring.publish(0);
  // An 8-byte header: IOERR.
  ring.desc(1, scratch, 8, kNext, 2);
  ring.desc(2, scratch + 0x100, 1, kWrite);
  ring.publish(1);
  run(2);
  EXPECT_EQ(ring.used_len(0), 0u);
  EXPECT_EQ(ram.get<uint8_t>(scratch + 0x100), VIRTIO_BLK_S_IOERR);
  EXPECT_FALSE(driver->status() & virtio::VirtioPciDevice::kNeedsReset);
}

TEST_P(BlkTest, ResetWithRequestsInFlight) {
  start();
  for (int i = 0; i < 20; ++i) request(i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 16u * i, {{kBuf + 0x2000u * i, 4096, i % 2 == 0}});
  driver->kick(0);
  driver->set_status(0);  // returns only when the model has drained
  EXPECT_EQ(driver->status(), 0);
  EXPECT_EQ(model->in_flight(), 0u);
  uint16_t used = ring.used_idx();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ring.used_idx(), used) << "nothing completes into the rings after the reset";
  // The device works again after a new initialisation.
  Ring fresh(ram, kBase + 0x8000, 64);
  ASSERT_TRUE(driver->negotiate(driver->device_features()));
  driver->setup_queue(0, fresh.layout);
  driver->driver_ok();
  fresh.desc(0, scratch, 16, kNext, 1);
  ram.put<uint32_t>(scratch, VIRTIO_BLK_T_FLUSH);
  fresh.desc(1, scratch + 0x100, 1, kWrite);
  fresh.publish(0);
  driver->kick(0);
  ASSERT_TRUE(virtio::testing::eventually([&] { return fresh.used_idx() == 1; }));
  EXPECT_EQ(ram.get<uint8_t>(scratch + 0x100), VIRTIO_BLK_S_OK);
}

TEST_P(BlkTest, ManyRequestsInFlight) {
  start();
  for (int i = 0; i < 21; ++i) {  // 3 descriptors each in a ring of 64
    for (int b = 0; b < 512; ++b) ram.put<uint8_t>(kBuf + 512u * i + b, static_cast<uint8_t>(i));
    request(VIRTIO_BLK_T_OUT, static_cast<uint64_t>(i), {{kBuf + 512u * i, 512, false}});
  }
  run(21);
  auto bytes = file_bytes(image_path, 0, 21 * 512);
  for (int i = 0; i < 21; ++i) EXPECT_EQ(bytes[512u * i + 100], i);
}

TEST_P(BlkTest, DirectIoBouncesMisalignedBuffers) {
  start(false, "s", {}, true);  // cache=none
  if (::testing::Test::IsSkipped()) return;
  // Guest buffers at odd addresses and split at odd lengths: O_DIRECT cannot take them as they are.
  for (unsigned i = 0; i < 1024; ++i) ram.put<uint8_t>(kBuf + 3 + i, static_cast<uint8_t>(i ^ 0x5a));
  uint64_t w = request(VIRTIO_BLK_T_OUT, 2, {{kBuf + 3, 100, false}, {kBuf + 103, 924, false}});
  uint64_t aligned = request(VIRTIO_BLK_T_OUT, 4, {{kBuf + 0x4000, 512, false}});
  run(2);
  EXPECT_EQ(ram.get<uint8_t>(w), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ram.get<uint8_t>(aligned), VIRTIO_BLK_S_OK);
  auto bytes = file_bytes(image_path, 2 * 512, 1024);
  for (unsigned i = 0; i < 1024; ++i) ASSERT_EQ(bytes[i], static_cast<uint8_t>(i ^ 0x5a)) << i;
  uint64_t r = request(VIRTIO_BLK_T_IN, 2, {{kBuf + 0x8001, 1000, true}, {kBuf + 0x9001, 24, true}});
  run(3);
  EXPECT_EQ(ram.get<uint8_t>(r), VIRTIO_BLK_S_OK);
  EXPECT_EQ(ram.get<uint8_t>(kBuf + 0x8001 + 999), static_cast<uint8_t>(999 ^ 0x5a));
  EXPECT_EQ(ram.get<uint8_t>(kBuf + 0x9001 + 23), static_cast<uint8_t>(1023 ^ 0x5a));
}

TEST_P(BlkTest, IopsLimitSpreadsRequestsOverTime) {
  start(false, "s", Limits{.iops = 20});
  // 20 requests fit in the bucket (one second's worth); 10 more must wait for 10/20 s of refill,
  // however fast the first 20 went. A lower bound only: a loaded machine may add to it.
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) request(VIRTIO_BLK_T_FLUSH, 0, {});
  run(20);
  next_desc = 0;
  for (int i = 0; i < 10; ++i) request(VIRTIO_BLK_T_FLUSH, 0, {});
  driver->kick(0);
  ASSERT_TRUE(virtio::testing::eventually([&] { return ring.used_idx() == 30; }));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(490)) << "30 requests at 20/s with a burst of 20";
  EXPECT_LT(took, std::chrono::seconds(4));
}

INSTANTIATE_TEST_SUITE_P(Engines, BlkTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "io_uring" : "threads"; });

}  // namespace
}  // namespace altovirt::virtio_blk
