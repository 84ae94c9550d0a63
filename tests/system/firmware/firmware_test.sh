#!/usr/bin/env bash
# Stock OVMF (Debian's OVMF_CODE_4M.fd and a copy of OVMF_VARS_4M.fd) on altovirt, with real guests:
#  - bad firmware inputs are refused before start, each naming the -drive (an SMM image, a code and
#    variables pair of two builds, a variable store that cannot be written);
#  - OVMF boots the Linux kernel altovirt hands it through fw_cfg: the guest runs under UEFI
#    (/sys/firmware/efi), sees the ICH9 LPC function, and writes a non-volatile EFI variable;
#  - a second VM on the same variable store reads that variable back (the flash's writes reached
#    the file), then reboots, and comes back through the firmware; OVMF draws on its virtio-gpu,
#    seen with a VNC client;
#  - the seed scenario under firmware is firmware_passthrough_test.sh, in a test host of its own.
. "$(dirname "$0")/firmware_lib.sh"

step "bad firmware inputs"
out=$("$ALTOVIRT" -m 256M -drive "$(code /usr/share/OVMF/OVMF_CODE_4M.ms.fd)" -drive "$(vars "$VARS")" 2>&1); rc=$?
expect_eq "SMM image: exit status" 2 "$rc"
expect_contains "SMM image: named with its descriptor" "needs SMM (its descriptor /usr/share/qemu/firmware/" "$out"
cp /usr/share/OVMF/OVMF_VARS.fd /tmp/2m_VARS.fd  # the 2 MiB build's store
out=$("$ALTOVIRT" -m 256M -drive "$(code "$CODE")" -drive "$(vars /tmp/2m_VARS.fd)" 2>&1); rc=$?
expect_eq "mismatched pair: exit status" 1 "$rc"
expect_contains "mismatched pair: says so" "are not halves of one firmware build" "$out"
cp "$TEMPLATE" /tmp/ro_VARS.fd; chmod 0444 /tmp/ro_VARS.fd
out=$(runuser -u nobody -- "$ALTOVIRT" -m 256M -drive "$(code "$CODE")" -drive "$(vars /tmp/ro_VARS.fd)" 2>&1); rc=$?
expect_eq "read-only variable store: exit status" 2 "$rc"
expect_contains "read-only variable store: named" "the variable store '/tmp/ro_VARS.fd' must be a writable file" "$out"

step "a kernel through OVMF"
start=$SECONDS
guest boot1 efi,info,efivar-write "guest.newpattern=fw-var-1"; rc=$?
grep -a GUEST- /tmp/boot1.out
echo "# boot through OVMF to the guest's power-off: $((SECONDS - start)) s"
expect_eq "through OVMF: exit status ($(tail -n 3 /tmp/boot1.err))" 0 "$rc"
expect_contains "the guest booted under UEFI" "GUEST-EFI yes 64-bit" "$(cat /tmp/boot1.out)"
expect_contains "the guest sees the ICH9 LPC function" "GUEST-PCI 0000:00:1f.0 0x8086:0x2918 class=0x060100" "$(cat /tmp/boot1.out)"
expect_contains "the guest wrote an EFI variable" "GUEST-EFIVAR-WRITTEN fw-var-1" "$(cat /tmp/boot1.out)"
expect_contains "OVMF moved ECAM (PCIEXBAR)" "the guest moved PCI ECAM to 0xb0000000..0xbfffffff" "$(cat /tmp/boot1.log)"
expect_contains "the guest powered off" "the guest powered off" "$(cat /tmp/boot1.log)"

step "the variable store persists; a reboot comes back through the firmware"
# The second VM reads the variable, then reboots (reboot -f: a reset altovirt rebuilds the machine
# for, starting at the reset vector again); its second boot reads it again, then it is stopped.
# It has a screen too: OVMF drives the virtio-gpu with its own VirtioGpuDxe and draws its console
# and logo there, seen over VNC while the firmware runs (at ExitBootServices the driver resets the
# device, and this guest's kernel has no virtio-gpu driver, so the screen is looked at early).
guest boot2 efivar-read,reboot "" -device virtio-gpu-pci -vnc :3 &
vm=$!
ovmf_lit=0 ovmf_size=""
for _ in $(seq 120); do
  if ovmf_size=$("$ALTOVIRT_BUILD/tests/system/vnc_probe" 127.0.0.1:5903 shot /tmp/ovmf.ppm 2>/dev/null); then
    ovmf_lit=$(lit_pixels /tmp/ovmf.ppm)
    [ "$ovmf_lit" -gt 200 ] && break
  fi
  grep -aq GUEST-EFIVAR /tmp/boot2.out && break
  sleep 1
done
[ "$ovmf_lit" -gt 200 ] || fail "OVMF drew nothing on the virtio-gpu screen before the kernel ran ($ovmf_lit lit pixels, ${ovmf_size:-no screenshot})"
pass "OVMF draws on the virtio-gpu screen over VNC (${ovmf_size}, $ovmf_lit lit pixels)"
wait_for 400 sh -c '[ "$(grep -ac "GUEST-EFIVAR fw-var-1" /tmp/boot2.out)" -ge 2 ]' ||
  { vm_hang_report "$vm" /tmp/boot2.log; cat /tmp/boot2.out | tail -n 30; fail "the second VM did not read the variable in two boots"; }
kill -TERM "$vm" 2>/dev/null
wait_pid 60 "$vm" "altovirt (boot2)"
grep -a GUEST- /tmp/boot2.out | head -6
pass "a second VM read the variable back from the variable store, in two boots"
expect_eq "a guest reboot rebuilt the machine once or more" 1 "$([ "$(grep -c 'set-up took' /tmp/boot2.log)" -ge 2 ] && echo 1)"

finish
