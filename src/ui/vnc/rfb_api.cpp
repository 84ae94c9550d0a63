#include "rfb_api.h"

#include <dlfcn.h>

#include <mutex>
#include <optional>

namespace altovirt::ui {
namespace {

template <typename T>
Status resolve(void* lib, const char* name, T& out) {
  void* p = ::dlsym(lib, name);
  if (p == nullptr)
    return fail("{} has no symbol {}: it is not the libvncserver altovirt was built for (reinstall libvncserver1)",
                RfbApi::kLibrary, name);
  out = reinterpret_cast<T>(p);
  return ok();
}

// The name a libvncserver function has in the library: rfb.h renames some by macro according to
// how the library was built (rfbInitServer is rfbInitServerWithPthreadsAndZRLE in Debian's).
#define AV_RFB_SYMBOL_TEXT(name) #name
#define AV_RFB_SYMBOL(name) AV_RFB_SYMBOL_TEXT(name)

Result<RfbApi> open_library() {
  // RTLD_LOCAL: its symbols (and its dependencies') stay out of the global namespace; the handle is
  // kept for the process's life (the server's thread and callbacks run inside it).
  void* lib = ::dlopen(RfbApi::kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    return fail("-vnc needs {}, which cannot be loaded ({}): install Debian's libvncserver1 package", RfbApi::kLibrary,
                why ? why : "unknown error");
  }
  RfbApi api{};
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbGetScreen), api.get_screen));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbInitServer), api.init_server));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbShutdownServer), api.shutdown_server));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbScreenCleanup), api.screen_cleanup));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbNewClient), api.new_client));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbNewFramebuffer), api.new_framebuffer));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbMarkRectAsModified), api.mark_rect_as_modified));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbProcessEvents), api.process_events));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbDefaultPtrAddEvent), api.default_ptr_add_event));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbEncryptBytes), api.encrypt_bytes));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbCheckPasswordByList), api.check_password_by_list));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbLog), api.log));
  AV_TRY(resolve(lib, AV_RFB_SYMBOL(rfbErr), api.err));
  return api;
}

}  // namespace

Result<const RfbApi*> RfbApi::load() {
  static std::mutex mutex;
  static std::optional<RfbApi> api;
  std::lock_guard lock(mutex);
  if (!api) {
    AV_TRY_ASSIGN(RfbApi loaded, open_library());
    api = loaded;
  }
  return &*api;
}

}  // namespace altovirt::ui
