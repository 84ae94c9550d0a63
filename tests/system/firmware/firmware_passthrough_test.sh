#!/usr/bin/env bash
# The seed scenario under stock OVMF: the e1000e passed through with its option ROM offered (the
# default rombar=1), its BARs placed by the firmware, the guest gets a DHCP lease over it. OVMF
# loads the NIC's iPXE driver from the ROM, reading it from altovirt's read-only copy without exits
# (trapped, its 62,000 reads took this boot from about 20 s to 134 s); the guest's kernel sees the
# same ROM afterwards.
# A test host of its own (not system.firmware's): OVMF guests crash this nested machine's kernel now
# and then (testbed --repeats), and a repeat then costs one OVMF boot, not four.
. "$(dirname "$0")/firmware_lib.sh"

step "passthrough under firmware: the e1000e, a DHCP lease and pings"
run_ok "DHCP server" tb_dhcp_server
run_ok "e1000e to vfio-pci" tb_bind_vfio "$NIC_BDF"
# bootindex=1: the firmware gets a boot order (fw_cfg bootorder) naming the NIC; the kernel from
# fw_cfg still boots first, as with QEMU.
guest seed dhcp,ping,info,rom "" -device vfio-pci,host="$NIC_BDF",bootindex=1; rc=$?
grep -a -e GUEST-LEASE -e GUEST-PING -e 8086:0x10d3 -e GUEST-FAIL -e GUEST-ROM /tmp/seed.out
grep -e "expansion ROM" -e " ROM  *base" /tmp/seed.log
expect_eq "seed under firmware: exit status ($(tail -n 3 /tmp/seed.err))" 0 "$rc"
expect_contains "seed under firmware: DHCP lease over the passed e1000e" "GUEST-LEASE" "$(cat /tmp/seed.out)"
expect_contains "seed under firmware: 10 pings without loss over it" "GUEST-PING" "$(cat /tmp/seed.out)"
expect_contains "seed under firmware: e1000e driver bound" "0x8086:0x10d3 class=0x020000 driver=e1000e" "$(cat /tmp/seed.out)"
# The firmware enables the ROM before Linux's e1000e driver enables MSI-X (the guest's 'rom' step
# enables it again later, from Linux).
rom_line=$(grep -n "the guest enabled the expansion ROM at" /tmp/seed.log | head -n1 | cut -d: -f1)
msix_line=$(grep -n "the guest enabled MSI-X" /tmp/seed.log | head -n1 | cut -d: -f1)
expect_eq "the firmware enabled the NIC's option ROM (in the log before the guest's MSI-X)" yes \
  "$([ -n "$rom_line" ] && [ -n "$msix_line" ] && [ "$rom_line" -lt "$msix_line" ] && echo yes || echo "no (ROM line ${rom_line:-none}, MSI-X line ${msix_line:-none})")"
# The exit counters list the ROM's trapped range only if something exited there: then no reads.
rom_reads=$(grep " ROM  *base" /tmp/seed.log | sed -n 's/.* reads *\([0-9]*\).*/\1/p')
expect_eq "no ROM read exited (the firmware read the copy)" 0 "${rom_reads:-0}"
expect_eq "the guest's kernel reads the same ROM (55aa, the host's size)" \
  "sig=55aa size=$(stat -c %s /sys/bus/pci/devices/$NIC_BDF/rom)" \
  "$(grep -a '^GUEST-ROM .* 0x8086:0x10d3' /tmp/seed.out | tr -d '\r' | awk '{print $4, $5}')"
expect_contains "the firmware was given the boot order (the e1000e's OpenFirmware path)" \
  "boot order 1: /pci@i0cf8/ethernet@" "$(cat /tmp/seed.log)"
finish
