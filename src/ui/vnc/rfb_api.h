// RfbApi: the libvncserver functions the VNC server calls, resolved from the library when the first
// -vnc server starts (dlopen), not linked into altovirt. libvncserver brings 13 more shared
// libraries (GnuTLS, libgcrypt, libjpeg, liblzo2, ...); linked, every altovirt paid for loading and
// relocating them at each start and carried their pages, VNC or not (measured in the test host:
// `altovirt -help` 0.45 s with them, 0.10 s without; they are most of the VMM's resident memory
// outside guest RAM). Only a VM with -vnc loads them now.
//
// Threading: load() from the main thread (VncServer::start); the table is immutable afterwards and
// read from any thread.
#pragma once

#include <rfb/rfb.h>

#include "altovirt/base/error.h"

namespace altovirt::ui {

struct RfbApi {
  decltype(&::rfbGetScreen) get_screen;
  decltype(&::rfbInitServer) init_server;
  decltype(&::rfbShutdownServer) shutdown_server;
  decltype(&::rfbScreenCleanup) screen_cleanup;
  decltype(&::rfbNewClient) new_client;
  decltype(&::rfbNewFramebuffer) new_framebuffer;
  decltype(&::rfbMarkRectAsModified) mark_rect_as_modified;
  decltype(&::rfbProcessEvents) process_events;
  decltype(&::rfbDefaultPtrAddEvent) default_ptr_add_event;
  decltype(&::rfbEncryptBytes) encrypt_bytes;
  decltype(&::rfbCheckPasswordByList) check_password_by_list;
  rfbLogProc* log;  // the library's rfbLog and rfbErr variables (where its messages go)
  rfbLogProc* err;

  // The library's soname (Debian's libvncserver1 package).
  static constexpr const char* kLibrary = "libvncserver.so.1";
  // Loads the library the first time (later calls return the same table). The error names the
  // library, the missing symbol if one is, and the package to install.
  static Result<const RfbApi*> load();
};

}  // namespace altovirt::ui
