#!/usr/bin/env bash
# The demo: boots the testbed's test host and shows what passthrough needs there: IOMMU groups,
# vfio-pci taking a device, KVM, and the NVMe controller's SR-IOV capability.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../testbed/testbed" --script "$here/tour.sh"
