#include "altovirt/ui/vnc_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <netinet/in.h>
#include <rfb/rfb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "altovirt/base/log.h"
#include "altovirt/base/sandbox.h"
#include "rfb_api.h"

namespace altovirt::ui {

namespace {

constexpr unsigned kBasePort = 5900;
// libvncserver, loaded by the first start() (before the server's thread exists; never changes after).
const RfbApi* rfb = nullptr;
// How long one round of client I/O may wait: also the longest a changed rectangle waits before it
// is sent, and the idle wake-up rate (QEMU's VNC refresh interval is 30 ms).
constexpr long kRoundUsec = 20'000;
// More dirty rectangles than this in one round are merged into their bounding box.
constexpr size_t kMaxDirty = 32;

// libvncserver's own messages (client connects, protocol versions, errors) into altovirt's log:
// its chatter (versions, formats, encodings) at debug level, its errors as warnings.
__attribute__((format(printf, 2, 0))) void rfb_line(log::Level level, const char* format, va_list ap) {
  char line[512];
  std::vsnprintf(line, sizeof line, format, ap);
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (level == log::Level::warn) log::warn("vnc", "{}", s);
  else log::debug("vnc", "{}", s);
}
__attribute__((format(printf, 1, 2))) void rfb_log(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  rfb_line(log::Level::debug, format, ap);
  va_end(ap);
}
__attribute__((format(printf, 1, 2))) void rfb_err(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  rfb_line(log::Level::warn, format, ap);
  va_end(ap);
}

Rect bounding(const Rect& a, const Rect& b) {
  uint32_t x0 = std::min(a.x, b.x), y0 = std::min(a.y, b.y);
  uint32_t x1 = std::max(a.x + a.width, b.x + b.width), y1 = std::max(a.y + a.height, b.y + b.height);
  return Rect{x0, y0, x1 - x0, y1 - y0};
}

}  // namespace

struct VncServer::Impl {
  rfbScreenInfoPtr screen = nullptr;
  std::vector<uint8_t> framebuffer;  // libvncserver's; the VNC thread's alone
  char* passwords[2] = {nullptr, nullptr};
  std::string password;
  int last_buttons = 0;
  VncServer* owner = nullptr;

  ~Impl() {
    if (screen) rfb->screen_cleanup(screen);
  }

  static VncServer& server(rfbClientPtr cl) { return *static_cast<Impl*>(cl->screen->screenData)->owner; }

  static void client_gone(rfbClientPtr cl) {
    VncServer& s = server(cl);
    --s.clients_;
    {
      std::lock_guard lock(s.clients_mutex_);
      std::erase_if(s.client_list_, [cl](const auto& e) { return e.first == cl; });
    }
    log::info("vnc", "client {} disconnected ({} connected)", cl->host ? cl->host : "?", s.clients_.load());
  }

  static rfbNewClientAction new_client(rfbClientPtr cl) {
    VncServer& s = server(cl);
    cl->clientGoneHook = client_gone;
    ++s.clients_;
    // The peer's port for query-vnc (libvncserver keeps only its address); "" on a Unix socket.
    Client c{cl->host ? cl->host : "", ""};
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(cl->sock, reinterpret_cast<sockaddr*>(&peer), &len) == 0 && peer.sin_family == AF_INET)
      c.service = std::to_string(ntohs(peer.sin_port));
    {
      std::lock_guard lock(s.clients_mutex_);
      s.client_list_.emplace_back(cl, std::move(c));
    }
    log::info("vnc", "client {} connected ({} connected)", cl->host ? cl->host : "?", s.clients_.load());
    return RFB_CLIENT_ACCEPT;
  }

  static void key(rfbBool down, rfbKeySym sym, rfbClientPtr cl) {
    VncServer& s = server(cl);
    uint16_t code = keysym_to_key(sym);
    if (code == 0) {
      log::debug("vnc", "keysym {:#x} has no key on a US keyboard; ignored", sym);
      return;
    }
    std::shared_ptr<InputSink> kbd;
    {
      std::lock_guard lock(s.mutex_);
      kbd = s.keyboard_;
    }
    if (!kbd) return;
    InputEvent events[] = {{EV_KEY, code, down ? 1 : 0}, {EV_SYN, SYN_REPORT, 0}};
    kbd->send(events);
  }

