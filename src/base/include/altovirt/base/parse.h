// Parsers for numbers and sizes as users type them on command lines and in config files.
//
// Threading: stateless.
#pragma once

#include <cstdint>
#include <string_view>

#include "altovirt/base/error.h"

namespace altovirt {

// Unsigned integer in decimal, or hexadecimal with 0x, within [0, max]. `what` names the value in errors.
Result<uint64_t> parse_uint(std::string_view text, std::string_view what, uint64_t max = UINT64_MAX);
// Unsigned integer in the given base (16 for sysfs ids such as "0x8086" or "8086").
Result<uint64_t> parse_uint_base(std::string_view text, int base, std::string_view what);
// A size in bytes: a number with an optional suffix K, M, G, T (powers of 1024; a trailing 'B' or
// 'iB' is accepted), e.g. "256M", "1G", "4096". A bare number means `default_unit` bytes each
// (QEMU's -m takes a bare number as MiB).
Result<uint64_t> parse_size(std::string_view text, std::string_view what, uint64_t default_unit = 1);

}  // namespace altovirt
