// vsock_probe: a tiny AF_VSOCK client/server for the system tests (busybox has no vsock support).
// Built static, so that the second-level guest's busybox initramfs can run it too.
//   vsock_probe listen PORT TEXT     answer every connection with "TEXT from CID <local cid>\n"
//   vsock_probe connect CID PORT     print what the listener sends; exit 0 when it sent something
// Exit status: 0 ok, 1 failed (the message says which call), 2 usage.
#include <linux/vm_sockets.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int die(const char* what) {
  std::fprintf(stderr, "vsock_probe: %s: %s\n", what, std::strerror(errno));
  return 1;
}

unsigned local_cid() {
  unsigned cid = VMADDR_CID_ANY;
  int fd = ::open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
    ::close(fd);
  }
  return cid;
}

int serve(unsigned port, const char* text) {
  int s = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return die("socket(AF_VSOCK)");
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return die("bind");
  if (::listen(s, 4) != 0) return die("listen");
  std::printf("vsock_probe: listening on port %u (local CID %u)\n", port, local_cid());
  std::fflush(stdout);
  for (;;) {
    int c = ::accept(s, nullptr, nullptr);
    if (c < 0) {
      if (errno == EINTR) continue;
      return die("accept");
    }
    std::string reply = std::string(text) + " from CID " + std::to_string(local_cid()) + "\n";
    (void)!::write(c, reply.data(), reply.size());
    ::close(c);
  }
}

int connect_to(unsigned cid, unsigned port) {
  int s = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return die("socket(AF_VSOCK)");
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return die("connect");
  char buf[256];
  size_t total = 0;
  for (;;) {
    ssize_t n = ::read(s, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    (void)!::write(1, buf, static_cast<size_t>(n));
    total += static_cast<size_t>(n);
  }
  return total > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "listen") == 0) return serve(static_cast<unsigned>(std::atoi(argv[2])), argv[3]);
  if (argc == 4 && std::strcmp(argv[1], "connect") == 0)
    return connect_to(static_cast<unsigned>(std::strtoul(argv[2], nullptr, 0)), static_cast<unsigned>(std::atoi(argv[3])));
  std::fprintf(stderr, "usage: vsock_probe listen PORT TEXT | vsock_probe connect CID PORT\n");
  return 2;
}
