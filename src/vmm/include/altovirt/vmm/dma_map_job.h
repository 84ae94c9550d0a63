// DmaMapJob: DMA-maps guest RAM for the passed-through devices on a thread of its own, so that the
// seconds the kernel takes to pin it (VFIO_IOMMU_MAP_DMA pins every page: docs/benchmarks.md, about
// 2-3 s per GiB in the test host) overlap with loading the kernel and the guest's early boot instead
// of coming before them.
//
// Why that is safe: a PCI function reaches memory only as a bus master, and its Bus Master Enable
// bit (PCI 3.0 6.2.2, Command register bit 2; PCIe 3.0 7.5.1.1 for Memory and I/O Requests and
// MSIs) is clear after the reset the device gets when its machine is built. The guest sets it
// through VfioPciDevice's emulated Command register, which waits for this job (PassthroughHost::
// dma_ready) before the bit reaches the device; a failed map keeps it clear.
//
// States: idle (nothing wanted), pending (a device is being added: a map will start), running,
// done (with its outcome). wait() blocks while pending or running.
//
// Threading: expect()/start()/reset() from the main thread (machine build, hot-plug, release);
// wait() and state queries from any thread (vCPUs in a config write, the main thread); the work
// runs on the job's own thread ("dma-map", the main thread's sandbox role: it issues the one
// ioctl the main thread would have). The destructor waits for a running map.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "altovirt/base/error.h"

namespace altovirt::vmm {

class DmaMapJob {
 public:
  DmaMapJob() = default;
  DmaMapJob(const DmaMapJob&) = delete;
  DmaMapJob& operator=(const DmaMapJob&) = delete;
  ~DmaMapJob() { reset(); }

  // A map will be started (a device is joining the machine); waiters block until it has run.
  void expect();
  // Runs `work` on the job's thread (pending or idle -> running -> done).
  void start(std::function<Status()> work);
  // Blocks until no map is pending or running; the outcome of the last one (ok when none was asked).
  Status wait();
  bool busy() const;
  // Blocks while a map runs (a pending one is not waited for: only this thread could start it).
  void wait_running();
  // Waits for a running map, then forgets it (idle): the container is going away.
  void reset();

 private:
  enum class State { idle, pending, running, done };
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  State state_ = State::idle;
  Status outcome_;
  std::thread thread_;
};

}  // namespace altovirt::vmm
