// The ui layer's two interfaces between guest devices and whoever shows them (the VNC server):
//
//   Display  what a display device (virtio-gpu) hands over: the scanout's size, and rectangles of
//            pixels that changed. One pixel format everywhere: 32 bits, little-endian XRGB8888 (in
//            memory B, G, R, X), which is DRM's default and virtio-gpu's B8G8R8X8_UNORM; a device
//            converts other formats before it calls update().
//   InputSink what an input device (virtio-input) accepts: Linux input events (linux/input.h
//            types and codes), sent as one report that ends with its own SYN_REPORT.
//
// Threading: a Display's methods are called from one device thread at a time (the GPU's event
// loop), and an implementation must let them run concurrently with its own threads. An InputSink's
// send() may be called from any thread (the VNC thread); an implementation queues.
#pragma once

#include <cstdint>
#include <span>

namespace altovirt::ui {

struct Rect {
  uint32_t x = 0, y = 0, width = 0, height = 0;
};

inline constexpr uint32_t kBytesPerPixel = 4;

class Display {
 public:
  virtual ~Display() = default;
  // The scanout now shows a width x height surface (its contents follow with update()).
  virtual void resize(uint32_t width, uint32_t height) = 0;
  // Rectangle `r` (inside the surface) changed: `pixels` holds its rows, `stride` bytes apart,
  // starting at its top-left pixel.
  virtual void update(const Rect& r, std::span<const uint8_t> pixels, uint32_t stride) = 0;
  // The scanout is disabled (the guest detached it, or the device was reset).
  virtual void blank() = 0;
};

// One Linux input event (struct input_event without its time stamp, as virtio-input carries it).
struct InputEvent {
  uint16_t type = 0, code = 0;
  int32_t value = 0;
};

class InputSink {
 public:
  virtual ~InputSink() = default;
  virtual void send(std::span<const InputEvent> events) = 0;
};

// A Display that shows nothing: a virtio-gpu without -vnc (the guest still gets its framebuffer).
class NullDisplay : public Display {
 public:
  void resize(uint32_t, uint32_t) override {}
  void update(const Rect&, std::span<const uint8_t>, uint32_t) override {}
  void blank() override {}
};

}  // namespace altovirt::ui
