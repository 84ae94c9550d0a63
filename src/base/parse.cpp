#include "altovirt/base/parse.h"

#include <cctype>
#include <charconv>
#include <string>

namespace altovirt {

Result<uint64_t> parse_uint_base(std::string_view text, int base, std::string_view what) {
  std::string_view digits = text;
  if (base == 16 && digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
    digits.remove_prefix(2);
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    if (ec == std::errc::result_out_of_range) return fail("{} '{}' is too large", what, text);
    return fail("{} '{}' is not a {} number", what, text, base == 16 ? "hexadecimal" : "decimal");
  }
  return value;
}

Result<uint64_t> parse_uint(std::string_view text, std::string_view what, uint64_t max) {
  bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  AV_TRY_ASSIGN(uint64_t v, parse_uint_base(text, hex ? 16 : 10, what));
  if (v > max) return fail("{} {} is out of range (at most {})", what, text, max);
  return v;
}

Result<uint64_t> parse_size(std::string_view text, std::string_view what, uint64_t default_unit) {
  size_t end = 0;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  std::string_view number = text.substr(0, end);
  std::string_view suffix = text.substr(end);
  auto ieq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
    return true;
  };
  // "M", "MB" and "MiB" all mean MiB, as in QEMU's -m.
  if (suffix.size() == 3 && ieq(suffix.substr(1), "IB")) suffix.remove_suffix(2);
  else if (suffix.size() == 2 && ieq(suffix.substr(1), "B")) suffix.remove_suffix(1);
  uint64_t unit;
  if (suffix.empty()) unit = default_unit;
  else if (ieq(suffix, "B")) unit = 1;
  else if (ieq(suffix, "K")) unit = 1ULL << 10;
  else if (ieq(suffix, "M")) unit = 1ULL << 20;
  else if (ieq(suffix, "G")) unit = 1ULL << 30;
  else if (ieq(suffix, "T")) unit = 1ULL << 40;
  else return fail("{} '{}' has an unknown unit (use a number with K, M, G or T, e.g. 512M or 2G)", what, text);
  if (number.empty()) return fail("{} '{}' is not a size (use e.g. 512M or 2G)", what, text);
  AV_TRY_ASSIGN(uint64_t n, parse_uint_base(number, 10, what));
  if (n != 0 && unit > UINT64_MAX / n) return fail("{} '{}' is too large", what, text);
  return n * unit;
}

}  // namespace altovirt
