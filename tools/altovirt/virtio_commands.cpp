// x-query-virtio-queues: every virtio-pci function's transport state and each queue's ring indices,
// for diagnosing a guest that waits on a device (QEMU has x-query-virtio-queue-status for the same).
// Reading it never waits for a device's I/O thread, so it answers when that thread is the one stuck.
//
//   x-query-virtio-queues  [{"id": QDEV_ID, "bus": B, "slot": S, "function": F, "status": N,
//                            "features": N, "msix-enabled": B, "msix-masked": B, "config-vector": N,
//                            "isr": N, "queues": [{"index": N, "enabled": B, "detached": B,
//                            "broken": B, "size": N, "vector": N, "vector-masked": B,
//                            "vector-pending": B, "kicks": N, "interrupts": N,
//                            "avail-idx": N, "avail-flags": N, "used-idx": N,
//                            "used-event": N, "avail-event": N}, ...]}, ...]
// (the ring fields only while the driver has the device running).
#include <linux/pci_regs.h>

#include "altovirt/virtio/pci_transport.h"
#include "altovirt/vmm/machine.h"
#include "vm_control.h"

namespace altovirt::tool {

using qmp::Json;

namespace {

Json queue_json(const virtio::QueueReport& q) {
  Json j = {{"index", q.index},   {"enabled", q.enabled},         {"detached", q.detached},
            {"broken", q.broken}, {"size", q.size},               {"vector", q.vector},
            {"vector-masked", q.vector_masked}, {"vector-pending", q.vector_pending},
            {"kicks", q.kicks},   {"interrupts", q.interrupts}};
  if (q.ring) {
    j["avail-idx"] = q.ring->avail_idx;
    j["avail-flags"] = q.ring->avail_flags;
    j["used-idx"] = q.ring->used_idx;
    j["used-event"] = q.ring->used_event;
    j["avail-event"] = q.ring->avail_event;
  }
  return j;
}

void add_bus(pci::PciBus& bus, const vmm::Machine& machine, uint8_t nr, Json& out) {
  for (auto& [a, dev] : bus.devices(nr)) {
    if (auto* v = dynamic_cast<virtio::VirtioPciDevice*>(dev.get())) {
      virtio::TransportReport r = v->report();
      Json queues = Json::array();
      for (const auto& q : r.queues) queues.push_back(queue_json(q));
      out.push_back({{"id", machine.device_id(a)},
                     {"bus", a.bus},
                     {"slot", a.slot},
                     {"function", a.function},
                     {"status", r.status},
                     {"features", r.features},
                     {"msix-enabled", r.msix_enabled},
                     {"msix-masked", r.msix_function_masked},
                     {"config-vector", r.config_vector},
                     {"isr", r.isr},
                     {"queues", std::move(queues)}});
    }
    // Root ports sit on bus 0 only; what is behind them is one level down.
    if (nr == 0 && (bus.config_read(a, PCI_HEADER_TYPE, 1) & 0x7f) == PCI_HEADER_TYPE_BRIDGE) {
      auto secondary = static_cast<uint8_t>(bus.config_read(a, PCI_SECONDARY_BUS, 1));
      if (secondary != 0) add_bus(bus, machine, secondary, out);
    }
  }
}

}  // namespace

Status register_virtio_commands(qmp::Server& server, VmControl& control) {
  return server.register_command({"x-query-virtio-queues", {}, [&control](const Json&) -> Result<Json> {
                                    return control.with_machine([](vmm::Machine& m) -> Result<Json> {
                                      Json out = Json::array();
                                      add_bus(m.pci(), m, 0, out);
                                      return out;
                                    });
                                  }});
}

}  // namespace altovirt::tool
