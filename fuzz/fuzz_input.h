// FuzzInput: reads typed values off the front of a fuzz input, as the harnesses turn bytes into
// operations. Reading past the end yields zeros (and empty() turns true), so every input is a valid
// program: libFuzzer's mutations never make a harness reject its input, only take other paths.
// (clang's <fuzzer/FuzzedDataProvider.h> does the same, but the CI replay is built with g++, which
// does not ship it.)
//
// Threading: a plain value owned by one harness call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

namespace altovirt::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - pos_; }

  template <typename T>
    requires std::is_integral_v<T>
  T take() {
    T v{};
    size_t n = std::min(sizeof v, remaining());
    if (n > 0) std::memcpy(&v, data_ + pos_, n);
    pos_ += sizeof v;
    return v;
  }
  bool take_bool() { return take<uint8_t>() & 1; }
  // A value in [0, n) (0 when n is 0).
  uint32_t take_below(uint32_t n) { return n == 0 ? 0 : take<uint32_t>() % n; }
  // Up to `max` bytes (fewer when the input ends).
  std::span<const uint8_t> take_bytes(size_t max) {
    size_t n = std::min(max, remaining());
    std::span<const uint8_t> s(data_ + std::min(pos_, size_), n);
    pos_ += n;
    return s;
  }
  std::span<const uint8_t> rest() { return take_bytes(remaining()); }
  std::string take_string(size_t max) {
    auto b = take_bytes(max);
    return std::string(b.begin(), b.end());
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace altovirt::fuzz
