// The KVM ioctls whose argument ends in a variable-length array (kvm_cpuid2, kvm_msrs,
// kvm_irq_routing) cannot use the UAPI structs from C++: the headers declare the array with
// __DECLARE_FLEX_ARRAY, which wraps it in a struct holding an empty struct. An empty struct has size
// 0 in C (a GNU extension) but 1 in C++, so in C++ the array starts 8 bytes later than the kernel
// expects and sizeof() is larger, and the ioctl numbers (which encode sizeof) no longer match the
// kernel's: KVM_SET_GSI_ROUTING then fails with ENOTTY. We build the C layout by hand: an 8-byte
// header (count, then a 32-bit flags/padding word) followed by the entries, and use ioctl numbers
// computed from the C sizes (8 bytes for each of these headers, see linux/kvm.h).
//
// Threading: stateless helpers.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace altovirt::kvm::flex {

inline constexpr size_t kHeaderSize = 8;
inline constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kHeaderSize);
inline constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kHeaderSize);
inline constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, kHeaderSize);
inline constexpr unsigned long kSetGsiRouting = _IOC(_IOC_WRITE, KVMIO, 0x6a, kHeaderSize);

// A buffer holding the header and `n` entries of type T, 8-byte aligned.
template <class T>
class Buffer {
 public:
  Buffer(uint32_t count, uint32_t flags = 0) : words_((kHeaderSize + count * sizeof(T) + 7) / 8, 0) {
    std::memcpy(bytes(), &count, 4);
    std::memcpy(bytes() + 4, &flags, 4);
  }
  explicit Buffer(const std::vector<T>& entries, uint32_t flags = 0) : Buffer(static_cast<uint32_t>(entries.size()), flags) {
    if (!entries.empty()) std::memcpy(bytes() + kHeaderSize, entries.data(), entries.size() * sizeof(T));
  }
  void* data() { return words_.data(); }
  uint32_t count() const {
    uint32_t n;
    std::memcpy(&n, words_.data(), 4);
    return n;
  }
  std::vector<T> entries() const {
    std::vector<T> v(count());
    if (!v.empty()) std::memcpy(v.data(), reinterpret_cast<const uint8_t*>(words_.data()) + kHeaderSize, v.size() * sizeof(T));
    return v;
  }

 private:
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words_.data()); }
  std::vector<uint64_t> words_;
};

}  // namespace altovirt::kvm::flex