  static void pointer(int buttons, int x, int y, rfbClientPtr cl) {
    VncServer& s = server(cl);
    Impl& impl = *s.impl_;
    std::shared_ptr<InputSink> tablet;
    uint32_t w, h;
    {
      std::lock_guard lock(s.mutex_);
      tablet = s.tablet_;
      w = s.width_;
      h = s.height_;
    }
    rfb->default_ptr_add_event(buttons, x, y, cl);  // keeps the client's cursor position
    if (!tablet) return;
    // Absolute position scaled to the tablet's range (0 .. 32767 across the screen).
    auto scale = [](int v, uint32_t size) {
      if (size <= 1 || v <= 0) return 0;
      uint64_t c = std::min<uint64_t>(static_cast<uint64_t>(v), size - 1);
      return static_cast<int32_t>(c * 32767 / (size - 1));
    };
    std::vector<InputEvent> events = {{EV_ABS, ABS_X, scale(x, w)}, {EV_ABS, ABS_Y, scale(y, h)}};
    // RFB 7.5.5: button mask bit 0 left, 1 middle, 2 right; 3 and 4 are the wheel up and down.
    static constexpr std::pair<int, uint16_t> kButtons[] = {{1, BTN_LEFT}, {2, BTN_MIDDLE}, {4, BTN_RIGHT}};
    for (auto [bit, code] : kButtons)
      if ((buttons ^ impl.last_buttons) & bit) events.push_back({EV_KEY, code, (buttons & bit) ? 1 : 0});
    if ((buttons & 8) && !(impl.last_buttons & 8)) events.push_back({EV_REL, REL_WHEEL, 1});
    if ((buttons & 16) && !(impl.last_buttons & 16)) events.push_back({EV_REL, REL_WHEEL, -1});
    impl.last_buttons = buttons;
    events.push_back({EV_SYN, SYN_REPORT, 0});
    tablet->send(events);
  }
};

