#include "altovirt/boot/aml.h"

#include <string>

namespace altovirt::boot::aml {

namespace {
// Opcodes, ACPI 6.4 20.3.
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08, kBytePrefix = 0x0a, kWordPrefix = 0x0b,
                  kDWordPrefix = 0x0c, kStringPrefix = 0x0d, kQWordPrefix = 0x0e, kScopeOp = 0x10,
                  kBufferOp = 0x11, kPackageOp = 0x12, kExtOpPrefix = 0x5b, kDeviceOp = 0x82, kRootChar = 0x5c,
                  kMethodOp = 0x14, kArg0Op = 0x68, kCreateDWordFieldOp = 0x8a, kAndOp = 0x7b, kOrOp = 0x7d,
                  kLNotOp = 0x92, kLEqualOp = 0x93, kIfOp = 0xa0, kElseOp = 0xa1, kReturnOp = 0xa4;

void put(Bytes& b, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
Bytes with_pkg(std::initializer_list<uint8_t> op, const Bytes& body) {
  Bytes b(op);
  Bytes len = pkg_length(body.size());
  b.insert(b.end(), len.begin(), len.end());
  b.insert(b.end(), body.begin(), body.end());
  return b;
}
// Address space descriptor common part: resource type, general flags (producer, MinFixed,
// MaxFixed: 6.4.3.5.1 table 6.46 bits 3 and 2), type-specific flags.
constexpr uint8_t kFixedWindow = 0x0c;
constexpr uint8_t kTypeMemory = 0, kTypeIo = 1, kTypeBus = 2;
constexpr uint8_t kMemReadWrite = 0x01;  // _RW = read/write, _MEM = non-cacheable
constexpr uint8_t kIoEntireRange = 0x03;  // _RNG = ISA and non-ISA ranges
Bytes address_space(uint8_t tag, unsigned width, uint8_t type, uint8_t tflags, uint64_t min, uint64_t max) {
  Bytes b{tag};
  unsigned len = 3 + 5 * width;  // flags + granularity, min, max, translation, length
  put(b, len, 2);
  b.push_back(type);
  b.push_back(kFixedWindow);
  b.push_back(tflags);
  put(b, 0, width);        // granularity
  put(b, min, width);
  put(b, max, width);
  put(b, 0, width);        // translation offset
  put(b, max - min + 1, width);
  return b;
}
}  // namespace

Bytes pkg_length(size_t payload) {
  for (unsigned n = 1; n <= 4; ++n) {
    size_t total = payload + n;
    if (n == 1 && total <= 0x3f) return {static_cast<uint8_t>(total)};
    if (n > 1 && total < (size_t{1} << (4 + 8 * (n - 1)))) {
      Bytes b{static_cast<uint8_t>(((n - 1) << 6) | (total & 0xf))};
      for (unsigned i = 1; i < n; ++i) b.push_back(static_cast<uint8_t>(total >> (4 + 8 * (i - 1))));
      return b;
    }
  }
  // Unreachable for the tables altovirt builds (kilobytes); 2^28 is AML's own limit.
  return {0xff, 0xff, 0xff, 0xff};
}

Bytes name_string(std::string_view name) {
  Bytes b;
  if (!name.empty() && name[0] == '\\') {
    b.push_back(kRootChar);
    name.remove_prefix(1);
  }
  std::string seg(name.substr(0, 4));
  seg.resize(4, '_');
  b.insert(b.end(), seg.begin(), seg.end());
  return b;
}

Bytes method(std::string_view n, unsigned args, const Bytes& terms) {
  Bytes body = name_string(n);
  body.push_back(static_cast<uint8_t>(args & 7));  // MethodFlags: ArgCount, NotSerialized, SyncLevel 0
  body.insert(body.end(), terms.begin(), terms.end());
  return with_pkg({kMethodOp}, body);
}

Bytes arg(unsigned n) { return {static_cast<uint8_t>(kArg0Op + (n & 7))}; }

Bytes create_dword_field(const Bytes& source, const Bytes& byte_index, std::string_view n) {
  return concat({{kCreateDWordFieldOp}, source, byte_index, name_string(n)});
}

Bytes and_(const Bytes& a, const Bytes& b, const Bytes& target) { return concat({{kAndOp}, a, b, target}); }
Bytes or_(const Bytes& a, const Bytes& b, const Bytes& target) { return concat({{kOrOp}, a, b, target}); }
Bytes lequal(const Bytes& a, const Bytes& b) { return concat({{kLEqualOp}, a, b}); }
Bytes lnot(const Bytes& a) { return concat({{kLNotOp}, a}); }
Bytes if_(const Bytes& predicate, const Bytes& terms) { return with_pkg({kIfOp}, concat({predicate, terms})); }
Bytes else_(const Bytes& terms) { return with_pkg({kElseOp}, terms); }
Bytes return_(const Bytes& value) { return concat({{kReturnOp}, value}); }

Bytes uuid(std::string_view text) {
  Bytes raw;  // the 16 bytes in text order
  for (size_t i = 0; i < text.size() && raw.size() < 16; ++i) {
    if (text[i] == '-') continue;
    raw.push_back(static_cast<uint8_t>(std::stoul(std::string(text.substr(i, 2)), nullptr, 16)));
    ++i;
  }
  raw.resize(16, 0);
  Bytes b{raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6]};
  b.insert(b.end(), raw.begin() + 8, raw.end());
  return buffer(b);
}

Bytes integer(uint64_t v) {
  if (v == 0) return {kZeroOp};
  if (v == 1) return {kOneOp};
  Bytes b;
  if (v <= 0xff) { b.push_back(kBytePrefix); put(b, v, 1); }
  else if (v <= 0xffff) { b.push_back(kWordPrefix); put(b, v, 2); }
  else if (v <= 0xffffffff) { b.push_back(kDWordPrefix); put(b, v, 4); }
  else { b.push_back(kQWordPrefix); put(b, v, 8); }
  return b;
}

Bytes string(std::string_view s) {
  Bytes b;
  b.reserve(s.size() + 2);
  b.push_back(kStringPrefix);
  for (char ch : s) b.push_back(static_cast<uint8_t>(ch));
  b.push_back(0);
  return b;
}

uint32_t eisa_id(std::string_view id) {
  // Three letters in 5 bits each, then four hex digits; stored big-endian (ACPI 6.4 19.6.35).
  auto hex = [](char c) -> uint32_t { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  uint32_t v = ((id[0] - 0x40u) & 0x1f) << 26 | ((id[1] - 0x40u) & 0x1f) << 21 | ((id[2] - 0x40u) & 0x1f) << 16 |
               hex(id[3]) << 12 | hex(id[4]) << 8 | hex(id[5]) << 4 | hex(id[6]);
  return __builtin_bswap32(v);
}

Bytes name(std::string_view n, const Bytes& object) {
  Bytes b{kNameOp};
  Bytes ns = name_string(n);
  b.insert(b.end(), ns.begin(), ns.end());
  b.insert(b.end(), object.begin(), object.end());
  return b;
}

Bytes scope(std::string_view n, const Bytes& terms) { return with_pkg({kScopeOp}, concat({name_string(n), terms})); }
Bytes device(std::string_view n, const Bytes& terms) {
  return with_pkg({kExtOpPrefix, kDeviceOp}, concat({name_string(n), terms}));
}

Bytes package(const std::vector<Bytes>& elements) {
  Bytes body{static_cast<uint8_t>(elements.size())};
  for (auto& e : elements) body.insert(body.end(), e.begin(), e.end());
  return with_pkg({kPackageOp}, body);
}

Bytes buffer(const Bytes& data) { return with_pkg({kBufferOp}, concat({integer(data.size()), data})); }

Bytes io_port(uint16_t min, uint16_t max, uint8_t align, uint8_t length) {
  Bytes b{0x47, 0x01};  // I/O port descriptor, 16-bit decode (6.4.2.5)
  put(b, min, 2);
  put(b, max, 2);
  b.push_back(align);
  b.push_back(length);
  return b;
}
Bytes word_bus_numbers(uint16_t min, uint16_t max) { return address_space(0x88, 2, kTypeBus, 0, min, max); }
Bytes word_io(uint16_t min, uint16_t max) { return address_space(0x88, 2, kTypeIo, kIoEntireRange, min, max); }
Bytes dword_memory(uint32_t min, uint32_t max) { return address_space(0x87, 4, kTypeMemory, kMemReadWrite, min, max); }
Bytes qword_memory(uint64_t min, uint64_t max) { return address_space(0x8a, 8, kTypeMemory, kMemReadWrite, min, max); }

Bytes resource_template(const std::vector<Bytes>& descriptors) {
  Bytes b = concat(descriptors);
  b.push_back(0x79);  // end tag (6.4.2.9); checksum 0 means "treat as correct"
  b.push_back(0x00);
  return buffer(b);
}

Bytes concat(const std::vector<Bytes>& parts) {
  Bytes b;
  for (auto& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}

}  // namespace altovirt::boot::aml
