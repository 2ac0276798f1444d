#include "server/session/session_manager.h"

#include <gtest/gtest.h>

namespace parley::session {
namespace {

class FakeSession : public Session {
 public:
  explicit FakeSession(const std::string& jid) : Session(nextSessionId(), runtime::Executor()) {
    setJid(*xmpp::Jid::parse(jid));
  }
  std::string_view remoteAddress() const override { return "test"; }
  void deliver(xmpp::StanzaPtr) override {}
  void write(xmpp::StanzaPtr) override {}
  void writeElement(const xml::Element&) override {}
  void close(xmpp::StreamError, std::string) override {}
  std::chrono::steady_clock::time_point lastActivity() const override { return {}; }
};

TEST(SessionManagerTest, KickOldReplacesTheSessionHoldingTheResource) {
  SessionManager m;
  auto first = std::make_shared<FakeSession>("a@x/r");
  auto second = std::make_shared<FakeSession>("a@x/r");
  EXPECT_EQ(m.bind(first, ConflictPolicy::KickOld, 5).outcome, SessionManager::BindOutcome::Ok);
  auto r = m.bind(second, ConflictPolicy::KickOld, 5);
  EXPECT_EQ(r.outcome, SessionManager::BindOutcome::Ok);
  EXPECT_EQ(r.replaced, first);
  EXPECT_EQ(m.find(*xmpp::Jid::parse("a@x/r")), second);
  // The replaced session unbinding later must not remove the new one.
  EXPECT_FALSE(m.unbind(*first));
  EXPECT_EQ(m.find(*xmpp::Jid::parse("a@x/r")), second);
}

TEST(SessionManagerTest, RefuseNewKeepsTheFirst) {
  SessionManager m;
  auto first = std::make_shared<FakeSession>("a@x/r");
  auto second = std::make_shared<FakeSession>("a@x/r");
  m.bind(first, ConflictPolicy::RefuseNew, 5);
  EXPECT_EQ(m.bind(second, ConflictPolicy::RefuseNew, 5).outcome, SessionManager::BindOutcome::Conflict);
  EXPECT_EQ(m.find(*xmpp::Jid::parse("a@x/r")), first);
}

TEST(SessionManagerTest, ResourceLimitAndLastResource) {
  SessionManager m;
  auto a = std::make_shared<FakeSession>("a@x/1");
  auto b = std::make_shared<FakeSession>("a@x/2");
  auto c = std::make_shared<FakeSession>("a@x/3");
  m.bind(a, ConflictPolicy::KickOld, 2);
  m.bind(b, ConflictPolicy::KickOld, 2);
  EXPECT_EQ(m.bind(c, ConflictPolicy::KickOld, 2).outcome, SessionManager::BindOutcome::TooManyResources);
  EXPECT_EQ(m.sessionCount(), 2u);
  EXPECT_FALSE(m.unbind(*a));
  EXPECT_TRUE(m.unbind(*b));  // last resource gone
  EXPECT_FALSE(m.hasSessions(*xmpp::Jid::parse("a@x")));
}

TEST(SessionManagerTest, RosterIsCachedOnlyWhileOnline) {
  SessionManager m;
  auto bare = *xmpp::Jid::parse("a@x");
  m.setRoster(bare, std::make_shared<roster::RosterSnapshot>());
  EXPECT_EQ(m.roster(bare), nullptr);  // offline: nothing cached
  auto s = std::make_shared<FakeSession>("a@x/1");
  m.bind(s, ConflictPolicy::KickOld, 2);
  auto snap = std::make_shared<roster::RosterSnapshot>();
  snap->version = 7;
  EXPECT_EQ(m.setRosterIfAbsent(bare, snap)->version, 7u);
  EXPECT_EQ(m.setRosterIfAbsent(bare, std::make_shared<roster::RosterSnapshot>())->version, 7u);
  m.unbind(*s);
  EXPECT_EQ(m.roster(bare), nullptr);
}

}  // namespace
}  // namespace parley::session
