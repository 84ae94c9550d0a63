// A small AML (ACPI Machine Language) encoder, enough for a DSDT of named objects, devices, scopes,
// packages and resource templates. Encodings from ACPI 6.4 chapter 20 ("ACPI Machine Language
// Specification") and 6.4.3 (resource descriptors).
//
// Threading: plain values.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace altovirt::boot::aml {

using Bytes = std::vector<uint8_t>;

// PkgLength (20.2.4): the length of what follows including the PkgLength bytes themselves.
Bytes pkg_length(size_t payload);
// A NameString: "\\_SB_", "PCI0", "_HID" (segments are padded with '_' to four characters).
Bytes name_string(std::string_view name);
Bytes integer(uint64_t value);
Bytes string(std::string_view s);
// EISAID("PNP0A08") as the 32-bit compressed id.
uint32_t eisa_id(std::string_view id);
Bytes name(std::string_view name, const Bytes& object);
Bytes scope(std::string_view name, const Bytes& terms);
Bytes device(std::string_view name, const Bytes& terms);
Bytes package(const std::vector<Bytes>& elements);
Bytes buffer(const Bytes& data);

// Control methods and the few expressions a DSDT's _OSC needs (20.2.5).
// Method NAME with `args` arguments (0..7), not serialized.
Bytes method(std::string_view name, unsigned args, const Bytes& terms);
Bytes arg(unsigned n);  // Arg0..Arg6
Bytes create_dword_field(const Bytes& source, const Bytes& byte_index, std::string_view name);
Bytes and_(const Bytes& a, const Bytes& b, const Bytes& target);
Bytes or_(const Bytes& a, const Bytes& b, const Bytes& target);
Bytes lequal(const Bytes& a, const Bytes& b);
Bytes lnot(const Bytes& a);
Bytes if_(const Bytes& predicate, const Bytes& terms);
Bytes else_(const Bytes& terms);  // directly after an if_
Bytes return_(const Bytes& value);
// ToUUID("33DB4D5B-1FF7-401C-9657-7441C03DD766") as its 16-byte buffer (the first three fields
// little-endian, the rest in order: ACPI 6.4 19.6.142).
Bytes uuid(std::string_view text);

// Resource descriptors (6.4.2, 6.4.3). `producer` windows are what a bridge decodes for its children.
Bytes io_port(uint16_t min, uint16_t max, uint8_t align, uint8_t length);
Bytes word_bus_numbers(uint16_t min, uint16_t max);
Bytes word_io(uint16_t min, uint16_t max);
Bytes dword_memory(uint32_t min, uint32_t max);
Bytes qword_memory(uint64_t min, uint64_t max);
// A resource template: the descriptors and the end tag.
Bytes resource_template(const std::vector<Bytes>& descriptors);

Bytes concat(const std::vector<Bytes>& parts);

}  // namespace altovirt::boot::aml
