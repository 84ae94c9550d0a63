// altoctl: prepares a host for VFIO passthrough with virsh's verbs. See commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "device_verbs.h"
#include "domain_verbs.h"
#include "lifecycle.h"
#include "verb_suggest.h"

int main(int argc, char** argv) {
  using namespace altoctl;
  CLI::App app{"altoctl: check a host for VFIO passthrough, list PCI devices, detach/reattach them to "
               "vfio-pci, create SR-IOV VFs, and run VMs from libvirt domain XML with virsh's verbs"};
  app.require_subcommand(1);
  app.fallthrough();
  Global g;
  app.add_option("--state-dir", g.state_dir,
                 "state directory (default: $ALTOVIRT_STATE_DIR or /run/altovirt)");
  app.add_option("--config-dir", g.config_dir,
                 "where defined domains are kept (default: $ALTOVIRT_CONFIG_DIR or /etc/altovirt/domains)");
  app.add_option("--user", g.vm_user,
                 "the user altovirt runs as (default: $ALTOVIRT_USER, else 'altovirt' when it exists, else root)");
  // For tests: a directory laid out like / with sys/, proc/, dev/.
  app.add_option("--sysfs-root", g.sysfs_root)->group("");

  int status = kExitOk;

  std::string device, driver = "vfio", cap = "pci", autoprobe;
  bool json = false, load_modules = false, group = false, vfio = false;
  unsigned count = 0;

  auto* validate = app.add_subcommand("host-validate", "check that this host can do VFIO passthrough");
  validate->add_option("--device", device, "also check this PCI device (its IOMMU group and reset)");
  validate->add_flag("--load-modules", load_modules, "load vfio-pci when it is not loaded");
  validate->add_flag("--json", json, "print JSON");
  validate->callback([&] { status = host_validate(g, device, load_modules, json); });

  auto* list = app.add_subcommand("nodedev-list", "list PCI devices with drivers, IOMMU groups and SR-IOV");
  list->add_option("--cap", cap, "device capability (only 'pci')")->check(CLI::IsMember({"pci"}));
  list->add_flag("--json", json, "print JSON");
  list->callback([&] { status = nodedev_list(g, cap, json); });

  auto* detach = app.add_subcommand("nodedev-detach", "unbind a PCI device from its host driver and bind vfio-pci");
  detach->add_option("device", device, "PCI address (0000:03:00.0, 03:00.0) or node-device name (pci_0000_03_00_0)")
      ->required();
  detach->add_option("--driver", driver, "driver to bind (only 'vfio')")->check(CLI::IsMember({"vfio"}));
  detach->add_flag("--group", group, "detach every device of the IOMMU group");
  detach->callback([&] { status = nodedev_detach(g, device, driver, group); });

  auto* reattach = app.add_subcommand("nodedev-reattach", "give a detached PCI device back to its host driver");
  reattach->add_option("device", device, "PCI address or node-device name")->required();
  reattach->callback([&] { status = nodedev_reattach(g, device); });

  auto* reset = app.add_subcommand("nodedev-reset", "reset a PCI device through the kernel (FLR, PM, bus reset)");
  reset->add_option("device", device, "PCI address or node-device name")->required();
  reset->callback([&] { status = nodedev_reset(g, device); });

  auto* sset = app.add_subcommand("sriov-set", "set the number of SR-IOV virtual functions of a PF");
  sset->add_option("pf", device, "the physical function: PCI address or node-device name")->required();
  sset->add_option("count", count, "number of VFs (0 removes them)")->required();
  sset->add_option("--autoprobe", autoprobe, "let host drivers probe new VFs (on/off; kept afterwards)")
      ->check(CLI::IsMember({"on", "off"}));
  sset->add_flag("--vfio", vfio, "bind the VFs to vfio-pci (host drivers never see them)");
  sset->callback([&] { status = sriov_set(g, device, count, autoprobe, vfio); });

  auto* slist = app.add_subcommand("sriov-list", "list the SR-IOV virtual functions of a PF");
  slist->add_option("pf", device, "the physical function: PCI address or node-device name")->required();
  slist->add_flag("--json", json, "print JSON");
  slist->callback([&] { status = sriov_list(g, device, json); });

  // VM lifecycle (virsh's verbs).
  std::string file, domain;
  bool all = false, reason = false;
  unsigned timeout = 300;
  auto* create = app.add_subcommand("create", "start a transient domain from a libvirt domain XML file");
  create->add_option("file", file, "domain XML file")->required();
  create->callback([&] { status = vm_create(g, file); });
  auto* define = app.add_subcommand("define", "define a persistent domain from a libvirt domain XML file");
  define->add_option("file", file, "domain XML file")->required();
  define->callback([&] { status = vm_define(g, file); });
  auto* start = app.add_subcommand("start", "start a defined domain");
  start->add_option("domain", domain, "domain name")->required();
  start->callback([&] { status = vm_start(g, domain); });
  auto* undefine = app.add_subcommand("undefine", "remove a domain's definition");
  undefine->add_option("domain", domain, "domain name")->required();
  NvramChoice nvram = NvramChoice::ask;
  bool remove_nvram = false, keep_nvram = false;
  auto* rm_nv = undefine->add_flag("--nvram", remove_nvram, "also remove its UEFI variable store");
  undefine->add_flag("--keep-nvram", keep_nvram, "keep its UEFI variable store")->excludes(rm_nv);
  undefine->callback([&] {
    nvram = remove_nvram ? NvramChoice::remove : keep_nvram ? NvramChoice::keep : NvramChoice::ask;
    status = vm_undefine(g, domain, nvram);
  });
  bool name_only = false;
  auto* vlist = app.add_subcommand("list", "list running domains (--all: also shut off and defined ones)");
  vlist->add_flag("--all", all, "also domains that are not running");
  vlist->add_flag("--name", name_only, "only the names, one a line");
  vlist->callback([&] { status = vm_list(g, all, name_only); });
  auto* console = app.add_subcommand("console", "attach to a domain's console: its virtio console, else its serial port (Ctrl+] detaches)");
  console->add_option("domain", domain, "domain name or id")->required();
  console->callback([&] { status = vm_console(g, domain); });
  auto* shutdown = app.add_subcommand("shutdown", "ask the guest to power off (ACPI power button) and wait");
  shutdown->add_option("domain", domain, "domain name or id");
  shutdown->add_option("--timeout", timeout, "seconds to wait for the guest to power off (0: do not wait)");
  shutdown->add_flag("--all", all, "every running domain; those still running after --timeout are destroyed "
                                   "(what the host shutdown unit runs)");
  shutdown->callback([&] {
    if (all != domain.empty()) {
      std::fputs("error: shutdown: name one domain, or --all\n", stderr);
      status = kExitUsage;
    } else {
      status = all ? vm_shutdown_all(g, timeout) : vm_shutdown(g, domain, timeout);
    }
  });
  auto* destroy = app.add_subcommand("destroy", "stop a domain at once (no guest shutdown)");
  destroy->add_option("domain", domain, "domain name or id")->required();
  destroy->callback([&] { status = vm_destroy(g, domain); });
  auto* dumpxml = app.add_subcommand("dumpxml", "print a domain's XML");
  dumpxml->add_option("domain", domain, "domain name or id")->required();
  bool security_info = false;
  dumpxml->add_flag("--security-info", security_info, "include the VNC password (<graphics passwd>)");
  dumpxml->callback([&] { status = vm_dumpxml(g, domain, security_info); });
  auto* domstate = app.add_subcommand("domstate", "print a domain's state");
  domstate->add_option("domain", domain, "domain name or id")->required();
  domstate->add_flag("--reason", reason, "also why it is in that state");
  domstate->callback([&] { status = vm_domstate(g, domain, reason); });

  // The rest of virsh's daily verbs (domain_verbs.h): one domain argument each.
  auto domain_verb = [&](const char* verb, const char* help, int (*fn)(const Global&, const std::string&)) {
    auto* sub = app.add_subcommand(verb, help);
    sub->add_option("domain", domain, "domain name or id")->required();
    sub->callback([&, fn] { status = fn(g, domain); });
    return sub;
  };
  std::string mode;
  auto* reboot = domain_verb("reboot", "ask the guest to reboot (ACPI power button; its power-off restarts it)", nullptr);
  reboot->add_option("--mode", mode, "how: acpi (the default; the only mode altovirt has)");
  reboot->callback([&] { status = vm_reboot(g, domain, mode); });
  domain_verb("reset", "reset the domain at once, as the reset button does (no guest shutdown)", vm_reset);
  domain_verb("suspend", "pause the domain's vCPUs (QMP stop); state 'paused'", vm_suspend);
  domain_verb("resume", "run a suspended domain again (QMP cont)", vm_resume);
  domain_verb("dominfo", "id, name, UUID, state, CPUs, memory, persistence and autostart of a domain", vm_dominfo);
  domain_verb("domid", "the id of a running domain ('-' when it is not running)", vm_domid);
  domain_verb("domname", "the name of a domain given by id", vm_domname);
  domain_verb("domuuid", "the UUID of a domain", vm_domuuid);
  domain_verb("vncdisplay", "where a running domain's VNC display is (HOST:N; :N when on every address)", vm_vncdisplay);
  domain_verb("domblklist", "the disks of a domain: target and source, as virsh lists them", vm_domblklist);
  domain_verb("domhostdev", "the host PCI devices of a domain, with the host driver each is on now", vm_domhostdev);
  domain_verb("edit", "edit a defined domain's XML in $EDITOR; kept only if valid", vm_edit);
  std::string mem_size;
  auto* setmem = domain_verb("setmem", "set a running domain's memory through its balloon (SIZE: KiB, or 512M, 1G, ...)", nullptr);
  setmem->add_option("size", mem_size, "the guest's new memory size (virsh units: KiB by default)")->required();
  setmem->callback([&] { status = vm_setmem(g, domain, mem_size); });
  domain_verb("dommemstat", "the balloon's memory statistics of a running domain, as virsh prints them", vm_dommemstat);
  // attach-device / detach-device DOMAIN FILE with virsh's flags (device_verbs.h).
  DeviceFlags device_flags;
  bool device_current = false;
  for (auto [verb, help, fn] : {std::tuple{"attach-device", "attach a <hostdev> (hot-plug into a running domain), or add a "
                                                            "<hostdev>, <disk> or <interface> to a definition",
                                           &vm_attach_device},
                                std::tuple{"detach-device", "detach a <hostdev> from a running domain (the guest lets go "
                                                            "first), or remove a device from a definition",
                                           &vm_detach_device}}) {
    auto* sub = app.add_subcommand(verb, help);
    sub->add_option("domain", domain, "domain name or id")->required();
    sub->add_option("file", file, "XML file with one <hostdev>, <disk> or <interface> element")->required();
    auto* live = sub->add_flag("--live", device_flags.live, "change the running domain");
    auto* config = sub->add_flag("--config", device_flags.config, "change the definition (from the next start)");
    auto* persistent = sub->add_flag("--persistent", device_flags.persistent,
                                     "change the definition, and the running domain if it runs");
    auto* current = sub->add_flag("--current", device_current, "the running domain if it runs, else the definition (the default)");
    current->excludes(live)->excludes(config)->excludes(persistent);
    sub->callback([&, fn] { status = fn(g, domain, file, device_flags); });
  }
  bool disable = false;
  auto* autostart = domain_verb("autostart", "start a defined domain at host boot (--disable: no longer)", nullptr);
  autostart->add_flag("--disable", disable, "remove the mark");
  autostart->callback([&] { status = vm_autostart(g, domain, disable); });
  bool start_marked = false;
  auto* recover_cmd = app.add_subcommand("recover", "after a crash or host reboot: clean up records of dead domains, "
                                                    "give their devices back (--autostart: then start marked domains)");
  recover_cmd->add_flag("--autostart", start_marked, "start every domain marked with `autostart` (the boot unit)");
  recover_cmd->callback([&] { status = recover(g, start_marked); });
  app.add_subcommand("version", "altoctl's and altovirt's versions")->callback([&] { status = version(g); });

  // An unknown verb names itself and the closest ones (CLI11 alone would say "A subcommand is required").
  std::vector<std::string> verbs;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) verbs.push_back(sub->get_name());
  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto word = unknown_verb(args, verbs, {"--state-dir", "--config-dir", "--sysfs-root"})) {
    std::fprintf(stderr, "error: %s\n", unknown_verb_message(*word, verbs).c_str());
    return kExitUsage;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return status;
}
