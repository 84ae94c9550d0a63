// altoctl's QMP client: a socket must belong to the process altoctl expects (qmp_client.h), so that
// a link planted in altovirt's writable vmm/ directory cannot point root's altoctl at another VM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "altovirt/base/fd.h"
#include "qmp_client.h"

namespace altoctl {
namespace {

using ::testing::HasSubstr;

TEST(QmpClientTest, ASocketOfAnotherProcessIsRefusedBeforeAnythingIsSent) {
  char tmpl[] = "/tmp/altoctl-qmp-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/qmp.sock";
  altovirt::UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  // This process listens; altoctl expected pid 1's altovirt.
  auto c = QmpClient::connect(path, std::chrono::milliseconds(500), 1);
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message(), HasSubstr(path + " is not the domain's altovirt's (pid " + std::to_string(::getpid()) +
                                             " listens on it, not 1); refusing to use it"));
  // The right pid gets past the check (and then waits for a greeting nobody sends).
  auto same = QmpClient::connect(path, std::chrono::milliseconds(200), ::getpid());
  ASSERT_FALSE(same);
  EXPECT_THAT(same.error().message(), HasSubstr("no QMP reply"));
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace altoctl
