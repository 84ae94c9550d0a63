#!/usr/bin/env bash
# A disk's own boot loader through stock OVMF, as a user boots an installed system: the Debian
# image's UEFI disk (testbed/debian-image: GPT, an EFI system partition with Debian's systemd-boot,
# the root) as a domain through altoctl with <loader>, <nvram template> and <boot order='1'/> on the
# disk behind a root port: OVMF gets the boot order (fw_cfg bootorder), boots systemd-boot from the
# ESP, Debian reaches its login prompt on the serial console (a root login there: the serial
# console's input under the sandbox); efibootmgr adds a boot entry, the domain is shut down, the entry
# is in its variable store file, and started again the firmware boots that entry; `undefine --nvram`
# removes the store. Needs the test host's CR8-intercepting kvm-amd (testbed/kvm-amd-cr8) and the
# image's efi-disk.img attached (testbed --disk).
. "$(dirname "$0")/../lib.sh"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
CODE=/usr/share/OVMF/OVMF_CODE_4M.fd TEMPLATE=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -r "$CODE" ] && [ -r "$TEMPLATE" ] || fail "no $CODE or $TEMPLATE (apt-get install ovmf)"
expect_contains "the test host runs the CR8-intercepting kvm-amd" "O" "$(cat /sys/module/kvm_amd/taint)"

step "a disk's own boot loader through OVMF: altoctl, boot order, efibootmgr"
EFI_DISK=$(tb_disk) || fail "the UEFI disk is not attached: run this test with testbed --disk build/testbed/debian/efi-disk.img"
ALTOCTL=$ALTOVIRT_BUILD/tools/altoctl/altoctl
export ALTOVIRT_STATE_DIR=/run/altovirt ALTOVIRT_CONFIG_DIR=/tmp/altovirt-domains ALTOVIRT_NVRAM_DIR=/tmp/altovirt-nvram
. "$ALTOVIRT_SRC/testbed/guest-console.sh"
GC_ON_TIMEOUT=vmm_snapshot
cat >/tmp/efi.xml <<XML
<domain type='kvm'>
  <name>efi</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>$CODE</loader>
    <nvram template='$TEMPLATE'/>
  </os>
  <features><acpi/></features>
  <devices>
    <emulator>$ALTOVIRT</emulator>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='$EFI_DISK'/>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <serial type='pty'/>
    <console type='pty'><target type='serial'/></console>
  </devices>
</domain>
XML
run_ok "define efi" "$ALTOCTL" define /tmp/efi.xml
efi_log=$ALTOVIRT_STATE_DIR/vms/efi/vmm/altovirt.log
# What a failure in this part needs: the console, the domain's state and its logs.
efi_report() {
  echo "# --- the serial console (last 60 lines)"; tr -d '\r' <"$GC_OUT" | sed 's/\x1b\[[0-9;?=]*[a-zA-Z]//g' | tail -n 60
  "$ALTOCTL" list --all
  for log in "$ALTOVIRT_STATE_DIR"/vms/efi/*.log "$efi_log"; do [ -f "$log" ] && { echo "# --- $log"; tail -n 30 "$log"; }; done
}
# boot_to_shell WHAT: starts the domain, waits for the login prompt on the serial console, logs in.
boot_to_shell() {
  local start=$SECONDS out
  out=$("$ALTOCTL" start efi 2>&1) || fail "$1: start efi: $out"
  gc_open "$ALTOCTL" console efi
  gc_wait 900 "login: " crash ||
    { efi_report; vmm_snapshot; fail "$1: no login prompt on the serial console within 900 s"; }
  pass "$1: Debian's login prompt $((SECONDS - start)) s after start (firmware, systemd-boot, kernel, systemd)"
  gc_login 120 || { efi_report; fail "$1: root login did not give a shell"; }
}
boot_to_shell "first boot"
expect_contains "the firmware got the boot order: the disk behind its root port" \
  "boot order 1: /pci@i0cf8/pci-bridge@" "$(grep 'boot order' "$efi_log")"
out=$(gc_run 60 'test -d /sys/firmware/efi && echo UEFI=yes; cat /proc/cmdline; efibootmgr -v')
echo "$out" | sed 's/^/# guest: /'
expect_contains "the guest runs under UEFI" "UEFI=yes" "$out"
expect_contains "systemd-boot's entry booted it (its command line)" "root=PARTUUID=" "$out"
expect_contains "the firmware booted the virtio disk behind the root port" "PciRoot(0x0)/Pci(" "$out"
out=$(gc_run 60 "efibootmgr -c -d /dev/vda -p 1 -L altovirt-test -l '\\EFI\\BOOT\\BOOTX64.EFI'"); rc=$?
expect_eq "efibootmgr -c: exit status ($out)" 0 "$rc"
expect_contains "efibootmgr created the entry" "altovirt-test" "$out"
entry=$(echo "$out" | sed -n 's/^Boot\([0-9A-F]\{4\}\)\* altovirt-test.*/\1/p' | head -n1)
[ -n "$entry" ] || fail "no Boot#### number for altovirt-test in: $out"
gc_close
out=$("$ALTOCTL" shutdown --timeout 300 efi 2>&1)
expect_eq "shutdown efi: exit status (output: $out)" 0 "$?"
vars=$ALTOVIRT_NVRAM_DIR/efi_VARS.fd
[ -f "$vars" ] || fail "no variable store $vars"
! cmp -s "$vars" "$TEMPLATE" || fail "the variable store $vars is still the template"
pass "the domain's variable store $vars was copied from the template and written"
# The entry's description is UTF-16 in the store: without its zero bytes it reads as ASCII.
expect_eq "the new boot entry is in the variable store file" 1 "$([ "$(tr -d '\0' <"$vars" | grep -ac altovirt-test)" -ge 1 ] && echo 1)"

# Started again, the firmware itself boots the new entry first (efibootmgr put it first in BootOrder,
# and it lies on the boot-order disk, so OVMF keeps it): the entry outlived the domain. Its serial
# console says which option it boots; waiting for that, not for Debian's login, saves a whole boot.
start=$SECONDS
out=$("$ALTOCTL" start efi 2>&1) || fail "second start: $out"
gc_open "$ALTOCTL" console efi
gc_wait 600 "starting Boot$entry \"altovirt-test\"" ||
  { efi_report; fail "second start: the firmware did not boot Boot$entry \"altovirt-test\" within 600 s"; }
gc_since | grep -a "BdsDxe: starting" | head -n 2 | sed 's/^/# console: /'
pass "second start: the firmware booted the boot entry created in the last run ($((SECONDS - start)) s after start)"
gc_close
run_ok "destroy efi" "$ALTOCTL" destroy efi
run_ok "undefine --nvram efi" "$ALTOCTL" undefine --nvram efi
[ ! -e "$vars" ] || fail "undefine --nvram left $vars"
pass "undefine --nvram removed the variable store"
finish
