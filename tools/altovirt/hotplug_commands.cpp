// QMP hot-plug commands, in QEMU's shapes (qapi/qdev.json):
//   device_add {"driver": "vfio-pci", "id": ID, "bus": ROOTPORT, "host": "0000:01:00.0"
//               | "sysfsdev": PATH [, "addr": "0"] [, "rombar": 0|1]}     -> {} once the guest was told
//   device_del {"id": ID}   -> {} once the guest was asked; the event DEVICE_DELETED {"device": ID,
//               "path": "/machine/peripheral/ID"} follows when the guest has let go (Linux's pciehp
//               waits 5 s after the attention button for a cancelling second press).
//   device_add {"driver": "virtio-blk-pci", "id": ID, "bus": ROOTPORT, "drive": NODE [, "serial": S]
//               [, "iothread": ID]}, after
//   blockdev-add {"node-name": NODE, "driver": "raw", "file": {"driver": "file", "filename": PATH
//                [, "aio": "io_uring"|"threads"]} [, "read-only": B] [, "cache": {"direct": B}]
//                [, "discard": "unmap"|"ignore"]}   (or "driver": "file", "filename": PATH directly)
//   blockdev-del {"node-name": NODE}        once no device uses it
//   device_add {"driver": "virtio-net-pci", "id": ID, "bus": ROOTPORT, "netdev": ID [, "mac": MAC]}, after
//   netdev_add {"type": "tap", "id": ID, "ifname": TAP [, "vhost": B] [, "queues": N]}
//   netdev_del {"id": ID}                   once no device uses it
// The work runs on the main thread (Machine::post): opening /dev/vfio/N, images and taps is the main
// thread's right under the sandbox, and it keeps device set-up off the QMP thread.
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

// blockdev-add's arguments (QEMU's BlockdevOptions, the raw-over-file subset) as a -drive text.
Result<std::string> drive_text(const Json& args) {
  std::string node = args.at("node-name").get<std::string>();
  std::string driver = args.at("driver").get<std::string>();
  Json file = args.value("file", Json());
  std::string filename, aio;
  if (driver == "raw") {
    auto string_of = [&](const char* key) {
      return file.is_object() && file.contains(key) && file[key].is_string() ? file[key].get<std::string>() : std::string();
    };
    std::string protocol = string_of("driver");
    if ((protocol != "file" && protocol != "host_device") || string_of("filename").empty())
      return fail("blockdev-add: driver 'raw' needs \"file\": {{\"driver\": \"file\"|\"host_device\", \"filename\": PATH}}");
    filename = string_of("filename");
    aio = string_of("aio");
  } else if (driver == "file" || driver == "host_device") {
    if (!args.contains("filename") || !args["filename"].is_string()) return fail("blockdev-add: driver '{}' needs \"filename\"", driver);
    filename = args["filename"].get<std::string>();
    aio = args.value("aio", "");
  } else {
    return fail("blockdev-add: driver '{}' is not supported (raw over file or host_device, or either alone)", driver);
  }
  if (!aio.empty() && aio != "io_uring" && aio != "threads") return fail("blockdev-add: aio '{}': io_uring or threads", aio);
  for (const std::string* v : {&node, &filename, &aio})
    if (v->find(',') != std::string::npos) return fail("blockdev-add: '{}' may not contain ','", *v);
  std::string text = fmt::format("file={},format=raw,if=none,id={}", filename, node);
  if (args.value("read-only", false)) text += ",readonly=on";
  if (args.contains("cache")) {
    const Json& c = args["cache"];
    if (!c.is_object() || (c.contains("direct") && !c["direct"].is_boolean()))
      return fail("blockdev-add: \"cache\" must be {{\"direct\": true|false}}");
    if (c.value("direct", false)) text += ",cache=none";
  }
  if (!aio.empty()) text += ",aio=" + aio;
  if (args.contains("discard")) {
    std::string d = args["discard"].get<std::string>();
    if (d != "unmap" && d != "ignore") return fail("blockdev-add: discard '{}': unmap or ignore", d);
    text += ",discard=" + d;
  }
  return text;
}

