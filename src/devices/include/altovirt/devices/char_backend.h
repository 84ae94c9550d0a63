// CharBackend: where a serial port's bytes go and come from: stdio (the terminal in raw mode, its
// settings restored when the backend is destroyed, also on a fatal signal via restore_terminal()),
// a pty (its path printed for `altoctl console`), a file (output only), or nothing.
//
// Threading: write() may be called from any vCPU thread (callers serialise: the UART holds its
// lock). in_fd() is read by one input thread.
#pragma once

#include <termios.h>

#include <memory>
#include <span>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altovirt::devices {

class CharBackend {
 public:
  // "stdio", "pty", "file:PATH", "none" (the -serial forms).
  static Result<std::unique_ptr<CharBackend>> open(std::string_view spec);
  ~CharBackend();
  CharBackend(const CharBackend&) = delete;
  CharBackend& operator=(const CharBackend&) = delete;

  // -1 when the backend has no input.
  int in_fd() const { return in_fd_; }
  // Writes everything, or drops what a full non-blocking pty cannot take (the guest must never
  // stall because nobody reads its console).
  void write(std::span<const uint8_t> data);
  const std::string& description() const { return description_; }

 private:
  CharBackend() = default;
  int in_fd_ = -1;
  int out_fd_ = -1;
  UniqueFd owned_;        // pty master or file
  UniqueFd pty_slave_;    // kept open so the master never reads EIO while no client is attached
  bool restore_tty_ = false;
  termios saved_{};
  std::string description_;
};

// Puts back the terminal settings saved by a stdio backend (async-signal-safe).
void restore_terminal();

}  // namespace altovirt::devices
