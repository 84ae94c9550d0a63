// VirtioBalloon: the traditional memory balloon (virtio 1.2 section 5.5). The host sets a target
// (num_pages, the pages it wants the guest to give up); the guest's driver inflates the balloon by
// handing page frame numbers (4 KiB pages, 5.5.6: PFN shift 12) on the inflate queue and deflates
// it on the deflate queue, and writes how many it holds into `actual`.
//
// Queues: inflateq 0, deflateq 1, statsq 2 (only with VIRTIO_BALLOON_F_STATS_VQ; it is the first
// optional queue, so its index is 2 whenever it exists). Offered: STATS_VQ always, DEFLATE_ON_OOM
// when asked (the guest then deflates under memory pressure instead of going out of memory).
//
// Inflate: every PFN is checked against guest RAM (its whole 4 KiB page must be RAM; anything else,
// a hole, MMIO, a PFN past the end, is skipped and logged rate-limited, never touched). A good page
// is given back to the host with madvise(MADV_DONTNEED) (private anonymous memory: the next guest
// access faults in a zero page) or MADV_REMOVE (shared or file memory, where DONTNEED would keep
// the pages in the file) -- unless discarding is disabled: when a VFIO container maps guest RAM for
// DMA, the pages are pinned, and dropping them would leave the IOMMU pointing at pages the VMM no
// longer maps (QEMU's ram_block_discard_disable rule). Then the balloon still inflates, for
// accounting, but gives nothing back.
// Deflate: the pages fault back in on the guest's next touch; nothing to do (no MUST_TELL_HOST).
// Stats (5.5.6.3): the driver gives one buffer of (le16 tag, le64 value) entries; the device keeps
// it, and returns it every `stats_period` to ask for fresh numbers (5.5.6.3.1).
//
// Threading: activate, queue_notified, reset and the timer callback run on the device's EventLoop
// thread. set_target, actual_bytes and stats may be called from any thread (QMP); read/write_config
// come from vCPU threads. The target and actual are atomics; the stats and the config-change hook
// are under mutex_.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/virtio/device.h"

namespace altovirt::devices {

inline constexpr uint16_t kDeviceBalloon = 5;  // virtio 1.2 section 5: traditional memory balloon

struct BalloonOptions {
  uint64_t ram_bytes = 0;            // the guest's RAM (the target is given as the guest's size)
  bool deflate_on_oom = false;       // offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM
  unsigned stats_period_s = 0;       // ask for fresh stats every N s; 0: only what the driver sends
  bool shared_memory = false;        // guest RAM is shared/file memory: MADV_REMOVE instead of DONTNEED
  // False while a VFIO container maps guest RAM (pinned for DMA): pages are then not released.
  std::function<bool()> discard_allowed = [] { return true; };
};

struct BalloonStats {
  std::map<uint16_t, uint64_t> values;  // by VIRTIO_BALLOON_S_* tag
  std::optional<std::chrono::system_clock::time_point> updated;  // none before the first report
};

class VirtioBalloon : public virtio::VirtioDevice {
 public:
  static constexpr uint64_t kPageSize = 4096;  // 5.5.6: balloon pages are 4 KiB whatever the guest's
  static constexpr uint64_t kFStatsVq = 1ull << 1, kFDeflateOnOom = 1ull << 2;
  static constexpr unsigned kInflateQueue = 0, kDeflateQueue = 1, kStatsQueue = 2;
  static constexpr uint32_t kConfigSize = 8;  // le32 num_pages, le32 actual

  static Result<std::shared_ptr<VirtioBalloon>> create(BalloonOptions options);
  ~VirtioBalloon() override;

  uint16_t device_type() const override { return kDeviceBalloon; }
  uint32_t pci_class() const override { return 0xff0000; }  // unassigned class, as QEMU's balloon
  unsigned num_queues() const override { return 3; }
  uint64_t device_features() const override;
  uint32_t config_size() const override { return kConfigSize; }
  void read_config(uint32_t offset, std::span<uint8_t> data) override;
  void write_config(uint32_t offset, std::span<const uint8_t> data) override;

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned queue) override;
  void reset() override;

  // The host's wish: the guest should have `guest_bytes` of RAM (QMP balloon's value). Clamped to
  // [0, RAM]; interrupts the driver with a configuration change.
  void set_target(uint64_t guest_bytes);
  uint64_t target_bytes() const;
  // RAM minus what the driver says the balloon holds (QMP query-balloon's actual).
  uint64_t actual_bytes() const;
  BalloonStats stats() const;
  bool discarding() const { return options_.discard_allowed(); }
  unsigned stats_period() const { return options_.stats_period_s; }

  // Counters for tests and the log.
  uint64_t pages_released() const { return released_; }
  uint64_t pfns_rejected() const { return rejected_; }

 private:
  VirtioBalloon(BalloonOptions options, UniqueFd timer) : options_(std::move(options)), timer_(std::move(timer)) {}
  void inflate();
  void deflate();
  void take_stats();
  void return_stats_buffer();
  void release(uint32_t pfn);

  BalloonOptions options_;
  UniqueFd timer_;
  const virtio::GuestRam* ram_ = nullptr;
  virtio::EventLoop* loop_ = nullptr;
  virtio::Virtqueue* inflate_ = nullptr;
  virtio::Virtqueue* deflate_ = nullptr;
  virtio::Virtqueue* stats_ = nullptr;
  std::optional<uint16_t> stats_head_;  // the driver's stats buffer while the device holds it

  std::atomic<uint32_t> num_pages_{0}, actual_pages_{0};
  std::atomic<uint64_t> released_{0}, rejected_{0};
  mutable std::mutex mutex_;
  std::function<void()> config_changed_;  // guarded by mutex_; set while active
  BalloonStats stats_values_;              // guarded by mutex_
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::devices
