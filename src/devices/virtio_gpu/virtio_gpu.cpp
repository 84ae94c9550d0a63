#include "altovirt/devices/virtio_gpu.h"

#include <linux/virtio_gpu.h>

#include <algorithm>
#include <cstring>

namespace altovirt::devices {

namespace {

constexpr size_t kHdr = sizeof(virtio_gpu_ctrl_hdr);
// More backing entries than any sane framebuffer needs (QEMU's limit): a 256 MiB resource in 4 KiB
// pages is 65536 entries; Linux sends one entry per contiguous run.
constexpr uint32_t kMaxBackingEntries = 16384;
// The host copies are bounded by max_hostmem; the number of (tiny) resources is bounded too, so that
// the map itself cannot grow without limit.
constexpr size_t kMaxResources = 16384;
constexpr uint32_t kMaxDimension = 16384;

// Byte positions of R, G and B in a pixel of each 2D format (virtio 1.2 5.7.6.8: the formats are
// named in memory byte order; B8G8R8X8 is DRM's XRGB8888 on a little-endian guest).
struct Layout {
  uint8_t r, g, b;
};
std::optional<Layout> format_layout(uint32_t format) {
  switch (format) {
    case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM:
    case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM: return Layout{2, 1, 0};
    case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
    case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM: return Layout{1, 2, 3};
    case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
    case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: return Layout{0, 1, 2};
    case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
    case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM: return Layout{3, 2, 1};
    default: return std::nullopt;
  }
}
bool is_native(uint32_t format) {
  return format == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM || format == VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;
}

// The request structure as the driver wrote it, copied out once (no double fetch); false when the
// readable part of the chain is shorter.
template <typename T>
bool read_request(const virtio::Chain& chain, T& out) {
  return chain.read(0, std::span(reinterpret_cast<uint8_t*>(&out), sizeof out)) == sizeof out;
}

// r lies inside a width x height surface (in 64 bits: x + width cannot wrap).
bool inside(const virtio_gpu_rect& r, uint32_t width, uint32_t height) {
  return uint64_t{r.x} + r.width <= width && uint64_t{r.y} + r.height <= height;
}

}  // namespace

VirtioGpu::VirtioGpu(std::shared_ptr<ui::Display> display, const GpuOptions& options)
    : display_(std::move(display)), options_(options) {}

VirtioGpu::~VirtioGpu() = default;  // the transport resets an active model before it goes

template <typename... Args>
uint32_t VirtioGpu::bad(uint32_t response, fmt::format_string<Args...> f, Args&&... args) {
  if (limiter_.allow()) log::warn("virtio-gpu", "{}", fmt::format(f, std::forward<Args>(args)...));
  return response;
}

void VirtioGpu::read_config(uint32_t offset, std::span<uint8_t> data) {
  virtio_gpu_config c{};
  c.events_read = events_read_.load();
  c.events_clear = 0;
  c.num_scanouts = 1;
  c.num_capsets = 0;
  auto* bytes = reinterpret_cast<const uint8_t*>(&c);
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < sizeof c ? bytes[offset + i] : 0;
}

void VirtioGpu::write_config(uint32_t offset, std::span<const uint8_t> data) {
  // 5.7.4: events_clear is the only writable field; writing a bit clears it in events_read.
  if (offset != offsetof(virtio_gpu_config, events_clear) || data.size() != 4) return;
  uint32_t clear;
  std::memcpy(&clear, data.data(), 4);
  events_read_.fetch_and(~clear);
}

Status VirtioGpu::activate(const virtio::Activation& a) {
  ram_ = &a.ram;
  control_ = a.queues.size() > 0 ? a.queues[0] : nullptr;
  cursor_ = a.queues.size() > 1 ? a.queues[1] : nullptr;
  return ok();
}

void VirtioGpu::reset() {
  // 5.7.6: a reset forgets every resource; the display goes blank until the driver sets a scanout.
  resources_.clear();
  hostmem_used_ = 0;
  disable_scanout();
  control_ = cursor_ = nullptr;
  ram_ = nullptr;
}

void VirtioGpu::queue_notified(unsigned queue) {
  if (queue == 0) process_control();
  else if (queue == 1) process_cursor();
}

void VirtioGpu::process_control() {
  if (control_ == nullptr) return;
  bool pushed = false;
  while (auto chain = control_->pop()) {
    virtio_gpu_ctrl_hdr hdr{};
    std::vector<uint8_t> body;
    uint32_t type = VIRTIO_GPU_RESP_ERR_UNSPEC;
    if (!read_request(*chain, hdr)) type = bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "a request of {} bytes has no header", chain->readable_bytes());
    else type = execute(hdr.type, *chain, body);
    // The response: the header (type, and the fence carried back), then the command's data.
    virtio_gpu_ctrl_hdr resp{};
    resp.type = type;
    resp.flags = hdr.flags & (VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
    resp.fence_id = hdr.fence_id;
    resp.ctx_id = hdr.ctx_id;
    resp.ring_idx = hdr.ring_idx;
    std::vector<uint8_t> out(kHdr + body.size());
    std::memcpy(out.data(), &resp, kHdr);
    if (!body.empty()) std::memcpy(out.data() + kHdr, body.data(), body.size());
    if (chain->writable_bytes() < kHdr)
      (void)bad(0, "command {:#x}: the response buffer holds {} bytes, fewer than a header", hdr.type,
                chain->writable_bytes());
    size_t written = chain->write(0, out);
    control_->push(chain->head, static_cast<uint32_t>(written));
    pushed = true;
  }
  if (pushed) control_->notify();
}

void VirtioGpu::process_cursor() {
  // UPDATE_CURSOR / MOVE_CURSOR carry no response (5.7.6.10). The VNC clients draw their own
  // pointer (the tablet moves it), so the guest's cursor image is not shown; the requests are
  // consumed and returned.
  if (cursor_ == nullptr) return;
  bool pushed = false;
  while (auto chain = cursor_->pop()) {
    cursor_->push(chain->head, 0);
    pushed = true;
  }
  if (pushed) cursor_->notify();
}

uint32_t VirtioGpu::execute(uint32_t type, const virtio::Chain& chain, std::vector<uint8_t>& body) {
  switch (type) {
    case VIRTIO_GPU_CMD_GET_DISPLAY_INFO: display_info(body); return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
    case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: return create_2d(chain);
    case VIRTIO_GPU_CMD_RESOURCE_UNREF: return unref(chain);
    case VIRTIO_GPU_CMD_SET_SCANOUT: return set_scanout(chain);
    case VIRTIO_GPU_CMD_RESOURCE_FLUSH: return flush(chain);
    case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: return transfer_to_host(chain);
    case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: return attach_backing(chain);
    case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING: return detach_backing(chain);
    default: return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "command {:#x} is not supported (2D only)", type);
  }
}

