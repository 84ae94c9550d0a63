#include "altovirt/host/sriov.h"

namespace altovirt::host {

Result<PciDevice> read_pf(const SysfsRoot& sys, const PciAddress& pf) {
  AV_TRY_ASSIGN(PciDevice d, read_pci_device(sys, pf));
  if (d.is_vf())
    return fail("PCI device {} is a virtual function; VFs are managed on their physical function {}", pf.str(),
                d.physfn->str());
  if (!d.is_pf())
    return fail("PCI device {} is not an SR-IOV physical function (it has no sriov_totalvfs attribute, or SR-IOV "
                "is off in the firmware)",
                pf.str());
  return d;
}

Result<SriovOutcome> sriov_set(SysfsRoot& sys, StateDir& state, const PciAddress& pf, unsigned count,
                               const SriovOptions& opts) {
  AV_TRY_ASSIGN(PciDevice d, read_pf(sys, pf));
  const std::string dir = pci_device_dir(pf);
  const unsigned total = *d.sriov_totalvfs;
  const unsigned current = d.sriov_numvfs.value_or(0);
  if (count > total)
    return fail("cannot create {} VFs on PCI device {}: it supports at most {} (sriov_totalvfs)", count, pf.str(),
                total);
  if (count != current) {
    for (const auto& vf : d.virtfns) {
      if (auto c = state.claim_of(vf))
        return fail("cannot change the VF count of PCI device {}: its VF {} is in use by running VM '{}' (pid {}); "
                    "stop the VM first",
                    pf.str(), vf.str(), c->vm, c->pid);
    }
  }
  if (opts.vfio) AV_TRY(ensure_vfio_pci(sys));

  const bool had_autoprobe = d.sriov_drivers_autoprobe.value_or(true);
  bool want_autoprobe = opts.autoprobe.value_or(had_autoprobe);
  if (opts.vfio && count != current) want_autoprobe = false;  // host drivers never touch them
  auto set_autoprobe = [&](bool on) { return sys.write(dir + "/sriov_drivers_autoprobe", on ? "1" : "0"); };
  if (d.sriov_drivers_autoprobe && want_autoprobe != had_autoprobe) AV_TRY(set_autoprobe(want_autoprobe));

  if (count != current) {
    if (current != 0) {
      AV_TRY(sys.write(dir + "/sriov_numvfs", "0"));
      // The VFs are gone; their records would name devices that no longer exist.
      for (const auto& vf : d.virtfns) AV_TRY(state.forget_device(vf));
    }
    if (count != 0) AV_TRY(sys.write(dir + "/sriov_numvfs", std::to_string(count)));
  }
  AV_TRY_ASSIGN(PciDevice now, read_pf(sys, pf));
  SriovOutcome out{current, now.virtfns};
  if (opts.vfio) {
    for (const auto& vf : now.virtfns) {
      auto r = detach_device(sys, state, vf, false, opts.bind);
      if (!r) return std::unexpected(r.error().context(fmt::format("binding the VFs of {} to vfio-pci", pf.str())));
    }
  }
  const bool final_autoprobe = opts.autoprobe.value_or(had_autoprobe);
  if (d.sriov_drivers_autoprobe && final_autoprobe != want_autoprobe) AV_TRY(set_autoprobe(final_autoprobe));
  return out;
}

}  // namespace altovirt::host
