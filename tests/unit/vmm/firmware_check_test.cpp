// The firmware descriptor check (tools/altovirt/firmware_check.cpp): an image whose QEMU firmware
// descriptor lists requires-smm is refused, through a symlink too (Debian's .ms.fd); others pass.
#include "firmware_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using altovirt::tool::check_firmware_descriptor;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/altovirt-fwdesc-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
};

std::string descriptor(const fs::path& code, const std::string& features) {
  return R"({"interface-types": ["uefi"], "mapping": {"device": "flash", "executable": {"filename": ")" +
         code.string() + R"(", "format": "raw"}}, "features": [)" + features + "]}";
}

}  // namespace

TEST(FirmwareDescriptor, SmmImagesAreRefusedByNameAndThroughLinks) {
  TempDir d;
  d.write("CODE.secboot.fd", "x");
  d.write("CODE.fd", "y");
  fs::create_symlink(d.path / "CODE.secboot.fd", d.path / "CODE.ms.fd");
  fs::create_directory(d.path / "desc");
  d.write("desc/50-secure.json", descriptor(d.path / "CODE.secboot.fd", R"("acpi-s3", "requires-smm", "secure-boot")"));
  d.write("desc/60-plain.json", descriptor(d.path / "CODE.fd", R"("acpi-s3")"));
  d.write("desc/70-broken.json", "{ not json");
  std::vector<std::string> dirs = {(d.path / "desc").string(), "/nonexistent"};

  auto smm = check_firmware_descriptor((d.path / "CODE.ms.fd").string(), "-drive X", dirs);
  ASSERT_FALSE(smm);
  EXPECT_NE(smm.error().message().find("-drive X: the firmware"), std::string::npos);
  EXPECT_NE(smm.error().message().find("50-secure.json lists requires-smm"), std::string::npos);
  EXPECT_TRUE(check_firmware_descriptor((d.path / "CODE.fd").string(), "-drive X", dirs));
  EXPECT_TRUE(check_firmware_descriptor((d.path / "unlisted.fd").string(), "-drive X", dirs)) << "no descriptor: no verdict";
}
