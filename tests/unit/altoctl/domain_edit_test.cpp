#include "domain_edit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace altoctl {
namespace {

using ::testing::HasSubstr;
using namespace altovirt;

const char* kUuid = "c7a5fdbd-cdaf-9455-926a-d65c16db1809";

std::string xml(const std::string& name, const std::string& memory_mib, const std::string& extra = "",
                bool with_uuid = true) {
  return "<domain type='kvm'><name>" + name + "</name>" + (with_uuid ? std::string("<uuid>") + kUuid + "</uuid>" : "") +
         "<memory unit='MiB'>" + memory_mib +
         "</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type><kernel>/k</kernel></os>"
         "<devices>" + extra + "</devices></domain>";
}

config::DomainConfig old_config() {
  auto p = config::parse_domain_xml(xml("seed", "256"));
  EXPECT_TRUE(p) << p.error().message();
  return p->config;
}

TEST(EditCheckTest, AValidEditIsTaken) {
  auto r = check_edit("seed", old_config(), xml("seed", "512"), "/tmp/e.xml");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.memory_kib, 512u * 1024);
  EXPECT_EQ(r->config.uuid, kUuid);
}

TEST(EditCheckTest, ADroppedUuidIsKept) {
  auto r = check_edit("seed", old_config(), xml("seed", "256", "", false), "/tmp/e.xml");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->config.uuid, kUuid);
}

TEST(EditCheckTest, XmlThatDoesNotParseIsRefusedWithItsProblem) {
  auto r = check_edit("seed", old_config(), "<domain><name>seed</name", "/tmp/e.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("/tmp/e.xml"));
}

TEST(EditCheckTest, UnsupportedElementsAreNamed) {
  auto r = check_edit("seed", old_config(), xml("seed", "256", "<disk type='file' device='disk'/>"), "/tmp/e.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("devices/disk[1]"));
}

TEST(EditCheckTest, ARenameOrANewUuidIsRefused) {
  auto r = check_edit("seed", old_config(), xml("other", "256"), "/tmp/e.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("<name> changed from 'seed' to 'other'"));
  std::string changed = xml("seed", "256");
  changed.replace(changed.find(kUuid), 8, "00000000");
  r = check_edit("seed", old_config(), changed, "/tmp/e.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("<uuid> changed"));
}

TEST(EditCheckTest, WhatAltovirtCannotRunIsRefusedAsStartWouldRefuseIt) {
  std::string pc = xml("seed", "256");
  pc.replace(pc.find("machine='q35'"), 13, "machine='pc'");
  auto r = check_edit("seed", old_config(), pc, "/tmp/e.xml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("machine='pc'"));
}

}  // namespace
}  // namespace altoctl
