// Fuzz target: the CFI flash (src/devices/pflash) as a guest drives its variable store: command and
// data bytes (and wider writes) at any offset, reads of any width in either mode, resets, on a
// writable 16 KiB image file in OVMF's byte-wide wiring, the same on a 256 KiB image in AAVMF's
// (two 16-bit parts on a 32-bit bus: buffered programs, lock and identifier commands); and the
// read-only code flash, which must never change.
//
// Input: per op [op u8][offset u32][value u8 x8]: op selects write / read (width from bits 4-5),
// reset, or a write to the read-only flash; bit 2 picks the AAVMF-wired store. Checked: the read-only flash's bytes never change, and
// array mode always reads the mapping's bytes.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/devices/pflash.h"
#include "fuzz_input.h"

using namespace altovirt;

namespace {

struct Fixture {
  std::unique_ptr<devices::Pflash> vars, code, wide;
  std::vector<uint8_t> code_bytes;
};

Fixture& fixture() {
  static Fixture* f = [] {
    log::set_level(log::Level::error);
    char tmpl[] = "/tmp/fuzz-pflash-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    std::string dir = tmpl;
    std::vector<uint8_t> image(4 * devices::Pflash::kBlockSize);
    for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<uint8_t>(i);
    for (const char* name : {"/vars.fd", "/code.fd"}) {
      FILE* out = std::fopen((dir + name).c_str(), "wb");
      if (out == nullptr || std::fwrite(image.data(), 1, image.size(), out) != image.size()) std::abort();
      std::fclose(out);
    }
    {
      std::vector<uint8_t> wide(devices::Pflash::aavmf().block_size, 0x5a);
      FILE* out = std::fopen((dir + "/wide.fd").c_str(), "wb");
      if (out == nullptr || std::fwrite(wide.data(), 1, wide.size(), out) != wide.size()) std::abort();
      std::fclose(out);
    }
    auto vars = devices::Pflash::open(dir + "/vars.fd", false, "vars");
    auto code = devices::Pflash::open(dir + "/code.fd", true, "code");
    auto wide = devices::Pflash::open(dir + "/wide.fd", false, "wide", devices::Pflash::aavmf());
    if (!vars || !code || !wide) std::abort();
    // The files stay open through the mappings; their names can go.
    for (const char* name : {"/vars.fd", "/code.fd", "/wide.fd"}) ::unlink((dir + name).c_str());
    ::rmdir(dir.c_str());
    return new Fixture{std::move(*vars), std::move(*code), std::move(*wide), image};
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  fuzz::FuzzInput in(data, size);
  f.vars->reset();
  f.wide->reset();
  for (unsigned ops = 0; !in.empty() && ops < 256; ++ops) {
    const uint8_t op = in.take<uint8_t>();
    devices::Pflash& vars = (op & 4) != 0 ? *f.wide : *f.vars;
    const uint64_t offset = in.take<uint32_t>() % (vars.size() + 64);  // past the end too
    uint8_t bytes[8];
    for (auto& b : bytes) b = in.take<uint8_t>();
    const size_t width = 1u << ((op >> 4) & 3);
    switch (op & 3) {
      case 0: vars.io_write(offset, std::span<const uint8_t>(bytes, width)); break;
      case 1: {
        uint8_t out[8];
        bool array = vars.array_mode();
        vars.io_read(offset, std::span<uint8_t>(out, width));
        if (array && offset + width <= vars.size())
          for (size_t i = 0; i < width; ++i)
            if (out[i] != vars.contents()[offset + i]) __builtin_trap();
        break;
      }
      case 2: f.code->io_write(offset, std::span<const uint8_t>(bytes, width)); break;
      default: vars.reset();
    }
  }
  if (!std::equal(f.code_bytes.begin(), f.code_bytes.end(), f.code->contents().begin())) __builtin_trap();
  return 0;
}
