// VncServer: the VM's screen, keyboard and pointer over RFB (VNC), on libvncserver.
//
// Where it listens: TCP (-vnc HOST:N is port 5900 + N on HOST; `to=M` lets it take the first free
// display from N to M, as QEMU's) or a Unix socket (-vnc unix:PATH). altovirt binds the socket
// itself, so that a port in use is an error before the guest runs, and hands each accepted
// connection to libvncserver. Any number of clients at once (all shared). With a password, clients
// must pass VNC authentication (RFB 7.2.2; only the first 8 characters count, as in every VNC
// server); without one, anyone who reaches the socket gets the screen.
//
// The screen: a display device (virtio-gpu) calls Display::update()/resize() from its own thread.
// Those only copy the pixels into a shadow surface and note the dirty rectangle (under a mutex, a
// memcpy long); the VNC thread moves dirty rectangles into libvncserver's framebuffer before each
// round of client I/O, so libvncserver's buffer is touched by one thread only, and clients get
// just the rectangles that changed. Between machines (a guest reset) the surface stays, so the
// clients stay connected.
//
// Input: key and pointer events from any client go to the keyboard and tablet InputSinks the current
// machine attached (set_keyboard, set_tablet), as Linux input events (keysyms mapped to evdev key codes for a US
// layout; pointer positions scaled to the tablet's 0..32767).
//
// Threading: start() and the destructor on the main thread; Display methods from one device
// thread; set_keyboard/set_tablet from the main thread; the rest runs on the server's own thread ("vnc"),
// which confines itself with the sandbox's vnc role.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/ui/display.h"

namespace altovirt::ui {

struct VncOptions {
  std::string host = "127.0.0.1";  // TCP: the address to listen on ("" or "0.0.0.0": every IPv4 address)
  unsigned display = 0;            // port 5900 + display
  std::optional<unsigned> to;      // take the first free display in [display, to]
  std::string unix_path;           // a Unix socket instead of TCP
  std::string password;            // VNC authentication when not empty
  uint32_t width = 1280, height = 800;  // the surface before the guest sets a mode
};

// "-vnc" text (QEMU's syntax): ":N", "HOST:N", "unix:PATH", each with ",to=M", ",password-secret=ID"
// (resolved by the caller: `secret` gives its value) and ",password=on" (QEMU's older form, needs a
// secret too). The error names the option and says what is accepted.
struct VncSpec {
  VncOptions options;
  std::string password_secret;  // -object secret id the password comes from, "" for none
  std::string text;
};
Result<VncSpec> parse_vnc(const std::string& text);

// The evdev key code (linux/input-event-codes.h) of an X11 keysym on a US keyboard, 0 for none.
uint16_t keysym_to_key(uint32_t keysym);

class VncServer : public Display {
 public:
  // Binds the socket and starts the thread. Errors name the address and say what to do.
  static Result<std::unique_ptr<VncServer>> start(const VncOptions& options);
  ~VncServer() override;

  // Where clients connect: "127.0.0.1:5900", "[::]:5901", or "unix:PATH".
  const std::string& address() const { return address_; }
  // The display number (port - 5900), for `altoctl vncdisplay`; nullopt for a Unix socket.
  std::optional<unsigned> display_number() const { return display_; }

  // The current machine's keyboard and tablet (nullptr when it has none, or between machines).
  void set_keyboard(std::shared_ptr<InputSink> keyboard);
  void set_tablet(std::shared_ptr<InputSink> tablet);

  void resize(uint32_t width, uint32_t height) override;
  void update(const Rect& r, std::span<const uint8_t> pixels, uint32_t stride) override;
  void blank() override;

  // For tests and the log: clients connected now, and framebuffer updates handed to libvncserver.
  unsigned clients() const { return clients_.load(); }
  // The clients connected now (QMP query-vnc), any thread.
  struct Client {
    std::string host, service;
  };
  std::vector<Client> client_list() const;
  bool password_required() const { return password_required_; }
  uint64_t rects_marked() const { return rects_marked_.load(); }

  struct Impl;  // libvncserver's state and callbacks (vnc/vnc_server.cpp)

 private:
  VncServer() = default;
  void run();

  std::string address_;
  std::optional<unsigned> display_;
  UniqueFd listen_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> quit_{false};
  std::atomic<unsigned> clients_{0};
  std::atomic<uint64_t> rects_marked_{0};
  bool password_required_ = false;
  mutable std::mutex clients_mutex_;
  std::vector<std::pair<const void*, Client>> client_list_;  // by libvncserver's client record

  // The shadow surface and what changed in it since the VNC thread last looked (under mutex_).
  std::mutex mutex_;
  uint32_t width_ = 0, height_ = 0;
  std::vector<uint8_t> shadow_;
  std::vector<Rect> dirty_;
  bool resized_ = false;
  std::shared_ptr<InputSink> keyboard_, tablet_;
};

}  // namespace altovirt::ui
