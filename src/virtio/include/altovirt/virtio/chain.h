// Chain: one request the driver made available: the head descriptor index and the guest buffers of
// its descriptor chain, already checked against guest RAM and split by direction (virtio 1.2
// 2.7.4: every driver-readable descriptor comes before every device-writable one).
//
// The spans point into guest RAM (fixed for the VM's life); the guest may change the bytes at any
// time, so a device copies a header out once (read()) and validates the copy.
//
// Threading: a plain value, owned by whoever holds the request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace altovirt::virtio {

struct Chain {
  uint16_t head = 0;
  std::vector<std::span<uint8_t>> readable;  // driver -> device, in chain order
  std::vector<std::span<uint8_t>> writable;  // device -> driver, in chain order

  size_t readable_bytes() const;
  size_t writable_bytes() const;
  // Gathers the readable bytes [offset, offset + out.size()) into out; returns how many were copied
  // (fewer when the chain is shorter).
  size_t read(size_t offset, std::span<uint8_t> out) const;
  // Scatters `in` into the writable bytes from `offset`; returns how many were written.
  size_t write(size_t offset, std::span<const uint8_t> in) const;
  // The sub-spans covering [offset, offset + len) of the readable / writable bytes, for vectored I/O
  // straight into guest memory (fewer bytes when the chain is shorter).
  std::vector<std::span<uint8_t>> readable_range(size_t offset, size_t len) const;
  std::vector<std::span<uint8_t>> writable_range(size_t offset, size_t len) const;
};

}  // namespace altovirt::virtio
