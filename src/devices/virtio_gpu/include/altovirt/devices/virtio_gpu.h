// VirtioGpu: the virtio GPU device in 2D mode (virtio 1.2 section 5.7), one scanout.
//
// The guest keeps its framebuffers in its own RAM ("backing", a scatter list of guest pages given
// with RESOURCE_ATTACH_BACKING); the device keeps a host copy of each resource. TRANSFER_TO_HOST_2D
// copies a rectangle from the backing into the host copy, SET_SCANOUT chooses the resource (and the
// rectangle of it) the display shows, and RESOURCE_FLUSH hands the changed rectangle to the
// ui::Display (the VNC server). Only the flushed rectangles reach the display: the dirty rectangles
// a VNC client is sent.
//
// Everything in a request is the guest's: a request shorter than its command's structure, an
// unknown command, a resource id that does not exist or exists already, a rectangle outside its
// resource, a transfer reaching past the backing, a backing entry outside guest RAM, a scanout id
// other than 0, a resource bigger than the host memory budget: each is answered with the error
// response 5.7.6.7 names (ERR_INVALID_RESOURCE_ID, ERR_INVALID_PARAMETER, ERR_INVALID_SCANOUT_ID,
// ERR_OUT_OF_MEMORY, ERR_UNSPEC), logged rate-limited, and changes nothing. 3D, blob and capset
// commands are not offered (no VIRGL, BLOB or CONTEXT_INIT feature) and get ERR_UNSPEC.
//
// Fences (VIRTIO_GPU_FLAG_FENCE): every command completes before its response is pushed, so the
// response simply carries the fence id back (5.7.6.7: "the device MUST ... set the flag ... and
// the fence_id" once the command is done).
//
// Threading: activate, queue_notified and reset run on the device's EventLoop thread (the transport's
// contract); the resources and the scanout are that thread's alone. read_config/write_config come
// from vCPU threads and touch only the atomic event bits.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/log.h"
#include "altovirt/ui/display.h"
#include "altovirt/virtio/device.h"

namespace altovirt::devices {

inline constexpr uint16_t kDeviceGpu = 16;  // virtio 1.2 section 5: GPU device

struct GpuOptions {
  uint32_t xres = 1280, yres = 800;            // the mode GET_DISPLAY_INFO offers (QEMU's default)
  uint64_t max_hostmem = 256ull << 20;         // host copies of all resources together (QEMU's max_hostmem)
};

class VirtioGpu : public virtio::VirtioDevice {
 public:
  VirtioGpu(std::shared_ptr<ui::Display> display, const GpuOptions& options);
  ~VirtioGpu() override;

  uint16_t device_type() const override { return kDeviceGpu; }
  uint32_t pci_class() const override { return 0x038000; }  // display controller, other (as QEMU's virtio-gpu-pci)
  unsigned num_queues() const override { return 2; }        // controlq, cursorq (5.7.2)
  uint64_t device_features() const override { return virtio::kFIndirectDesc | virtio::kFEventIdx; }
  uint32_t config_size() const override { return 16; }      // struct virtio_gpu_config
  void read_config(uint32_t offset, std::span<uint8_t> data) override;
  void write_config(uint32_t offset, std::span<const uint8_t> data) override;

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned queue) override;
  void reset() override;

  // For tests: how many resources exist and how many host bytes they hold.
  size_t resource_count() const { return resources_.size(); }
  uint64_t hostmem_used() const { return hostmem_used_; }

 private:
  struct Resource {
    uint32_t format = 0, width = 0, height = 0;
    std::vector<uint8_t> pixels;                 // width * height * 4, in the resource's format
    std::vector<std::span<uint8_t>> backing;     // guest pages, fixed for the VM's life
    uint64_t backing_bytes = 0;
    bool has_backing = false;
  };
  struct Scanout {
    uint32_t resource_id = 0;  // 0: disabled
    ui::Rect r;                // the part of the resource shown
  };

  void process_control();
  void process_cursor();
  // Runs one control command: the response header's type, and any response body in `body`.
  uint32_t execute(uint32_t type, const virtio::Chain& chain, std::vector<uint8_t>& body);
  uint32_t create_2d(const virtio::Chain& chain);
  uint32_t unref(const virtio::Chain& chain);
  uint32_t set_scanout(const virtio::Chain& chain);
  uint32_t flush(const virtio::Chain& chain);
  uint32_t transfer_to_host(const virtio::Chain& chain);
  uint32_t attach_backing(const virtio::Chain& chain);
  uint32_t detach_backing(const virtio::Chain& chain);
  void display_info(std::vector<uint8_t>& body) const;
  // Shows rectangle `r` of the scanned-out resource (resource coordinates, already clipped).
  void show(const Resource& res, const ui::Rect& r);
  void disable_scanout();
  template <typename... Args>
  uint32_t bad(uint32_t response, fmt::format_string<Args...> f, Args&&... args);

  std::shared_ptr<ui::Display> display_;
  GpuOptions options_;
  const virtio::GuestRam* ram_ = nullptr;
  virtio::Virtqueue* control_ = nullptr;
  virtio::Virtqueue* cursor_ = nullptr;
  std::map<uint32_t, Resource> resources_;
  uint64_t hostmem_used_ = 0;
  Scanout scanout_;
  std::vector<uint8_t> convert_;  // a flushed rectangle in XRGB8888, for resources in other formats
  std::atomic<uint32_t> events_read_{0};
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::devices
