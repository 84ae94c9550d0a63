// QMP commands of the memory balloon, in QEMU's shapes (qapi/machine.json):
//   balloon {"value": BYTES}          the guest's target size; {} or DeviceNotActive-like error
//   query-balloon                     {"actual": BYTES}: RAM minus what the balloon holds
//   qom-get {"path": P, "property": "guest-stats"}
//                                     {"stats": {"stat-swap-in": N, ...}, "last-update": SECONDS}
//                                     (-1 for a value the guest did not report, as QEMU); any path,
//                                     since a VM has one balloon (libvirt finds it with qom-list)
//   qom-get ... "guest-stats-polling-interval"   the polling period in seconds
#include <linux/virtio_balloon.h>

#include <chrono>

#include "altovirt/vmm/machine.h"
#include "vm_control.h"

namespace altovirt::tool {

using qmp::Json;

namespace {

Result<devices::VirtioBalloon*> balloon_of(vmm::Machine& m) {
  auto& b = m.virtio().balloon;
  if (!b) return fail("No balloon device has been activated (add -device virtio-balloon-pci)");
  return b.get();
}

}  // namespace

Status register_balloon_commands(qmp::Server& server, VmControl& control) {
  AV_TRY(server.register_command(
      {"balloon", {{"value", qmp::ArgSpec::Type::integer}}, [&control](const Json& args) -> Result<Json> {
         int64_t value = args.at("value").get<int64_t>();
         if (value <= 0) return fail("Parameter 'value' expects a size: a positive number of bytes");
         return control.with_machine([value](vmm::Machine& m) -> Result<Json> {
           AV_TRY_ASSIGN(auto* b, balloon_of(m));
           b->set_target(static_cast<uint64_t>(value));
           return Json::object();
         });
       }}));
  AV_TRY(server.register_command({"query-balloon", {}, [&control](const Json&) -> Result<Json> {
                                    return control.with_machine([](vmm::Machine& m) -> Result<Json> {
                                      AV_TRY_ASSIGN(auto* b, balloon_of(m));
                                      return Json{{"actual", b->actual_bytes()}};
                                    });
                                  }}));
  AV_TRY(server.register_command(
      {"qom-get",
       {{"path", qmp::ArgSpec::Type::string}, {"property", qmp::ArgSpec::Type::string}},
       [&control](const Json& args) -> Result<Json> {
         std::string property = args.at("property").get<std::string>();
         return control.with_machine([&](vmm::Machine& m) -> Result<Json> {
           AV_TRY_ASSIGN(auto* b, balloon_of(m));
           if (property == "guest-stats-polling-interval") return Json(b->stats_period());
           if (property != "guest-stats")
             return fail("Property '{}' not found (altovirt's qom-get knows the balloon's guest-stats)", property);
           // QEMU's names for the VIRTIO_BALLOON_S_* tags (hw/virtio/virtio-balloon.c).
           static const std::pair<uint16_t, const char*> kNames[] = {
               {VIRTIO_BALLOON_S_SWAP_IN, "stat-swap-in"},       {VIRTIO_BALLOON_S_SWAP_OUT, "stat-swap-out"},
               {VIRTIO_BALLOON_S_MAJFLT, "stat-major-faults"},   {VIRTIO_BALLOON_S_MINFLT, "stat-minor-faults"},
               {VIRTIO_BALLOON_S_MEMFREE, "stat-free-memory"},   {VIRTIO_BALLOON_S_MEMTOT, "stat-total-memory"},
               {VIRTIO_BALLOON_S_AVAIL, "stat-available-memory"}, {VIRTIO_BALLOON_S_CACHES, "stat-disk-caches"},
               {VIRTIO_BALLOON_S_HTLB_PGALLOC, "stat-htlb-pgalloc"}, {VIRTIO_BALLOON_S_HTLB_PGFAIL, "stat-htlb-pgfail"}};
           devices::BalloonStats s = b->stats();
           Json stats = Json::object();
           for (auto [tag, name] : kNames) {
             auto it = s.values.find(tag);
             stats[name] = it == s.values.end() ? Json(-1) : Json(it->second);
           }
           int64_t updated = s.updated ? std::chrono::duration_cast<std::chrono::seconds>(s.updated->time_since_epoch()).count() : 0;
           return Json{{"stats", stats}, {"last-update", updated}};
         });
       }}));
  return ok();
}

}  // namespace altovirt::tool
