// The "virtio-net-pci" -device kind: -device virtio-net-pci,netdev=ID[,mac=MAC][,iothread=ID] plus
// the PCI placement keys, on a -netdev tap backend (QEMU's syntax). The tap (and vhost-net) are
// opened here, while the machine is built, so every problem (no /dev/net/tun, a busy tap, vhost=on
// without /dev/vhost-net) stops altovirt before the guest runs, naming the option.
#include "altovirt/base/log.h"
#include "altovirt/virtio_net/net_device.h"
#include "altovirt/virtio_net/tap.h"
#include "altovirt/virtio_net/vhost_net.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/virtio_context.h"

namespace altovirt::vmm {
namespace {

Status create_virtio_net(Machine& machine, const DeviceSpec& spec) {
  auto n = spec.props.find("netdev");
  if (n == spec.props.end())
    return fail("netdev=ID is required, naming a -netdev tap,id=ID,ifname=TAP");
  const NetdevSpec* netdev = machine.find_netdev(n->second);
  if (netdev == nullptr) return fail("netdev={}: no -netdev (or netdev_add) has id={}", n->second, n->second);
  auto& used = machine.virtio().netdevs_in_use;
  if (!used.insert(netdev->id).second) return fail("netdev={}: the netdev is already used by another device", netdev->id);
  // Until the device is on the machine, a failure gives the netdev back (a failed hot-add leaves
  // it free for the next try).
  InUse claim{used, netdev->id};

  // QEMU's default address, 52:54:00:12:34:56, counting up for each further NIC.
  virtio_net::MacAddress mac{0x52, 0x54, 0x00, 0x12, 0x34, static_cast<uint8_t>(0x56 + machine.virtio().default_macs)};
  if (auto m = spec.props.find("mac"); m == spec.props.end()) {
    ++machine.virtio().default_macs;
  } else {
    auto parsed = virtio_net::parse_mac(m->second);
    if (!parsed) return std::unexpected(parsed.error());
    mac = *parsed;
  }
  std::string where = "-netdev " + netdev->text;
  auto tap = virtio_net::Tap::open(netdev->ifname, netdev->queues);
  if (!tap) return std::unexpected(tap.error().context(where));
  bool created = (*tap)->created();

  std::unique_ptr<virtio_net::VhostNet> vhost;
  if (netdev->vhost.value_or(virtio_net::VhostNet::available())) {
    auto v = virtio_net::VhostNet::open(netdev->queues);
    if (v) {
      vhost = std::move(*v);
    } else if (netdev->vhost.has_value()) {
      return std::unexpected(v.error().context(where));
    } else {
      log::warn("virtio-net", "{}: vhost-net unavailable, the data path runs in altovirt: {}", where, v.error().message());
    }
  }
  bool with_vhost = vhost != nullptr;
  auto model = std::make_shared<virtio_net::VirtioNet>(mac, std::move(*tap), std::move(vhost));
  AV_TRY_ASSIGN(pci::PciAddress at, add_virtio_pci(machine, spec, std::move(model), &claim));
  log::info("virtio-net", "tap {} ({}, {} queue pair{}, {}) with MAC {:02x} is guest device {}", netdev->ifname,
            created ? "created, removed when altovirt exits" : "existing", netdev->queues, netdev->queues > 1 ? "s" : "",
            with_vhost ? "vhost-net" : "data path in altovirt", fmt::join(mac, ":"), at.str());
  return ok();
}

}  // namespace

void register_virtio_net(DeviceRegistry& registry) {
  std::vector<std::string> keys = {"netdev", "mac"};
  keys.insert(keys.end(), kVirtioPciKeys.begin(), kVirtioPciKeys.end());
  DeviceKind kind{"virtio-net-pci,netdev=ID[,mac=MAC][,iothread=ID]: a virtio NIC on a -netdev tap (or netdev_add)",
                  std::move(keys), create_virtio_net};
  kind.hotpluggable = true;  // QMP netdev_add + device_add behind a root port
  kind.boot_suffix = "/ethernet-phy@0";  // QEMU's virtio_net_instance_init
  registry.add("virtio-net-pci", std::move(kind));
}

}  // namespace altovirt::vmm