// netdev_add's arguments (QEMU's NetdevTapOptions subset) as a -netdev text.
Result<std::string> netdev_text(const Json& args) {
  if (args.at("type").get<std::string>() != "tap") return fail("netdev_add: type '{}' is not supported (tap)", args["type"].get<std::string>());
  if (!args.contains("ifname") || !args["ifname"].is_string()) return fail("netdev_add: \"ifname\": TAP is required");
  std::string id = args.at("id").get<std::string>(), ifname = args["ifname"].get<std::string>();
  for (const std::string* v : {&id, &ifname})
    if (v->find(',') != std::string::npos) return fail("netdev_add: '{}' may not contain ','", *v);
  std::string text = fmt::format("tap,id={},ifname={},script=no,downscript=no", id, ifname);
  if (args.contains("vhost")) {
    const Json& v = args["vhost"];
    if (!v.is_boolean()) return fail("netdev_add: \"vhost\" must be true or false");
    text += v.get<bool>() ? ",vhost=on" : ",vhost=off";
  }
  if (args.contains("queues")) {
    const Json& q = args["queues"];
    if (!q.is_number_unsigned()) return fail("netdev_add: \"queues\" must be a number");
    text += fmt::format(",queues={}", q.get<uint64_t>());
  }
  return text;
}

}  // namespace

Status register_hotplug_commands(qmp::Server& server, VmControl& control) {
  using T = qmp::ArgSpec::Type;
  AV_TRY(server.register_command(
      {"device_add",
       {{"driver", T::string}, {"id", T::string, false}, {"bus", T::string, false}, {"addr", T::any, false},
        {"host", T::string, false}, {"sysfsdev", T::string, false}, {"rombar", T::any, false},
        {"drive", T::string, false}, {"serial", T::string, false}, {"iothread", T::string, false},
        {"netdev", T::string, false}, {"mac", T::string, false}},
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
  // Backends: checked and recorded on the main thread, opened by the device that takes them.
  auto on_main = [&control](std::function<Status(vmm::Machine&)> fn) -> Result<Json> {
    return control.with_machine([&](vmm::Machine& m) { return on_main_thread(m, fn); });
  };
  AV_TRY(server.register_command(
      {"blockdev-add",
       {{"node-name", T::string}, {"driver", T::string}, {"file", T::any, false}, {"filename", T::string, false},
        {"aio", T::string, false}, {"read-only", T::boolean, false}, {"cache", T::any, false}, {"discard", T::string, false}},
       [on_main](const Json& args) -> Result<Json> {
         AV_TRY_ASSIGN(std::string text, drive_text(args));
         AV_TRY_ASSIGN(vmm::DriveSpec drive, vmm::parse_drive(text));
         return on_main([drive](vmm::Machine& m) { return m.add_drive(drive); });
       }}));
  AV_TRY(server.register_command({"blockdev-del", {{"node-name", T::string}}, [on_main](const Json& args) -> Result<Json> {
                                    std::string id = args.at("node-name").get<std::string>();
                                    return on_main([id](vmm::Machine& m) { return m.delete_drive(id); });
                                  }}));
  AV_TRY(server.register_command(
      {"netdev_add",
       {{"type", T::string}, {"id", T::string}, {"ifname", T::string, false}, {"vhost", T::any, false},
        {"queues", T::any, false}, {"script", T::string, false}, {"downscript", T::string, false}},
       [on_main](const Json& args) -> Result<Json> {
         for (const char* key : {"script", "downscript"})
           if (args.contains(key) && args[key].get<std::string>() != "no")
             return fail("netdev_add: altovirt runs no scripts; {} must be \"no\"", key);
         AV_TRY_ASSIGN(std::string text, netdev_text(args));
         AV_TRY_ASSIGN(vmm::NetdevSpec netdev, vmm::parse_netdev(text));
         return on_main([netdev](vmm::Machine& m) { return m.add_netdev(netdev); });
       }}));
  AV_TRY(server.register_command({"netdev_del", {{"id", T::string}}, [on_main](const Json& args) -> Result<Json> {
                                    std::string id = args.at("id").get<std::string>();
                                    return on_main([id](vmm::Machine& m) { return m.delete_netdev(id); });
                                  }}));
  return ok();
}

}  // namespace altovirt::tool