void VirtioGpu::display_info(std::vector<uint8_t>& body) const {
  // The response after its header: 16 pmodes, the first one ours (5.7.6.8).
  decltype(virtio_gpu_resp_display_info::pmodes) modes{};
  modes[0].r.width = options_.xres;
  modes[0].r.height = options_.yres;
  modes[0].enabled = 1;
  body.resize(sizeof modes);
  std::memcpy(body.data(), &modes, sizeof modes);
}

uint32_t VirtioGpu::create_2d(const virtio::Chain& chain) {
  virtio_gpu_resource_create_2d c{};
  if (!read_request(chain, c)) return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_CREATE_2D: request too short");
  if (c.resource_id == 0 || resources_.contains(c.resource_id))
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "RESOURCE_CREATE_2D: resource id {} is 0 or exists", c.resource_id);
  if (!format_layout(c.format))
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "RESOURCE_CREATE_2D: format {} is not a 2D format", c.format);
  if (c.width == 0 || c.height == 0 || c.width > kMaxDimension || c.height > kMaxDimension)
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "RESOURCE_CREATE_2D: size {}x{} (1..{} each)", c.width, c.height,
               kMaxDimension);
  uint64_t bytes = uint64_t{c.width} * c.height * ui::kBytesPerPixel;
  if (bytes > options_.max_hostmem - hostmem_used_ || resources_.size() >= kMaxResources)
    return bad(VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, "RESOURCE_CREATE_2D: {}x{} would exceed the {} MiB for resources",
               c.width, c.height, options_.max_hostmem >> 20);
  Resource r;
  r.format = c.format;
  r.width = c.width;
  r.height = c.height;
  r.pixels.assign(bytes, 0);
  resources_.emplace(c.resource_id, std::move(r));
  hostmem_used_ += bytes;
  return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t VirtioGpu::unref(const virtio::Chain& chain) {
  virtio_gpu_resource_unref c{};
  if (!read_request(chain, c)) return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_UNREF: request too short");
  auto it = resources_.find(c.resource_id);
  if (it == resources_.end())
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "RESOURCE_UNREF: no resource {}", c.resource_id);
  if (scanout_.resource_id == c.resource_id) disable_scanout();
  hostmem_used_ -= it->second.pixels.size();
  resources_.erase(it);
  return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t VirtioGpu::set_scanout(const virtio::Chain& chain) {
  virtio_gpu_set_scanout c{};
  if (!read_request(chain, c)) return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "SET_SCANOUT: request too short");
  if (c.scanout_id != 0)
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, "SET_SCANOUT: scanout {} (there is only scanout 0)", c.scanout_id);
  if (c.resource_id == 0) {  // 5.7.6.8: resource 0 disables the scanout
    disable_scanout();
    return VIRTIO_GPU_RESP_OK_NODATA;
  }
  auto it = resources_.find(c.resource_id);
  if (it == resources_.end())
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "SET_SCANOUT: no resource {}", c.resource_id);
  const Resource& res = it->second;
  if (c.r.width == 0 || c.r.height == 0 || !inside(c.r, res.width, res.height))
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "SET_SCANOUT: rectangle {}x{}+{}+{} not inside resource {} ({}x{})",
               c.r.width, c.r.height, c.r.x, c.r.y, c.resource_id, res.width, res.height);
  bool resized = scanout_.resource_id == 0 || scanout_.r.width != c.r.width || scanout_.r.height != c.r.height;
  scanout_.resource_id = c.resource_id;
  scanout_.r = ui::Rect{c.r.x, c.r.y, c.r.width, c.r.height};
  if (resized) display_->resize(c.r.width, c.r.height);
  show(res, scanout_.r);
  return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t VirtioGpu::flush(const virtio::Chain& chain) {
  virtio_gpu_resource_flush c{};
  if (!read_request(chain, c)) return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_FLUSH: request too short");
  auto it = resources_.find(c.resource_id);
  if (it == resources_.end())
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "RESOURCE_FLUSH: no resource {}", c.resource_id);
  const Resource& res = it->second;
  if (!inside(c.r, res.width, res.height))
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "RESOURCE_FLUSH: rectangle {}x{}+{}+{} not inside resource {} ({}x{})",
               c.r.width, c.r.height, c.r.x, c.r.y, c.resource_id, res.width, res.height);
  if (scanout_.resource_id != c.resource_id) return VIRTIO_GPU_RESP_OK_NODATA;  // not on screen
  // The flushed rectangle clipped to the part of the resource the scanout shows.
  const ui::Rect& s = scanout_.r;
  uint32_t x0 = std::max(c.r.x, s.x), y0 = std::max(c.r.y, s.y);
  uint32_t x1 = std::min(c.r.x + c.r.width, s.x + s.width), y1 = std::min(c.r.y + c.r.height, s.y + s.height);
  if (x0 < x1 && y0 < y1) show(res, ui::Rect{x0, y0, x1 - x0, y1 - y0});
  return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t VirtioGpu::transfer_to_host(const virtio::Chain& chain) {
  virtio_gpu_transfer_to_host_2d c{};
  if (!read_request(chain, c)) return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "TRANSFER_TO_HOST_2D: request too short");
  auto it = resources_.find(c.resource_id);
  if (it == resources_.end())
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "TRANSFER_TO_HOST_2D: no resource {}", c.resource_id);
  Resource& res = it->second;
  if (!res.has_backing)
    return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "TRANSFER_TO_HOST_2D: resource {} has no backing", c.resource_id);
  if (!inside(c.r, res.width, res.height))
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "TRANSFER_TO_HOST_2D: rectangle {}x{}+{}+{} not inside resource {} ({}x{})",
               c.r.width, c.r.height, c.r.x, c.r.y, c.resource_id, res.width, res.height);
  if (c.r.width == 0 || c.r.height == 0) return VIRTIO_GPU_RESP_OK_NODATA;
  // Row h of the rectangle comes from backing offset `offset + h * stride` (the driver's offset
  // already points at the rectangle's first pixel; QEMU reads it the same way). All rows must lie
  // inside the backing: checked once, in 64 bits, before anything is copied.
  const uint64_t stride = uint64_t{res.width} * ui::kBytesPerPixel;
  const uint64_t row = uint64_t{c.r.width} * ui::kBytesPerPixel;
  const uint64_t last = uint64_t{c.r.height - 1} * stride + row;
  if (c.offset > res.backing_bytes || last > res.backing_bytes - c.offset)
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
               "TRANSFER_TO_HOST_2D: rows from offset {} reach {} bytes past the backing of resource {} ({} bytes)",
               c.offset, c.offset + last - res.backing_bytes, c.resource_id, res.backing_bytes);
  // Walks the scatter list once per row: entries before the row's start are skipped by a running
  // position (rows go forward).
  size_t entry = 0;
  uint64_t entry_start = 0;
  for (uint32_t h = 0; h < c.r.height; ++h) {
    uint64_t src = c.offset + h * stride;
    uint8_t* dst = res.pixels.data() + (uint64_t{c.r.y} + h) * stride + uint64_t{c.r.x} * ui::kBytesPerPixel;
    uint64_t left = row;
    while (entry < res.backing.size() && entry_start + res.backing[entry].size() <= src) {
      entry_start += res.backing[entry].size();
      ++entry;
    }
    size_t e = entry;
    uint64_t e_start = entry_start;
    while (left > 0 && e < res.backing.size()) {
      uint64_t in = src - e_start;
      uint64_t n = std::min<uint64_t>(left, res.backing[e].size() - in);
      std::memcpy(dst, res.backing[e].data() + in, n);
      dst += n;
      src += n;
      left -= n;
      e_start += res.backing[e].size();
      ++e;
    }
  }
  return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t VirtioGpu::attach_backing(const virtio::Chain& chain) {
  virtio_gpu_resource_attach_backing c{};
  if (!read_request(chain, c)) return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_ATTACH_BACKING: request too short");
  auto it = resources_.find(c.resource_id);
  if (it == resources_.end())
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "RESOURCE_ATTACH_BACKING: no resource {}", c.resource_id);
  Resource& res = it->second;
  if (res.has_backing)
    return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_ATTACH_BACKING: resource {} has a backing already", c.resource_id);
  if (c.nr_entries == 0 || c.nr_entries > kMaxBackingEntries)
    return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_ATTACH_BACKING: {} entries (1..{})", c.nr_entries, kMaxBackingEntries);
  // The entries follow the request in the driver's buffers (5.7.6.8), read once into a copy.
  std::vector<virtio_gpu_mem_entry> entries(c.nr_entries);
  auto bytes = std::span(reinterpret_cast<uint8_t*>(entries.data()), entries.size() * sizeof(virtio_gpu_mem_entry));
  if (chain.read(sizeof c, bytes) != bytes.size())
    return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_ATTACH_BACKING: {} entries announced, the request is shorter",
               c.nr_entries);
  std::vector<std::span<uint8_t>> backing;
  backing.reserve(entries.size());
  uint64_t total = 0;
  for (const auto& e : entries) {
    auto s = ram_->slice(e.addr, e.length);
    if (!s)
      return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_ATTACH_BACKING: entry [{:#x}, +{:#x}) of resource {} is not guest RAM",
                 e.addr, e.length, c.resource_id);
    backing.push_back(*s);
    total += e.length;
  }
  res.backing = std::move(backing);
  res.backing_bytes = total;
  res.has_backing = true;
  return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t VirtioGpu::detach_backing(const virtio::Chain& chain) {
  virtio_gpu_resource_detach_backing c{};
  if (!read_request(chain, c)) return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_DETACH_BACKING: request too short");
  auto it = resources_.find(c.resource_id);
  if (it == resources_.end())
    return bad(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "RESOURCE_DETACH_BACKING: no resource {}", c.resource_id);
  if (!it->second.has_backing)
    return bad(VIRTIO_GPU_RESP_ERR_UNSPEC, "RESOURCE_DETACH_BACKING: resource {} has no backing", c.resource_id);
  it->second.backing.clear();
  it->second.backing_bytes = 0;
  it->second.has_backing = false;
  return VIRTIO_GPU_RESP_OK_NODATA;
}

void VirtioGpu::show(const Resource& res, const ui::Rect& r) {
  const uint32_t stride = res.width * ui::kBytesPerPixel;
  ui::Rect on_screen{r.x - scanout_.r.x, r.y - scanout_.r.y, r.width, r.height};
  const uint8_t* first = res.pixels.data() + uint64_t{r.y} * stride + uint64_t{r.x} * ui::kBytesPerPixel;
  size_t span_bytes = uint64_t{r.height - 1} * stride + uint64_t{r.width} * ui::kBytesPerPixel;
  if (is_native(res.format)) {
    display_->update(on_screen, std::span(first, span_bytes), stride);
    return;
  }
  // Another byte order: converted row by row into XRGB8888 (B, G, R, X in memory).
  Layout l = *format_layout(res.format);
  const uint32_t out_stride = r.width * ui::kBytesPerPixel;
  convert_.resize(uint64_t{out_stride} * r.height);
  for (uint32_t y = 0; y < r.height; ++y) {
    const uint8_t* in = first + uint64_t{y} * stride;
    uint8_t* out = convert_.data() + uint64_t{y} * out_stride;
    for (uint32_t x = 0; x < r.width; ++x, in += 4, out += 4) {
      out[0] = in[l.b];
      out[1] = in[l.g];
      out[2] = in[l.r];
      out[3] = 0xff;
    }
  }
  display_->update(on_screen, convert_, out_stride);
}

void VirtioGpu::disable_scanout() {
  if (scanout_.resource_id != 0) display_->blank();
  scanout_ = Scanout{};
}

}  // namespace altovirt::devices
