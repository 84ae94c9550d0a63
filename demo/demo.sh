#!/usr/bin/env bash
# The demo: inside the testbed's test host (an IOMMU, vfio-pci, KVM, an e1000e NIC and an SR-IOV
# NVMe), altoctl checks the host and hands the e1000e to vfio-pci, altovirt boots a VM with the NIC
# passed through, the guest's own e1000e driver gets a DHCP lease over it and pings the test host,
# and afterwards the NIC goes back to its host driver.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-build}
case "$build" in /*) ;; *) build=$(cd "$here/.." && pwd)/$build ;; esac
exec "$here/../testbed/testbed" --env "ALTOVIRT_BUILD=$build" --env "ALTOVIRT_SRC=$(cd "$here/.." && pwd)" \
  --script "$here/tour.sh"
