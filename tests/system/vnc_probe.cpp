// A VNC client for the graphics system test, on libvncclient (a real RFB client, not altovirt's code):
//
//   vnc_probe HOST:PORT [--password-file F] shot OUT.ppm     the whole screen as a binary PPM; prints WxH
//   vnc_probe HOST:PORT [--password-file F] type TEXT        types TEXT (US keys, Shift as needed), then Return
//   vnc_probe HOST:PORT [--password-file F] click X Y        moves the pointer to X,Y and clicks the left button
//   vnc_probe HOST:PORT [--password-file F] hold SECONDS     stays connected, taking updates, then leaves
//   vnc_probe HOST:PORT [--password-file F] drop             asks for a full update and closes before reading it
//
// Exit status: 0 done, 1 the server refused us (wrong password) or went away, 2 usage.
#include <rfb/keysym.h>
#include <rfb/rfbclient.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace {

std::string g_password;

char* get_password(rfbClient*) { return strdup(g_password.c_str()); }

// libvncclient's progress lines are noise in a test's output; its errors are kept.
void quiet(const char*, ...) {}

// Pumps server messages for `ms` milliseconds (or until one WaitForMessage round has nothing).
bool pump(rfbClient* c, int ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    int n = WaitForMessage(c, 50'000);
    if (n < 0) return false;
    if (n > 0 && !HandleRFBServerMessage(c)) return false;
  }
  return true;
}

bool key(rfbClient* c, uint32_t sym, bool shift) {
  if (shift && !SendKeyEvent(c, XK_Shift_L, TRUE)) return false;
  bool ok = SendKeyEvent(c, sym, TRUE) && SendKeyEvent(c, sym, FALSE);
  if (shift && !SendKeyEvent(c, XK_Shift_L, FALSE)) return false;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: vnc_probe HOST:PORT [--password-file F] shot|type|click|hold|drop ...\n");
    return 2;
  }
  std::string addr = argv[1];
  int i = 2;
  if (std::string(argv[i]) == "--password-file" && i + 1 < argc) {
    std::ifstream f(argv[i + 1]);
    std::getline(f, g_password);
    i += 2;
  }
  if (i >= argc) return 2;
  std::string cmd = argv[i++];
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return 2;

  rfbClientLog = quiet;
  rfbClient* c = rfbGetClient(8, 3, 4);
  c->serverHost = strdup(addr.substr(0, colon).c_str());
  c->serverPort = std::stoi(addr.substr(colon + 1));
  c->GetPassword = get_password;
  c->appData.encodingsString = strdup("raw");  // pixels as they are, so the shot is exact
  c->canHandleNewFBSize = TRUE;
  int fake_argc = 1;
  char* fake_argv[] = {argv[0], nullptr};
  if (!rfbInitClient(c, &fake_argc, fake_argv)) {  // frees the client on failure
    std::fprintf(stderr, "vnc_probe: cannot connect to %s (refused, or authentication failed)\n", addr.c_str());
    return 1;
  }
  int rc = 0;
  if (cmd == "shot" && i < argc) {
    // A full update, then a while for it (and any resize) to arrive.
    SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE);
    if (!pump(c, 1500)) rc = 1;
    std::ofstream out(argv[i], std::ios::binary);
    out << "P6\n" << c->width << " " << c->height << "\n255\n";
    // libvncclient's default format: 32 bits, red at bit 0, green 8, blue 16 (little-endian R, G, B, X).
    for (int p = 0; p < c->width * c->height; ++p) {
      const uint8_t* px = c->frameBuffer + p * 4;
      out.put(static_cast<char>(px[0])).put(static_cast<char>(px[1])).put(static_cast<char>(px[2]));
    }
    std::printf("%dx%d\n", c->width, c->height);
  } else if (cmd == "type" && i < argc) {
    for (const char* p = argv[i]; *p; ++p) {
      char ch = *p;
      bool shift = (ch >= 'A' && ch <= 'Z') || std::strchr("!@#$%^&*()_+{}|:\"<>?~", ch) != nullptr;
      if (!key(c, static_cast<uint32_t>(static_cast<unsigned char>(ch)), shift)) rc = 1;
      pump(c, 20);
    }
    if (!key(c, XK_Return, false)) rc = 1;
    pump(c, 200);
  } else if (cmd == "click" && i + 1 < argc) {
    int x = std::atoi(argv[i]), y = std::atoi(argv[i + 1]);
    if (!SendPointerEvent(c, x, y, 0) || !SendPointerEvent(c, x, y, 1) || !SendPointerEvent(c, x, y, 0)) rc = 1;
    pump(c, 200);
  } else if (cmd == "hold" && i < argc) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[i]));
    while (std::chrono::steady_clock::now() < end) {
      SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, TRUE);
      if (!pump(c, 500)) {
        rc = 1;
        break;
      }
    }
  } else if (cmd == "drop") {
    SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE);
    ::close(c->sock);  // mid-update: the server is sending (or about to send) the whole screen
    c->sock = RFB_INVALID_SOCKET;
  } else {
    rc = 2;
  }
  rfbClientCleanup(c);
  return rc;
}
