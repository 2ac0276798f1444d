// Configuration errors name the file and line (the contract parleyd and parleyctl check rely on).
#include "server/core/config.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

namespace parley::core {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  std::string errorOf(const std::string& text) {
    try {
      loadConfig(write(text));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_ = ::testing::TempDir() + "/parley-config-test.toml";
  const std::string host_ =
      "[[hosts]]\ndomain = \"Example.ORG\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
};

TEST_F(ConfigTest, DefaultsAndNormalisation) {
  Config c = loadConfig(write(host_));
  ASSERT_EQ(c.hosts.size(), 1u);
  EXPECT_EQ(c.hosts[0].domain, "example.org");
  EXPECT_EQ(c.limits.stanzaSize, 262144u);
  EXPECT_EQ(c.limits.stanzaSizePreauth, 10000u);
  EXPECT_TRUE(c.c2s.requireTls);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].port, 5222);
  EXPECT_EQ(c.listeners[1].port, 5223);
}

TEST_F(ConfigTest, UnknownKeyIsReportedWithItsLine) {
  std::string e = errorOf(host_ + "[limits]\nstanza_size = 100000\nstanza_sise = 5\n");
  EXPECT_EQ(e.rfind(path_ + ":7:", 0), 0u) << e;
  EXPECT_NE(e.find("limits.stanza_sise"), std::string::npos) << e;
}

TEST_F(ConfigTest, BadValueIsReportedWithItsLine) {
  std::string e = errorOf(host_ + "[c2s]\nresource_conflict = \"shrug\"\n");
  EXPECT_EQ(e.rfind(path_ + ":6:", 0), 0u) << e;
  e = errorOf(host_ + "[limits]\n\nstanza_rate = \"fast\"\n");
  EXPECT_EQ(e.rfind(path_ + ":7:", 0), 0u) << e;
}

TEST_F(ConfigTest, SyntaxErrorIsReportedWithItsLine) {
  std::string e = errorOf(host_ + "[server\n");
  EXPECT_EQ(e.rfind(path_ + ":5:", 0), 0u) << e;
}

TEST_F(ConfigTest, HostsAreRequiredAndUnique) {
  EXPECT_NE(errorOf("[server]\nlog_level = \"info\"\n").find("hosts"), std::string::npos);
  EXPECT_NE(errorOf(host_ + host_).find("defined twice"), std::string::npos);
}

TEST_F(ConfigTest, AdminsMustBeBareJids) {
  std::string e = errorOf("[server]\nadmins = [\"admin@example.org/phone\"]\n" + host_);
  EXPECT_NE(e.find("not a bare JID"), std::string::npos) << e;
}

TEST_F(ConfigTest, ModuleSectionsAreHandedToModules) {
  Config c = loadConfig(write(host_ + "[modules.offline]\nmax_per_user = 5\n"));
  ASSERT_TRUE(c.modules.sections.count("offline"));
  auto& s = *c.modules.sections["offline"];
  EXPECT_EQ(s.getInt("max_per_user", 1000, 1, 100000), 5);
  s.finish();
  Config c2 = loadConfig(write(host_ + "[modules.offline]\nmax_per_usr = 5\n"));
  auto& s2 = *c2.modules.sections["offline"];
  s2.getInt("max_per_user", 1000, 1, 100000);
  try {
    s2.finish();
    FAIL() << "unknown module key accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path_ + ":6:", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace parley::core
