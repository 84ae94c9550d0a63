// QMP hot-plug commands, in QEMU's shapes (qapi/qdev.json):
//   device_add {"driver": "vfio-pci", "id": ID, "bus": ROOTPORT, "host": "0000:01:00.0"
//               | "sysfsdev": PATH [, "addr": "0"] [, "rombar": 0|1]}     -> {} once the guest was told
//   device_del {"id": ID}   -> {} once the guest was asked; the event DEVICE_DELETED {"device": ID,
//               "path": "/machine/peripheral/ID"} follows when the guest has let go (Linux's pciehp
//               waits 5 s after the attention button for a cancelling second press).
// The work runs on the main thread (Machine::post): opening /dev/vfio/N is the main thread's right
// under the sandbox, and it keeps device set-up off the QMP thread.
#include <atomic>
#include <future>

#include "altovirt/vmm/machine.h"
#include "vm_control.h"

namespace altovirt::tool {

using qmp::Json;

namespace {

// Runs `fn` on the machine's main thread and waits for its result.
Result<Json> on_main_thread(vmm::Machine& m, std::function<Status(vmm::Machine&)> fn) {
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  // A command that timed out must not happen later behind the client's back.
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  if (!m.post([&m, fn = std::move(fn), done, cancelled] {
        if (cancelled->load()) return;  // the promise breaks; nobody waits for it any more
        done->set_value(fn(m));
      }))
    return fail("the machine is stopping; try again once it runs");
  if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    cancelled->store(true);
    // It may have started just now: then its outcome is the answer after all.
    if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
      return fail("the machine did not get to it within 60 s; nothing was done");
  }
  try {
    AV_TRY(result.get());
  } catch (const std::future_error&) {
    if (cancelled->load()) return fail("the machine did not get to it within 60 s; nothing was done");
    return fail("the machine stopped (a guest reset or power-off) before it got to it; try again");
  }
  return Json::object();
}

// A -device text from device_add's arguments, so that both take the same keys and give the same
// errors.
Result<std::string> device_text(const Json& args) {
  std::string text = args.at("driver").get<std::string>();
  for (auto& [key, value] : args.items()) {
    if (key == "driver") continue;
    std::string v;
    if (value.is_string()) v = value.get<std::string>();
    else if (value.is_number_integer()) v = std::to_string(value.get<int64_t>());
    else if (value.is_boolean()) v = value.get<bool>() ? "on" : "off";
    else return fail("Parameter '{}' expects a string, a number or a boolean", key);
    if (v.find(',') != std::string::npos) return fail("Parameter '{}': a value may not contain ','", key);
    text += "," + key + "=" + v;
  }
  return text;
}

}  // namespace

Status register_hotplug_commands(qmp::Server& server, VmControl& control) {
  using T = qmp::ArgSpec::Type;
  AV_TRY(server.register_command(
      {"device_add",
       {{"driver", T::string}, {"id", T::string, false}, {"bus", T::string, false}, {"addr", T::any, false},
        {"host", T::string, false}, {"sysfsdev", T::string, false}, {"rombar", T::any, false}},
       [&control](const Json& args) -> Result<Json> {
         AV_TRY_ASSIGN(std::string text, device_text(args));
         AV_TRY_ASSIGN(vmm::DeviceSpec spec, vmm::parse_device(text, vmm::DeviceRegistry::global()));
         return control.with_machine([&](vmm::Machine& m) {
           return on_main_thread(m, [spec](vmm::Machine& mm) { return mm.hot_add(spec); });
         });
       }}));
  AV_TRY(server.register_command({"device_del", {{"id", T::string}}, [&control](const Json& args) -> Result<Json> {
                                    std::string id = args.at("id").get<std::string>();
                                    return control.with_machine([&](vmm::Machine& m) {
                                      return on_main_thread(m, [id](vmm::Machine& mm) { return mm.request_removal(id); });
                                    });
                                  }}));
  return ok();
}

}  // namespace altovirt::tool