Result<std::unique_ptr<VncServer>> VncServer::start(const VncOptions& o) {
  AV_TRY_ASSIGN(rfb, RfbApi::load());
  std::unique_ptr<VncServer> s(new VncServer());
  if (!o.unix_path.empty()) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (o.unix_path.size() >= sizeof sa.sun_path)
      return fail("VNC socket path '{}' is longer than {} bytes; choose a shorter path", o.unix_path, sizeof sa.sun_path - 1);
    std::memcpy(sa.sun_path, o.unix_path.c_str(), o.unix_path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail_errno(errno, "socket for the VNC server");
    (void)::unlink(o.unix_path.c_str());  // a stale socket from an earlier run (QEMU does the same)
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      return fail_errno(errno, "cannot create the VNC socket '{}'; check that its directory exists and is writable",
                        o.unix_path);
    if (::listen(fd.get(), 16) != 0) return fail_errno(errno, "listen on the VNC socket '{}'", o.unix_path);
    s->listen_ = std::move(fd);
    s->address_ = "unix:" + o.unix_path;
  } else {
    in_addr addr{};
    std::string host = o.host.empty() ? "0.0.0.0" : o.host;
    if (host == "localhost") host = "127.0.0.1";
    if (::inet_pton(AF_INET, host.c_str(), &addr) != 1)
      return fail("VNC listen address '{}' is not an IPv4 address; use e.g. 127.0.0.1 or 0.0.0.0", o.host);
    unsigned last = o.to.value_or(o.display);
    int bind_errno = 0;
    for (unsigned d = o.display; d <= last; ++d) {
      if (kBasePort + d > 65535) break;
      UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!fd) return fail_errno(errno, "socket for the VNC server");
      int one = 1;
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<uint16_t>(kBasePort + d));
      sa.sin_addr = addr;
      if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        bind_errno = errno;
        if (errno == EADDRINUSE) continue;
        break;
      }
      if (::listen(fd.get(), 16) != 0) return fail_errno(errno, "listen on VNC port {}", kBasePort + d);
      s->listen_ = std::move(fd);
      s->display_ = d;
      s->address_ = fmt::format("{}:{}", host, kBasePort + d);
      break;
    }
    if (!s->listen_) {
      if (bind_errno == EADDRINUSE)
        return fail("VNC display{} on {} in use (port {}{}); pick another display (-vnc {}:N) or add to=M to try more",
                    o.to ? "s" : "", host, kBasePort + o.display, o.to ? fmt::format("-{}", kBasePort + last) : "",
                    host);
      return fail_errno(bind_errno, "cannot listen on {} port {} for VNC; check the address is one of this host's", host,
                        kBasePort + o.display);
    }
  }

  // libvncserver's screen: 32-bit pixels laid out as XRGB8888 little-endian (B, G, R, X in memory),
  // the Display's format. It listens on nothing itself (port 0); connections come from listen_.
  *rfb->log = rfb_log;
  *rfb->err = rfb_err;
  auto impl = std::make_unique<Impl>();
  impl->owner = s.get();
  int argc = 0;
  impl->screen = rfb->get_screen(&argc, nullptr, static_cast<int>(o.width), static_cast<int>(o.height), 8, 3, 4);
  if (impl->screen == nullptr) return fail("libvncserver could not set up a screen");
  rfbScreenInfoPtr sc = impl->screen;
  sc->serverFormat.redShift = 16;
  sc->serverFormat.greenShift = 8;
  sc->serverFormat.blueShift = 0;
  impl->framebuffer.assign(uint64_t{o.width} * o.height * kBytesPerPixel, 0);
  sc->frameBuffer = reinterpret_cast<char*>(impl->framebuffer.data());
  sc->desktopName = "altovirt";
  sc->port = 0;
  sc->ipv6port = 0;
  sc->autoPort = FALSE;
  sc->httpPort = 0;
  // No server-drawn pointer: libvncserver would paint its default arrow into the pixels it sends
  // to clients without cursor encodings, over the guest's picture. The guest draws its own, and the
  // viewer shows its local pointer.
  sc->cursor = nullptr;
  sc->alwaysShared = TRUE;  // several viewers at once; none pushes the others out
  sc->screenData = impl.get();
  sc->newClientHook = Impl::new_client;
  sc->kbdAddEvent = Impl::key;
  sc->ptrAddEvent = Impl::pointer;
  if (!o.password.empty()) {
    // One challenge encrypted now, on the (not yet confined) main thread: libvncserver's DES comes
    // from libgcrypt, whose first use checks FIPS files and writes a syslog line (a socket to
    // /dev/log). Done on the vnc thread at a client's first login, the sandbox stopped altovirt.
    unsigned char challenge[CHALLENGESIZE] = {};
    std::string warm = o.password;
    rfb->encrypt_bytes(challenge, warm.data());
    impl->password = o.password;
    s->password_required_ = true;
    impl->passwords[0] = impl->password.data();
    sc->authPasswdData = impl->passwords;
    sc->passwordCheck = rfb->check_password_by_list;
  }
  rfb->init_server(sc);
  s->width_ = o.width;
  s->height_ = o.height;
  s->shadow_.assign(impl->framebuffer.size(), 0);
  s->impl_ = std::move(impl);
  VncServer* raw = s.get();
  s->thread_ = std::thread([raw] { raw->run(); });
  return s;
}

VncServer::~VncServer() {
  quit_ = true;
  if (thread_.joinable()) thread_.join();
  if (impl_ && impl_->screen) rfb->shutdown_server(impl_->screen, TRUE);
}

std::vector<VncServer::Client> VncServer::client_list() const {
  std::lock_guard lock(clients_mutex_);
  std::vector<Client> out;
  for (const auto& [record, c] : client_list_) out.push_back(c);
  return out;
}

void VncServer::set_keyboard(std::shared_ptr<InputSink> keyboard) {
  std::lock_guard lock(mutex_);
  keyboard_ = std::move(keyboard);
}

