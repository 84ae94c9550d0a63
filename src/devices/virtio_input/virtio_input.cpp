#include "altovirt/devices/virtio_input.h"

#include <linux/input.h>
#include <linux/virtio_input.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace altovirt::devices {

namespace {

void set_bit(std::vector<uint8_t>& bitmap, unsigned bit) {
  if (bitmap.size() <= bit / 8) bitmap.resize(bit / 8 + 1, 0);
  bitmap[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
}

std::vector<uint8_t> string_payload(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

Result<std::shared_ptr<VirtioInput>> VirtioInput::create(InputKind kind) {
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return fail_errno(errno, "eventfd for virtio-input");
  return std::shared_ptr<VirtioInput>(new VirtioInput(kind, std::move(wake)));
}

VirtioInput::~VirtioInput() = default;  // the transport resets an active model before it goes

std::vector<uint8_t> VirtioInput::config_payload(uint8_t select, uint8_t subsel) const {
  const bool keyboard = kind_ == InputKind::keyboard;
  std::vector<uint8_t> bitmap;
  switch (select) {
    case VIRTIO_INPUT_CFG_ID_NAME:
      return subsel == 0 ? string_payload(keyboard ? "altovirt Virtio Keyboard" : "altovirt Virtio Tablet")
                         : std::vector<uint8_t>{};
    case VIRTIO_INPUT_CFG_ID_SERIAL: return {};
    case VIRTIO_INPUT_CFG_ID_DEVIDS: {
      if (subsel != 0) return {};
      // BUS_VIRTUAL with QEMU's vendor and product ids, so that guest tools treat it as QEMU's.
      virtio_input_devids ids{BUS_VIRTUAL, 0x0627, static_cast<uint16_t>(keyboard ? 0x0001 : 0x0003), 0x0001};
      std::vector<uint8_t> out(sizeof ids);
      std::memcpy(out.data(), &ids, sizeof ids);
      return out;
    }
    case VIRTIO_INPUT_CFG_PROP_BITS: return {};
    case VIRTIO_INPUT_CFG_EV_BITS:
      // 5.8.4: subsel is the event type; the bitmap says which codes of that type the device has.
      if (keyboard) {
        if (subsel == EV_KEY)
          for (unsigned k = 1; k < 256; ++k) set_bit(bitmap, k);  // every key of a PC keyboard
        if (subsel == EV_REP) return {};                          // type present, no codes (autorepeat in the guest)
      } else {
        if (subsel == EV_KEY) {
          set_bit(bitmap, BTN_LEFT);
          set_bit(bitmap, BTN_RIGHT);
          set_bit(bitmap, BTN_MIDDLE);
        }
        if (subsel == EV_REL) set_bit(bitmap, REL_WHEEL);
        if (subsel == EV_ABS) {
          set_bit(bitmap, ABS_X);
          set_bit(bitmap, ABS_Y);
        }
      }
      return bitmap;
    case VIRTIO_INPUT_CFG_ABS_INFO: {
      if (keyboard || (subsel != ABS_X && subsel != ABS_Y)) return {};
      virtio_input_absinfo abs{0, kTabletMax, 0, 0, 0};
      std::vector<uint8_t> out(sizeof abs);
      std::memcpy(out.data(), &abs, sizeof abs);
      return out;
    }
    default: return {};
  }
}

void VirtioInput::read_config(uint32_t offset, std::span<uint8_t> data) {
  uint8_t select, subsel;
  {
    std::lock_guard lock(config_mutex_);
    select = select_;
    subsel = subsel_;
  }
  std::vector<uint8_t> payload = config_payload(select, subsel);
  // EV_REP has no codes but must read as present: a size of 0 means "not supported" (5.8.4), so
  // it reports one zero byte.
  if (kind_ == InputKind::keyboard && select == VIRTIO_INPUT_CFG_EV_BITS && subsel == EV_REP) payload.assign(1, 0);
  if (payload.size() > 128) payload.resize(128);
  virtio_input_config c{};
  c.select = select;
  c.subsel = subsel;
  c.size = static_cast<uint8_t>(payload.size());
  std::memcpy(&c.u, payload.data(), payload.size());
  auto* bytes = reinterpret_cast<const uint8_t*>(&c);
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < sizeof c ? bytes[offset + i] : 0;
}

void VirtioInput::write_config(uint32_t offset, std::span<const uint8_t> data) {
  // 5.8.4: the driver writes select and subsel; everything else is read-only.
  std::lock_guard lock(config_mutex_);
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i == offsetof(virtio_input_config, select)) select_ = data[i];
    if (offset + i == offsetof(virtio_input_config, subsel)) subsel_ = data[i];
  }
}

Status VirtioInput::activate(const virtio::Activation& a) {
  loop_ = &a.loop;
  events_ = a.queues.size() > 0 ? a.queues[0] : nullptr;
  status_ = a.queues.size() > 1 ? a.queues[1] : nullptr;
  AV_TRY(loop_->add_fd(wake_.get(), [this] {
    uint64_t n;
    (void)!::read(wake_.get(), &n, sizeof n);
    deliver();
  }));
  std::lock_guard lock(mutex_);
  active_ = true;
  return ok();
}

void VirtioInput::reset() {
  {
    std::lock_guard lock(mutex_);
    active_ = false;
    pending_.clear();
  }
  if (loop_) loop_->remove_fd(wake_.get());
  loop_ = nullptr;
  events_ = status_ = nullptr;
}

void VirtioInput::queue_notified(unsigned queue) {
  if (queue == 0) deliver();  // new buffers: events that waited for them go now
  else if (queue == 1) drain_status();
}

void VirtioInput::send(std::span<const ui::InputEvent> events) {
  {
    std::lock_guard lock(mutex_);
    if (!active_) return;
    if (pending_.size() + events.size() > kMaxPending) {
      dropped_ += events.size();
      if (limiter_.allow())
        log::warn("virtio-input", "the guest is not taking input events ({} waiting); dropping a report of {}",
                  pending_.size(), events.size());
      return;
    }
    pending_.insert(pending_.end(), events.begin(), events.end());
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void VirtioInput::deliver() {
  if (events_ == nullptr) return;
  bool pushed = false;
  std::unique_lock lock(mutex_);
  while (!pending_.empty()) {
    auto chain = events_->pop();
    if (!chain) break;  // no buffer: the rest waits for the driver's next kick
    ui::InputEvent e = pending_.front();
    virtio_input_event out{e.type, e.code, static_cast<uint32_t>(e.value)};
    size_t written = chain->write(0, std::span(reinterpret_cast<const uint8_t*>(&out), sizeof out));
    if (written < sizeof out && limiter_.allow())
      log::warn("virtio-input", "an event buffer holds {} bytes, fewer than an event (8)", chain->writable_bytes());
    events_->push(chain->head, static_cast<uint32_t>(written));
    pending_.pop_front();
    ++delivered_;
    pushed = true;
  }
  lock.unlock();
  if (pushed) events_->notify();
}

void VirtioInput::drain_status() {
  // LED and repeat-rate settings from the guest: nothing to show them on, so they are returned.
  if (status_ == nullptr) return;
  bool pushed = false;
  while (auto chain = status_->pop()) {
    status_->push(chain->head, 0);
    pushed = true;
  }
  if (pushed) status_->notify();
}

}  // namespace altovirt::devices
