#!/usr/bin/env bash
# The demo: inside the testbed's test host (an IOMMU, vfio-pci, KVM, an e1000e NIC and an SR-IOV
# NVMe), altoctl checks the host and hands the e1000e to vfio-pci, altovirt boots a VM with the NIC
# passed through, the guest's own e1000e driver gets a DHCP lease over it and pings the test host,
# and afterwards the NIC goes back to its host driver. With --standard-vm, then the standard VM:
# StratoVirt's example domain (root ports, a Debian 12 root disk on virtio-blk, the virtio console,
# the NIC) boots Debian, root logs in over `altoctl console`, `dhclient` gets a lease on the NIC, and
# `altoctl setmem` takes memory from the guest through its balloon.
#
#   demo/demo.sh [--standard-vm]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-build}
case "$build" in /*) ;; *) build=$(cd "$here/.." && pwd)/$build ;; esac
extra=()
case "${1:-}" in
  "") ;;
  --standard-vm)
    # The Debian image is built once (mmdebstrap, a few minutes) and cached in the build tree.
    "$here/../testbed/debian-image" "$build/testbed/debian"
    extra=(--disk "$build/testbed/debian/disk.img" --env DEMO_STANDARD_VM=1) ;;
  *) echo "demo.sh: unknown argument '$1' (accepted: --standard-vm)" >&2; exit 2 ;;
esac
exec "$here/../testbed/testbed" --env "ALTOVIRT_BUILD=$build" --env "ALTOVIRT_SRC=$(cd "$here/.." && pwd)" \
  "${extra[@]}" --script "$here/tour.sh"