void VncServer::set_tablet(std::shared_ptr<InputSink> tablet) {
  std::lock_guard lock(mutex_);
  tablet_ = std::move(tablet);
}

void VncServer::resize(uint32_t width, uint32_t height) {
  if (width == 0 || height == 0) return;
  std::lock_guard lock(mutex_);
  if (width == width_ && height == height_) return;
  width_ = width;
  height_ = height;
  shadow_.assign(uint64_t{width} * height * kBytesPerPixel, 0);
  dirty_.clear();
  resized_ = true;
}

void VncServer::update(const Rect& r, std::span<const uint8_t> pixels, uint32_t stride) {
  std::lock_guard lock(mutex_);
  // Clipped to the surface: a device never sends more, but the shadow's bounds are checked here.
  if (r.x >= width_ || r.y >= height_ || r.width == 0 || r.height == 0) return;
  uint32_t w = std::min(r.width, width_ - r.x), h = std::min(r.height, height_ - r.y);
  uint64_t row = uint64_t{w} * kBytesPerPixel;
  if (uint64_t{h - 1} * stride + row > pixels.size()) return;
  const uint64_t shadow_stride = uint64_t{width_} * kBytesPerPixel;
  for (uint32_t y = 0; y < h; ++y)
    std::memcpy(shadow_.data() + (uint64_t{r.y} + y) * shadow_stride + uint64_t{r.x} * kBytesPerPixel,
                pixels.data() + uint64_t{y} * stride, row);
  Rect d{r.x, r.y, w, h};
  if (dirty_.size() >= kMaxDirty) {
    Rect all = d;
    for (const Rect& o : dirty_) all = bounding(all, o);
    dirty_.assign(1, all);
  } else {
    dirty_.push_back(d);
  }
}

void VncServer::blank() {
  std::lock_guard lock(mutex_);
  std::fill(shadow_.begin(), shadow_.end(), 0);
  dirty_.assign(1, Rect{0, 0, width_, height_});
}

void VncServer::run() {
  sandbox::start_thread(sandbox::Role::vnc, "vnc");
  Impl& impl = *impl_;
  rfbScreenInfoPtr sc = impl.screen;
  std::vector<Rect> dirty;
  while (!quit_.load()) {
    // New connections (non-blocking accept): each becomes a libvncserver client.
    for (;;) {
      int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      if (rfb->new_client(sc, fd) == nullptr) log::warn("vnc", "a client could not be set up; its connection is closed");
    }
    // The device's changes since the last round, into libvncserver's framebuffer.
    {
      std::lock_guard lock(mutex_);
      if (resized_) {
        impl.framebuffer = shadow_;
        rfb->new_framebuffer(sc, reinterpret_cast<char*>(impl.framebuffer.data()), static_cast<int>(width_),
                          static_cast<int>(height_), 8, 3, 4);
        sc->serverFormat.redShift = 16;
        sc->serverFormat.greenShift = 8;
        sc->serverFormat.blueShift = 0;
        resized_ = false;
        dirty_.clear();
        dirty.assign(1, Rect{0, 0, width_, height_});
      } else {
        dirty.swap(dirty_);
        dirty_.clear();
        const uint64_t stride = uint64_t{width_} * kBytesPerPixel;
        for (const Rect& r : dirty)
          for (uint32_t y = 0; y < r.height; ++y) {
            uint64_t at = (uint64_t{r.y} + y) * stride + uint64_t{r.x} * kBytesPerPixel;
            std::memcpy(impl.framebuffer.data() + at, shadow_.data() + at, uint64_t{r.width} * kBytesPerPixel);
          }
      }
    }
    for (const Rect& r : dirty) {
      rfb->mark_rect_as_modified(sc, static_cast<int>(r.x), static_cast<int>(r.y), static_cast<int>(r.x + r.width),
                            static_cast<int>(r.y + r.height));
      ++rects_marked_;
    }
    dirty.clear();
    rfb->process_events(sc, kRoundUsec);
  }
}

}  // namespace altovirt::ui
