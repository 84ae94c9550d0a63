// x-query-vcpus: where each vCPU is, for diagnosing a guest that stopped answering (QEMU's HMP
// "info registers" answers the same question). The machine pauses for at most 2 s while every vCPU
// reads its own registers as it parks, then runs on (a machine paused by `stop` stays paused).
//
//   x-query-vcpus  [{"cpu-index": N, "parked": B, "rip": N, "rsp": N, "rflags": N, "cs": N,
//                    "cr0": N, "cr3": N, "cr4": N, "efer": N, "mp-state": "runnable"|"halted"|N}, ...]
// "parked": false means the vCPU did not leave KVM_RUN (or a device handler) within the 2 s: the
// registers are then unknown (zero), which is itself the answer to "is it stuck in the kernel".
#include <linux/kvm.h>

#include "altovirt/vmm/machine.h"
#include "vm_control.h"

namespace altovirt::tool {

using qmp::Json;

namespace {

Json mp_state_json(uint32_t s) {
  switch (s) {
    case KVM_MP_STATE_RUNNABLE: return "runnable";
    case KVM_MP_STATE_UNINITIALIZED: return "uninitialized";
    case KVM_MP_STATE_INIT_RECEIVED: return "init-received";
    case KVM_MP_STATE_HALTED: return "halted";
    case KVM_MP_STATE_SIPI_RECEIVED: return "sipi-received";
    default: return s;
  }
}

}  // namespace

Status register_vcpu_commands(qmp::Server& server, VmControl& control) {
  return server.register_command({"x-query-vcpus", {}, [&control](const Json&) -> Result<Json> {
                                    return control.with_machine([](vmm::Machine& m) -> Result<Json> {
                                      Json out = Json::array();
                                      for (const auto& v : m.vcpu_states(std::chrono::seconds(2))) {
                                        Json j = {{"cpu-index", v.index}, {"parked", v.parked}};
                                        if (v.parked) {
                                          j.update({{"rip", v.rip},   {"rsp", v.rsp}, {"rflags", v.rflags},
                                                    {"cs", v.cs},     {"cr0", v.cr0}, {"cr3", v.cr3},
                                                    {"cr4", v.cr4},   {"efer", v.efer},
                                                    {"mp-state", mp_state_json(v.mp_state)}});
                                        }
                                        out.push_back(std::move(j));
                                      }
                                      return out;
                                    });
                                  }});
}

}  // namespace altovirt::tool
