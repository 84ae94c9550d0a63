#include "altovirt/boot/long_mode.h"

#include <asm/processor-flags.h>

#include <array>

#include "altovirt/boot/layout.h"

namespace altovirt::boot {

namespace {
// EFER (IA32_EFER, MSR 0xC0000080) bits, Intel SDM vol. 3A 2.2.1; not in the UAPI headers.
constexpr uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;
constexpr uint16_t kBootCs = 0x10, kBootDs = 0x18;  // boot.rst: __BOOT_CS and __BOOT_DS
// Page table entry bits (SDM vol. 3A 4.5): present, writable, page size (2 MiB page in a PD).
constexpr uint64_t kPtePresent = 1, kPteWrite = 2, kPteLarge = 0x80;

kvm_segment flat_segment(uint16_t selector, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = code ? 0xb : 0x3;  // execute/read accessed; read/write accessed
  s.present = 1;
  s.dpl = 0;
  s.db = code ? 0 : 1;  // a 64-bit code segment has D = 0
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}
}  // namespace

Status write_long_mode_tables(const kvm::GuestMemory& memory) {
  // Descriptors 2 and 3 as the protocol wants them: 64-bit code, and data, both flat.
  std::array<uint64_t, 4> gdt = {0, 0, 0x00af9b000000ffff, 0x00cf93000000ffff};
  AV_TRY(memory.write(kGdtAddress, std::span(reinterpret_cast<const uint8_t*>(gdt.data()), sizeof gdt)));
  const uint64_t pdpt = kPml4Address + 0x1000, pd = kPml4Address + 0x2000;
  std::array<uint64_t, 512> table{};
  table[0] = pdpt | kPtePresent | kPteWrite;
  AV_TRY(memory.write(kPml4Address, std::span(reinterpret_cast<const uint8_t*>(table.data()), sizeof table)));
  table = {};
  for (uint64_t i = 0; i < 4; ++i) table[i] = (pd + i * 0x1000) | kPtePresent | kPteWrite;
  AV_TRY(memory.write(pdpt, std::span(reinterpret_cast<const uint8_t*>(table.data()), sizeof table)));
  for (uint64_t i = 0; i < 4; ++i) {
    for (uint64_t j = 0; j < 512; ++j) table[j] = (i * GiB + j * 2 * MiB) | kPtePresent | kPteWrite | kPteLarge;
    AV_TRY(memory.write(pd + i * 0x1000, std::span(reinterpret_cast<const uint8_t*>(table.data()), sizeof table)));
  }
  return ok();
}

Status enter_long_mode(kvm::Vcpu& vcpu, uint64_t entry) {
  AV_TRY_ASSIGN(kvm_sregs s, vcpu.sregs());
  s.cs = flat_segment(kBootCs, true);
  s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(kBootDs, false);
  s.gdt.base = kGdtAddress;
  s.gdt.limit = 4 * 8 - 1;
  s.idt.base = 0;
  s.idt.limit = 0;
  s.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | X86_CR0_NE;
  s.cr3 = kPml4Address;
  s.cr4 = X86_CR4_PAE;
  s.efer = kEferLme | kEferLma;
  AV_TRY(vcpu.set_sregs(s));
  kvm_regs r{};
  r.rflags = X86_EFLAGS_FIXED;
  r.rip = entry;
  r.rsi = kBootParamsAddress;
  r.rsp = kBootParamsAddress;  // the kernel sets its own stack at once; any mapped address will do
  return vcpu.set_regs(r);
}

Status init_fpu(kvm::Vcpu& vcpu) {
  kvm_fpu f{};
  f.fcw = 0x37f;
  f.mxcsr = 0x1f80;
  return vcpu.set_fpu(f);
}

}  // namespace altovirt::boot
