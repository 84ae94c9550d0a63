# Shared by the firmware tests (sourced): stock OVMF (Debian's OVMF_CODE_4M.fd and a copy of
# OVMF_VARS_4M.fd at $VARS), in a test host whose kvm-amd keeps CR8 writes intercepted.
. "$(dirname "$0")/../lib.sh"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
CODE=/usr/share/OVMF/OVMF_CODE_4M.fd TEMPLATE=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -r "$CODE" ] && [ -r "$TEMPLATE" ] || fail "no $CODE or $TEMPLATE (apt-get install ovmf)"
expect_contains "the test host runs the CR8-intercepting kvm-amd" "O" "$(cat /sys/module/kvm_amd/taint)"
VARS=/tmp/vm_VARS.fd
cp "$TEMPLATE" "$VARS"
code() { echo "if=pflash,format=raw,unit=0,file=$1,readonly=on"; }
vars() { echo "if=pflash,format=raw,unit=1,file=$1"; }

# guest NAME STEPS APPEND-EXTRA ALTOVIRT-ARGS...: a VM on OVMF and $VARS booting the test kernel.
guest() {
  local name=$1 steps=$2 extra=$3; shift 3
  timeout 600 "$ALTOVIRT" -m 256M -smp 1 -drive "$(code "$CODE")" -drive "$(vars "$VARS")" \
    -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "console=ttyS0 quiet guest.steps=$steps $extra" \
    -serial "file:/tmp/$name.out" -D "/tmp/$name.log" -qmp "unix:/tmp/$name.qmp,server,nowait" "$@" < /dev/null \
    > "/tmp/$name.err" 2>&1
}

