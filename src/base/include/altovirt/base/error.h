// Errors as values: every fallible operation in the core returns Result<T> (std::expected).
// An Error carries a message written for the user (it names the thing: the PCI address, the file, the
// option, and says what to do) and, when it came from a system call, the errno value, so that callers
// can react to specific conditions (EBUSY, ENOENT) without parsing text.
//
// Threading: Error and Result are plain values; no shared state.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace altovirt {

class Error {
 public:
  explicit Error(std::string message, int sys_errno = 0)
      : message_(std::move(message)), errno_(sys_errno) {}

  const std::string& message() const { return message_; }
  // The errno of the failed system call, or 0 when the error is not a system error.
  int sys_errno() const { return errno_; }

  // Prefixes the message with what the caller was doing: "detaching 0000:01:00.0: <message>".
  Error& context(std::string_view what) {
    message_ = fmt::format("{}: {}", what, message_);
    return *this;
  }

 private:
  std::string message_;
  int errno_;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline Status ok() { return {}; }

template <typename... Args>
std::unexpected<Error> fail(fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error(fmt::format(format, std::forward<Args>(args)...)));
}

// For a failed system call: the message ends with strerror(err), and err is kept.
template <typename... Args>
std::unexpected<Error> fail_errno(int err, fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error(fmt::format("{}: {}", fmt::format(format, std::forward<Args>(args)...),
                                           std::string_view(strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error")),
                               err));
}

}  // namespace altovirt

#define ALTOVIRT_CONCAT_INNER(a, b) a##b
#define ALTOVIRT_CONCAT(a, b) ALTOVIRT_CONCAT_INNER(a, b)

// Propagates the error of a Status/Result expression to the caller.
#define AV_TRY(expr)                                                         \
  do {                                                                       \
    auto&& av_try_result_ = (expr);                                          \
    if (!av_try_result_) return std::unexpected(std::move(av_try_result_).error()); \
  } while (0)

// Declares `decl` from the value of a Result expression, or propagates its error.
#define AV_TRY_ASSIGN(decl, expr) AV_TRY_ASSIGN_IMPL(ALTOVIRT_CONCAT(av_try_r_, __LINE__), decl, expr)
#define AV_TRY_ASSIGN_IMPL(tmp, decl, expr)                            \
  auto tmp = (expr);                                                   \
  if (!tmp) return std::unexpected(std::move(tmp).error());           \
  decl = std::move(*tmp)
