// The CPUID a vCPU shows its guest: KVM_GET_SUPPORTED_CPUID, with the topology of `-smp N` written in
// (one socket of N single-threaded cores, APIC id = vCPU index) and the hypervisor bit set.
//
// Threading: pure functions.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace altovirt::kvm {

// `supported` is the host's KVM_GET_SUPPORTED_CPUID; returns the entries for vCPU `index` of `count`.
std::vector<kvm_cpuid_entry2> vcpu_cpuid(std::vector<kvm_cpuid_entry2> supported, unsigned index, unsigned count);

// Sets the TSC-deadline timer bit (leaf 1 ECX[24]). KVM emulates the timer with an in-kernel LAPIC
// (KVM_CAP_TSC_DEADLINE_TIMER) but leaves the bit out of KVM_GET_SUPPORTED_CPUID (api.rst), so a
// VMM adds it, as QEMU does. With it, Linux skips calibrating the LAPIC timer against the PM timer
// at boot (about 100 ms of guest time, and many timer exits).
void enable_tsc_deadline(std::vector<kvm_cpuid_entry2>& cpuid);

// Guest physical address width from leaf 0x80000008 (EAX[7:0]); 36 when the leaf is missing
// (the architectural default when CPUID does not say, Intel SDM vol. 3A 11.11.2.3).
unsigned phys_address_bits(const std::vector<kvm_cpuid_entry2>& cpuid);

// The entry for (function, index), or nullptr.
const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& cpuid, uint32_t function, uint32_t index = 0);

}  // namespace altovirt::kvm
