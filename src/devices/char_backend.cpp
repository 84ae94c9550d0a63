#include "altovirt/devices/char_backend.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>

namespace altovirt::devices {

namespace {
std::atomic<bool> g_tty_saved{false};
termios g_saved_tty{};
}  // namespace

void restore_terminal() {
  if (g_tty_saved.load()) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tty);
}

Result<std::unique_ptr<CharBackend>> CharBackend::open(std::string_view spec) {
  std::unique_ptr<CharBackend> b(new CharBackend());
  if (spec == "stdio") {
    b->in_fd_ = STDIN_FILENO;
    b->out_fd_ = STDOUT_FILENO;
    b->description_ = "stdio";
    if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &b->saved_) == 0) {
      // Raw input so every key reaches the guest, but ISIG kept: Ctrl-C stops altovirt as it stops
      // QEMU with -serial stdio.
      termios raw = b->saved_;
      raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
      raw.c_oflag &= ~static_cast<tcflag_t>(OPOST);
      raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | IEXTEN);
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      g_saved_tty = b->saved_;
      g_tty_saved = true;
      ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
      b->restore_tty_ = true;
    }
  } else if (spec == "pty") {
    UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0)
      return fail_errno(errno, "-serial pty: creating a pseudo-terminal");
    const char* name = ::ptsname(master.get());
    if (name == nullptr) return fail_errno(errno, "-serial pty: ptsname");
    b->description_ = name;
    UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return fail_errno(errno, "-serial pty: opening {}", name);
    termios t{};
    if (::tcgetattr(slave.get(), &t) == 0) {
      ::cfmakeraw(&t);
      ::tcsetattr(slave.get(), TCSANOW, &t);
    }
    ::fcntl(master.get(), F_SETFL, ::fcntl(master.get(), F_GETFL) | O_NONBLOCK);
    b->in_fd_ = b->out_fd_ = master.get();
    b->owned_ = std::move(master);
    b->pty_slave_ = std::move(slave);
  } else if (spec.starts_with("file:") && spec.size() > 5) {
    std::string path(spec.substr(5));
    UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!f) return fail_errno(errno, "-serial file:{}: cannot create the file", path);
    b->out_fd_ = f.get();
    b->owned_ = std::move(f);
    b->description_ = path;
  } else if (spec == "none") {
    b->description_ = "none";
  } else {
    return fail("-serial {}: expected stdio, pty, file:PATH or none", spec);
  }
  return b;
}

CharBackend::~CharBackend() {
  if (restore_tty_) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    g_tty_saved = false;
  }
}

void CharBackend::write(std::span<const uint8_t> data) {
  if (out_fd_ < 0) return;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(out_fd_, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EAGAIN on a pty nobody reads, or a closed output: drop
  }
}

}  // namespace altovirt::devices
