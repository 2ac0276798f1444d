// XEP-0077 in-band registration (before authentication, with a raw client: libstrophe logs in by
// itself), invitations (XEP-0401 preauth), password change and account removal by the user.
#include <sqlite3.h>

#include "integration/module_helpers.h"
#include "support/raw_client.h"

namespace parley::test {
namespace {

constexpr const char* kCmdNs = "http://jabber.org/protocol/commands";

// A raw client on a secure stream (STARTTLS done, features of the new stream read).
struct Fresh {
  explicit Fresh(const TestServer& s) : raw(s.c2sPort()) {
    raw.openStream();
    ok = raw.startTls();
    features = raw.openStream();
  }
  // Sends an IQ and waits for the answer with that id; returns what was received.
  std::string iq(const std::string& id, const std::string& type, const std::string& payload) {
    raw.consume();
    raw.send("<iq type='" + type + "' id='" + id + "'>" + payload + "</iq>");
    raw.waitFor("id='" + id + "'");
    raw.waitFor("</iq>", std::chrono::milliseconds(500));
    return raw.received();
  }
  std::string registerAs(const std::string& id, const std::string& user, const std::string& password) {
    return iq(id, "set",
              "<query xmlns='jabber:iq:register'><username>" + user + "</username><password>" + password +
                  "</password></query>");
  }
  RawClient raw;
  bool ok = false;
  std::string features;
};

bool canLogIn(const TestServer& s, const std::string& user, const std::string& password) {
  XmppClient c(s.jid(user) + "/probe", password, s.c2sPort());
  return c.connect();
}

bool isResultText(const std::string& xml, const std::string& id) {
  return xml.find("id='" + id + "'") != std::string::npos && xml.find("type='result'") != std::string::npos;
}

TestServerOptions withRegister(const std::string& keys) {
  TestServerOptions o;
  o.serverSection = "admins = [\"admin@localhost\"]";
  o.extra = "[modules.register]\n" + keys + "\n";
  return o;
}

TEST(RegisterTest, OffByDefaultNotAdvertisedAndRefused) {
  TestServer server;
  server.addUser("alice", "alice-secret");
  server.start();
  Fresh f(server);
  ASSERT_TRUE(f.ok);
  EXPECT_EQ(f.features.find("iq-register"), std::string::npos) << f.features;
  // RFC 6120 §4.9.3.12: a stanza before authentication closes the stream.
  f.raw.send("<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>");
  EXPECT_TRUE(f.raw.waitClosed());
  EXPECT_NE(f.raw.received().find("not-authorized"), std::string::npos) << f.raw.received();
}

TEST(RegisterTest, RegistrationCreatesAnAccount) {
  TestServer server(withRegister("registration = true"));
  server.start();
  {
    Fresh f(server);
    ASSERT_TRUE(f.ok);
    EXPECT_NE(f.features.find("<register xmlns='http://jabber.org/features/iq-register'"), std::string::npos)
        << f.features;
    // §3.1 the form.
    auto form = f.iq("g1", "get", "<query xmlns='jabber:iq:register'/>");
    EXPECT_TRUE(isResultText(form, "g1")) << form;
    EXPECT_NE(form.find("<username"), std::string::npos);
    EXPECT_NE(form.find("jabber:x:data"), std::string::npos);
    // Missing password: not-acceptable; too short: not-acceptable.
    auto missing = f.iq("s0", "set", "<query xmlns='jabber:iq:register'><username>zoe</username></query>");
    EXPECT_NE(missing.find("not-acceptable"), std::string::npos) << missing;
    EXPECT_NE(f.registerAs("s1", "zoe", "short").find("not-acceptable"), std::string::npos);
    auto ok = f.registerAs("s2", "Zoe", "zoe-password");
    EXPECT_TRUE(isResultText(ok, "s2")) << ok;
    // Taken (nodeprep folds the case): conflict.
    EXPECT_NE(f.registerAs("s3", "zoe", "zoe-password").find("conflict"), std::string::npos);
    // Then the same stream logs in.
    EXPECT_TRUE(f.raw.authenticate("zoe", "zoe-password", "SCRAM-SHA-256"));
  }
  EXPECT_TRUE(canLogIn(server, "zoe", "zoe-password"));
}

TEST(RegisterTest, RateLimitPerAddress) {
  TestServer server(withRegister("registration = true\nmax_per_ip = 2"));
  server.start();
  Fresh f(server);
  ASSERT_TRUE(f.ok);
  EXPECT_TRUE(isResultText(f.registerAs("a", "u1", "password-1"), "a"));
  EXPECT_TRUE(isResultText(f.registerAs("b", "u2", "password-2"), "b"));
  auto third = f.registerAs("c", "u3", "password-3");
  EXPECT_NE(third.find("resource-constraint"), std::string::npos) << third;
  // From another connection of the same address too.
  Fresh g(server);
  EXPECT_NE(g.registerAs("d", "u4", "password-4").find("resource-constraint"), std::string::npos);
  EXPECT_FALSE(canLogIn(server, "u3", "password-3"));
}

// Runs an ad-hoc command as admin and returns the token of urn:xmpp:invite#create-account.
std::string createInvite(const TestServer& server) {
  XmppClient admin(server.jid("admin") + "/c", "admin-secret", server.c2sPort());
  EXPECT_TRUE(admin.connect());
  auto first = admin.request(std::string("<iq type='set' id='c1' to='localhost'><command xmlns='") + kCmdNs +
                                 "' node='urn:xmpp:invite#create-account'/></iq>",
                             "c1");
  EXPECT_TRUE(isResult(first));
  if (!isResult(first)) return {};
  std::string sid(first->child("command", kCmdNs)->attr("sessionid"));
  auto done = admin.request(std::string("<iq type='set' id='c2' to='localhost'><command xmlns='") + kCmdNs +
                                "' node='urn:xmpp:invite#create-account' sessionid='" + sid +
                                "' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='expires'>"
                                "<value>86400</value></field></x></command></iq>",
                            "c2");
  EXPECT_TRUE(isResult(done));
  if (!isResult(done)) return {};
  for (const auto& fld : done->child("command", kCmdNs)->child("x", "jabber:x:data")->childrenNamed("field", "jabber:x:data"))
    if (fld->attr("var") == "token") return fld->childText("value", "jabber:x:data");
  return {};
}

TEST(RegisterTest, InviteTokenRequiredAndConsumed) {
  TestServer server(withRegister("registration = true\ninvite_only = true\nmax_per_ip = 50"));
  server.addUser("admin", "admin-secret");
  server.start();
  {
    Fresh f(server);
    EXPECT_NE(f.registerAs("n1", "nina", "nina-password").find("not-allowed"), std::string::npos);
    auto bad = f.iq("p0", "set", "<preauth xmlns='urn:xmpp:pars:0' token='made-up'/>");
    EXPECT_NE(bad.find("item-not-found"), std::string::npos) << bad;
  }
  const std::string token = createInvite(server);
  ASSERT_FALSE(token.empty());
  {
    Fresh f(server);
    auto pre = f.iq("p1", "set", "<preauth xmlns='urn:xmpp:pars:0' token='" + token + "'/>");
    EXPECT_TRUE(isResultText(pre, "p1")) << pre;
    EXPECT_TRUE(isResultText(f.registerAs("n2", "nina", "nina-password"), "n2"));
  }
  EXPECT_TRUE(canLogIn(server, "nina", "nina-password"));
  {
    // Consumed: neither preauth nor a form field with it works again.
    Fresh f(server);
    EXPECT_NE(f.iq("p2", "set", "<preauth xmlns='urn:xmpp:pars:0' token='" + token + "'/>").find("item-not-found"),
              std::string::npos);
    auto viaForm = f.iq("n3", "set",
                        "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>"
                        "<field var='username'><value>otto</value></field>"
                        "<field var='password'><value>otto-password</value></field>"
                        "<field var='token'><value>" + token + "</value></field></x></query>");
    EXPECT_NE(viaForm.find("item-not-found"), std::string::npos) << viaForm;
  }
  // A fresh token as a form field works.
  const std::string second = createInvite(server);
  Fresh f(server);
  auto viaForm = f.iq("n4", "set",
                      "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>"
                      "<field var='username'><value>otto</value></field>"
                      "<field var='password'><value>otto-password</value></field>"
                      "<field var='token'><value>" + second + "</value></field></x></query>");
  EXPECT_TRUE(isResultText(viaForm, "n4")) << viaForm;
}

// §3.3 password change and §3.2 removal by the logged-in user.
TEST(RegisterTest, PasswordChangeAndRemovalByTheUser) {
  TestServer server;
  server.addUser("alice", "alice-secret");
  server.addUser("bob", "bob-secret");
  server.start();
  XmppClient alice(server.jid("alice") + "/a", "alice-secret", server.c2sPort());
  ASSERT_TRUE(alice.connect());
  EXPECT_TRUE(isError(alice.request("<iq type='set' id='c0'><query xmlns='jabber:iq:register'><username>bob</username>"
                                    "<password>stolen-password</password></query></iq>",
                                    "c0"),
                      "not-authorized"));
  EXPECT_TRUE(isResult(alice.request("<iq type='set' id='c1'><query xmlns='jabber:iq:register'><username>alice</username>"
                                     "<password>alice-new-pw</password></query></iq>",
                                     "c1")));
  EXPECT_FALSE(canLogIn(server, "alice", "alice-secret"));
  EXPECT_TRUE(canLogIn(server, "alice", "alice-new-pw"));
  auto reply = alice.request("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><remove/></query></iq>", "r1");
  EXPECT_TRUE(isResult(reply));
  EXPECT_TRUE(alice.waitDisconnected());
  EXPECT_EQ(alice.error(), "not-authorized");
  EXPECT_FALSE(canLogIn(server, "alice", "alice-new-pw"));
  // Nothing keyed by alice is left in any table.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(server.databasePath().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM accounts WHERE username = 'alice'", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace parley::test
