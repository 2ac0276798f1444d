// XEP-0050 ad-hoc commands and XEP-0133 service administration, through libstrophe against a real
// parleyd: what an administrator may do, what everybody else is refused, form validation, the message of
// the day, and that a deleted account leaves nothing behind.
#include <sqlite3.h>

#include <fstream>
#include <map>

#include "integration/module_helpers.h"
#include "support/raw_client.h"

namespace parley::test {
namespace {

constexpr const char* kCmdNs = "http://jabber.org/protocol/commands";
constexpr const char* kDataNs = "jabber:x:data";
constexpr const char* kAdmin = "http://jabber.org/protocol/admin#";

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '&') out += "&amp;";
    else if (c == '\'') out += "&apos;";
    else out += c;
  }
  return out;
}

int nextId = 0;
std::string newId() {
  return "a" + std::to_string(++nextId);
}

xml::ElementPtr execute(XmppClient& c, const std::string& node, const std::string& sid = {},
                        const std::string& action = {}, const std::string& payload = {}) {
  const std::string id = newId();
  std::string xml = "<iq type='set' id='" + id + "' to='localhost'><command xmlns='" + kCmdNs + "' node='" + node + "'";
  if (!sid.empty()) xml += " sessionid='" + sid + "'";
  if (!action.empty()) xml += " action='" + action + "'";
  xml += ">" + payload + "</command></iq>";
  return c.request(xml, id);
}

std::string submitForm(const Fields& fields) {
  std::string x = std::string("<x xmlns='") + kDataNs + "' type='submit'>";
  std::map<std::string, std::vector<std::string>> grouped;
  std::vector<std::string> order;
  for (const auto& [k, v] : fields) {
    if (!grouped.count(k)) order.push_back(k);
    grouped[k].push_back(v);
  }
  for (const auto& k : order) {
    x += "<field var='" + k + "'>";
    for (const auto& v : grouped[k]) x += "<value>" + esc(v) + "</value>";
    x += "</field>";
  }
  return x + "</x>";
}

const xml::Element* command(const xml::ElementPtr& reply) {
  return reply ? reply->child("command", kCmdNs) : nullptr;
}

// Starts the command, then submits `fields` to its form; returns the final reply.
xml::ElementPtr run(XmppClient& c, const std::string& name, const Fields& fields) {
  auto first = execute(c, kAdmin + name);
  const auto* cmd = command(first);
  if (!cmd || cmd->attr("status") != "executing") return first;
  return execute(c, kAdmin + name, std::string(cmd->attr("sessionid")), "complete", submitForm(fields));
}

std::string note(const xml::ElementPtr& reply, const std::string& type = "info") {
  const auto* cmd = command(reply);
  if (!cmd) return {};
  for (const auto& n : cmd->childrenNamed("note", kCmdNs))
    if (n->attr("type") == type || (type == "info" && n->attr("type").empty())) return n->text();
  return {};
}

bool completed(const xml::ElementPtr& reply) {
  const auto* cmd = command(reply);
  return isResult(reply) && cmd && cmd->attr("status") == "completed" && note(reply, "error").empty();
}

std::vector<std::string> resultValues(const xml::ElementPtr& reply, const std::string& var) {
  std::vector<std::string> out;
  const auto* cmd = command(reply);
  if (!cmd) return out;
  const auto* x = cmd->child("x", kDataNs);
  if (!x) return out;
  for (const auto& f : x->childrenNamed("field", kDataNs))
    if (f->attr("var") == var)
      for (const auto& v : f->childrenNamed("value", kDataNs)) out.push_back(v->text());
  return out;
}

std::string errorText(const xml::ElementPtr& reply) {
  if (!reply) return {};
  const auto* err = reply->child("error", "jabber:client");
  return err ? err->childText("text", kStanzasNs) : std::string();
}

bool hasCommandsCondition(const xml::ElementPtr& reply, const std::string& name) {
  if (!reply) return false;
  const auto* err = reply->child("error", "jabber:client");
  return err && err->child(name, kCmdNs);
}

// Rows left in the SQLite file for an account: every table with a `username` column, and roster items
// of others that name it.
std::map<std::string, int> rowsFor(const std::string& dbPath, const std::string& user, const std::string& domain) {
  std::map<std::string, int> out;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(dbPath.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::vector<std::string> tables;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  auto count = [&](const std::string& sql, const std::string& a, const std::string& b) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return -1;
    sqlite3_bind_text(s, 1, a.c_str(), -1, SQLITE_TRANSIENT);
    if (!b.empty()) sqlite3_bind_text(s, 2, b.c_str(), -1, SQLITE_TRANSIENT);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
  };
  for (const auto& t : tables) {
    bool hasUsername = false;
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, ("PRAGMA table_info(" + t + ")").c_str(), -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW)
      if (std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 1))) == "username") hasUsername = true;
    sqlite3_finalize(s);
    if (hasUsername)
      out[t] = count("SELECT COUNT(*) FROM " + t + " WHERE domain = ?2 AND username = ?1", user, domain);
  }
  out["roster_items(contact)"] = count("SELECT COUNT(*) FROM roster_items WHERE contact = ?", user + "@" + domain, {});
  sqlite3_close(db);
  return out;
}

int totalRows(const std::map<std::string, int>& rows) {
  int n = 0;
  for (const auto& [t, c] : rows) n += c;
  return n;
}

std::string describe(const std::map<std::string, int>& rows) {
  std::string s;
  for (const auto& [t, c] : rows)
    if (c) s += t + "=" + std::to_string(c) + " ";
  return s;
}

const std::vector<std::string> kAllAdminCommands = {
    "add-user",          "delete-user",          "disable-user",         "reenable-user",
    "change-user-password", "end-user-session",  "get-user-roster",      "get-user-lastlogin",
    "get-registered-users-num", "get-online-users-num", "get-active-users-num", "get-online-users-list",
    "announce",          "set-motd",             "edit-motd",            "delete-motd",
};

class AdminTest : public ::testing::Test {
 protected:
  AdminTest() : server(options()) {}
  static TestServerOptions options() {
    TestServerOptions o;
    o.serverSection = "admins = [\"admin@localhost\"]";
    o.extra = "[modules.admin]\njournal_interval = 1\n";
    return o;
  }
  void SetUp() override {
    server.addUser("admin", "admin-secret");
    for (const char* u : {"alice", "bob", "carol"}) server.addUser(u, std::string(u) + "-secret");
    server.start();
  }
  std::unique_ptr<XmppClient> client(const std::string& user, const std::string& resource,
                                     const std::string& password = {}) {
    auto c = std::make_unique<XmppClient>(server.jid(user) + "/" + resource,
                                          password.empty() ? user + "-secret" : password, server.c2sPort());
    EXPECT_TRUE(c->connect()) << user << ": " << c->error();
    return c;
  }
  bool canLogIn(const std::string& user, const std::string& password) {
    XmppClient c(server.jid(user) + "/probe", password, server.c2sPort());
    return c.connect();
  }
  TestServer server;
};

// XEP-0050 §2: the server says it supports commands; the list holds what the requester may run.
TEST_F(AdminTest, CommandListHoldsOnlyWhatTheRequesterMayRun) {
  auto admin = client("admin", "console");
  auto alice = client("alice", "phone");
  EXPECT_TRUE(serverHasFeature(*admin, kCmdNs));
  auto list = [](XmppClient& c) {
    auto r = c.request(
        "<iq type='get' id='l1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' "
        "node='http://jabber.org/protocol/commands'/></iq>",
        "l1");
    std::vector<std::string> nodes;
    EXPECT_TRUE(isResult(r));
    if (r)
      for (const auto& i : r->child("query", "http://jabber.org/protocol/disco#items")
                               ->childrenNamed("item", "http://jabber.org/protocol/disco#items")) {
        EXPECT_EQ(i->attr("jid"), "localhost");
        EXPECT_FALSE(i->attr("name").empty());
        nodes.emplace_back(i->attr("node"));
      }
    return nodes;
  };
  auto adminNodes = list(*admin);
  for (const auto& name : kAllAdminCommands)
    EXPECT_NE(std::find(adminNodes.begin(), adminNodes.end(), kAdmin + name), adminNodes.end()) << name;
  EXPECT_NE(std::find(adminNodes.begin(), adminNodes.end(), "urn:xmpp:invite#create-account"), adminNodes.end());
  EXPECT_TRUE(list(*alice).empty());

  // §2.3 disco#info on a command node.
  auto info = admin->request(std::string("<iq type='get' id='i1' to='localhost'><query "
                                         "xmlns='http://jabber.org/protocol/disco#info' node='") +
                                 kAdmin + "add-user'/></iq>",
                             "i1");
  ASSERT_TRUE(isResult(info));
  const auto* q = info->child("query", "http://jabber.org/protocol/disco#info");
  ASSERT_TRUE(q);
  const auto* id = q->child("identity", "http://jabber.org/protocol/disco#info");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->attr("category"), "automation");
  EXPECT_EQ(id->attr("type"), "command-node");
  auto denied = alice->request(std::string("<iq type='get' id='i2' to='localhost'><query "
                                           "xmlns='http://jabber.org/protocol/disco#info' node='") +
                                   kAdmin + "add-user'/></iq>",
                               "i2");
  EXPECT_TRUE(isError(denied, "forbidden"));
}

// Every command checks the caller on every request: a non-admin gets forbidden for each of them, also
// with a session id stolen from the admin (bad-sessionid: sessions belong to their full JID).
TEST_F(AdminTest, EveryCommandRefusesNonAdmins) {
  auto alice = client("alice", "phone");
  for (const auto& name : kAllAdminCommands) {
    auto r = execute(*alice, kAdmin + name);
    EXPECT_TRUE(isError(r, "forbidden")) << name;
  }
  EXPECT_TRUE(isError(execute(*alice, "urn:xmpp:invite#create-account"), "forbidden"));
  auto admin = client("admin", "console");
  auto started = execute(*admin, std::string(kAdmin) + "add-user");
  ASSERT_TRUE(command(started));
  std::string sid(command(started)->attr("sessionid"));
  auto stolen = execute(*alice, std::string(kAdmin) + "add-user", sid, "complete",
                        submitForm({{"accountjid", "mallory@localhost"}, {"password", "x"}, {"password-verify", "x"}}));
  EXPECT_TRUE(isError(stolen, "forbidden"));
  EXPECT_FALSE(canLogIn("mallory", "x"));
}

// XEP-0050 §4.4, §6: session handling errors.
TEST_F(AdminTest, SessionErrors) {
  auto admin = client("admin", "console");
  auto other = client("admin", "laptop");
  // Unknown node.
  EXPECT_TRUE(isError(execute(*admin, "urn:nope"), "item-not-found"));
  auto first = execute(*admin, std::string(kAdmin) + "add-user");
  ASSERT_TRUE(command(first));
  EXPECT_EQ(command(first)->attr("status"), "executing");
  const auto* actions = command(first)->child("actions", kCmdNs);
  ASSERT_TRUE(actions);
  EXPECT_EQ(actions->attr("execute"), "complete");
  std::string sid(command(first)->attr("sessionid"));
  ASSERT_FALSE(sid.empty());
  // An action that is not an action at all; one not allowed at this stage.
  auto malformed = execute(*admin, std::string(kAdmin) + "add-user", sid, "jump");
  EXPECT_TRUE(isError(malformed, "bad-request"));
  EXPECT_TRUE(hasCommandsCondition(malformed, "malformed-action"));
  auto prev = execute(*admin, std::string(kAdmin) + "add-user", sid, "prev");
  EXPECT_TRUE(isError(prev, "bad-request"));
  EXPECT_TRUE(hasCommandsCondition(prev, "bad-action"));
  // Another resource of the same account may not continue it.
  auto foreign = execute(*other, std::string(kAdmin) + "add-user", sid, "complete");
  EXPECT_TRUE(hasCommandsCondition(foreign, "bad-sessionid"));
  // A made-up session id.
  EXPECT_TRUE(hasCommandsCondition(execute(*admin, std::string(kAdmin) + "add-user", "nope", "complete"),
                                   "bad-sessionid"));
  // Cancel ends it (§4.4), after which it is unknown.
  auto cancel = execute(*admin, std::string(kAdmin) + "add-user", sid, "cancel");
  ASSERT_TRUE(command(cancel));
  EXPECT_EQ(command(cancel)->attr("status"), "canceled");
  EXPECT_TRUE(hasCommandsCondition(execute(*admin, std::string(kAdmin) + "add-user", sid, "complete"),
                                   "bad-sessionid"));
}

// XEP-0004 validation: the error names the field, the session stays open for a corrected submission.
TEST_F(AdminTest, FormValidationErrorsNameTheFieldAndKeepTheSession) {
  auto admin = client("admin", "console");
  const std::string node = std::string(kAdmin) + "add-user";
  auto first = execute(*admin, node);
  ASSERT_TRUE(command(first));
  std::string sid(command(first)->attr("sessionid"));
  auto missing = execute(*admin, node, sid, "complete", submitForm({{"accountjid", "dave@localhost"}}));
  EXPECT_TRUE(isError(missing, "bad-request"));
  EXPECT_TRUE(hasCommandsCondition(missing, "bad-payload"));
  EXPECT_NE(errorText(missing).find("'password'"), std::string::npos) << errorText(missing);
  auto badJid = execute(*admin, node, sid, "complete",
                        submitForm({{"accountjid", "da ve@@localhost"}, {"password", "p"}, {"password-verify", "p"}}));
  EXPECT_TRUE(hasCommandsCondition(badJid, "bad-payload"));
  EXPECT_NE(errorText(badJid).find("not a valid JID"), std::string::npos) << errorText(badJid);
  auto mismatch = execute(*admin, node, sid, "complete",
                          submitForm({{"accountjid", "dave@localhost"}, {"password", "p1"}, {"password-verify", "p2"}}));
  EXPECT_NE(errorText(mismatch).find("do not match"), std::string::npos) << errorText(mismatch);
  auto foreign = execute(*admin, node, sid, "complete",
                         submitForm({{"accountjid", "dave@elsewhere.example"}, {"password", "p"}, {"password-verify", "p"}}));
  EXPECT_NE(errorText(foreign).find("not an account of localhost"), std::string::npos) << errorText(foreign);
  auto two = execute(*admin, node, sid, "complete",
                     submitForm({{"accountjid", "dave@localhost"}, {"accountjid", "eve@localhost"},
                                 {"password", "p"}, {"password-verify", "p"}}));
  EXPECT_NE(errorText(two).find("single value"), std::string::npos) << errorText(two);
  // Still the same session: now right.
  auto ok = execute(*admin, node, sid, "complete",
                    submitForm({{"accountjid", "dave@localhost"}, {"password", "dave-pw"}, {"password-verify", "dave-pw"}}));
  EXPECT_TRUE(completed(ok)) << (ok ? errorText(ok) : "no reply");
  EXPECT_TRUE(canLogIn("dave", "dave-pw"));
  // Adding it again: the command completes with an error note.
  auto again = run(*admin, "add-user", {{"accountjid", "dave@localhost"}, {"password", "x"}, {"password-verify", "x"}});
  EXPECT_NE(note(again, "error").find("already exists"), std::string::npos);
  // A list-single value that is not an option.
  auto list = execute(*admin, std::string(kAdmin) + "get-online-users-list");
  ASSERT_TRUE(command(list));
  auto bad = execute(*admin, std::string(kAdmin) + "get-online-users-list",
                     std::string(command(list)->attr("sessionid")), "complete", submitForm({{"max_items", "7"}}));
  EXPECT_NE(errorText(bad).find("not one of the options"), std::string::npos) << errorText(bad);
}

TEST_F(AdminTest, PasswordChangeDisableEnableAndEndSession) {
  auto admin = client("admin", "console");
  // §4.6 change password.
  EXPECT_TRUE(completed(run(*admin, "change-user-password", {{"accountjid", "bob@localhost"}, {"password", "new-bob"}})));
  EXPECT_FALSE(canLogIn("bob", "bob-secret"));
  EXPECT_TRUE(canLogIn("bob", "new-bob"));
  EXPECT_NE(note(run(*admin, "change-user-password", {{"accountjid", "nobody@localhost"}, {"password", "x"}}), "error")
                .find("No such user"),
            std::string::npos);

  // §4.3 disable: the live session ends, logging in fails with <account-disabled/>.
  auto bob = client("bob", "phone", "new-bob");
  EXPECT_TRUE(completed(run(*admin, "disable-user", {{"accountjids", "bob@localhost"}})));
  EXPECT_TRUE(bob->waitDisconnected());
  EXPECT_EQ(bob->error(), "not-authorized");
  EXPECT_FALSE(canLogIn("bob", "new-bob"));
  {
    RawClient raw(server.c2sPort());
    raw.openStream();
    ASSERT_TRUE(raw.startTls());
    raw.openStream();
    EXPECT_FALSE(raw.authenticate("bob", "new-bob", "SCRAM-SHA-256"));
    EXPECT_NE(raw.received().find("account-disabled"), std::string::npos) << raw.received();
  }
  // §4.4 re-enable.
  EXPECT_TRUE(completed(run(*admin, "reenable-user", {{"accountjids", "bob@localhost"}})));
  EXPECT_TRUE(canLogIn("bob", "new-bob"));

  // §4.8 end session: a bare JID ends every session, a full JID one.
  auto carol1 = client("carol", "one");
  auto carol2 = client("carol", "two");
  EXPECT_TRUE(completed(run(*admin, "end-user-session", {{"accountjids", "carol@localhost/one"}})));
  EXPECT_TRUE(carol1->waitDisconnected());
  EXPECT_TRUE(carol2->connected());
  EXPECT_TRUE(completed(run(*admin, "end-user-session", {{"accountjids", "carol@localhost"}})));
  EXPECT_TRUE(carol2->waitDisconnected());
  EXPECT_FALSE(note(run(*admin, "end-user-session", {{"accountjids", "carol@localhost"}}), "error").empty());
}

TEST_F(AdminTest, RosterLastLoginAndCounts) {
  auto admin = client("admin", "console");
  admin->becomeAvailable();
  auto alice = client("alice", "phone");
  auto bob = client("bob", "phone");
  alice->becomeAvailable();
  bob->becomeAvailable();
  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));
  bob->send("<presence to='alice@localhost' type='subscribed'/>");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribed")));
  auto carol = client("carol", "idle");  // online, but never available

  // §4.10 roster.
  auto roster = run(*admin, "get-user-roster", {{"accountjids", "alice@localhost"}});
  ASSERT_TRUE(completed(roster));
  const auto* q = command(roster)->child("x", kDataNs)->child("query", "jabber:iq:roster");
  ASSERT_TRUE(q);
  auto items = q->childrenNamed("item", "jabber:iq:roster");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]->attr("jid"), "bob@localhost");
  EXPECT_EQ(items[0]->attr("subscription"), "to");

  // §4.11 last login.
  auto last = run(*admin, "get-user-lastlogin", {{"accountjids", "alice@localhost"}});
  ASSERT_TRUE(completed(last));
  auto when = resultValues(last, "lastlogin");
  ASSERT_EQ(when.size(), 1u);
  EXPECT_NE(when[0], "never");
  EXPECT_EQ(when[0].back(), 'Z');

  // Counts: registered, online (connected), active (available).
  auto registered = run(*admin, "get-registered-users-num", {});
  EXPECT_EQ(resultValues(registered, "registeredusersnum"), std::vector<std::string>{"4"});
  EXPECT_EQ(resultValues(run(*admin, "get-online-users-num", {}), "onlineusersnum"), std::vector<std::string>{"4"});
  EXPECT_EQ(resultValues(run(*admin, "get-active-users-num", {}), "activeusersnum"), std::vector<std::string>{"3"});
  auto online = run(*admin, "get-online-users-list", {{"max_items", "25"}});
  EXPECT_EQ(resultValues(online, "onlineuserjids"),
            (std::vector<std::string>{"admin@localhost", "alice@localhost", "bob@localhost", "carol@localhost"}));
}

TEST_F(AdminTest, AnnouncementReachesAvailableSessions) {
  auto admin = client("admin", "console");
  auto alice = client("alice", "phone");
  auto bob = client("bob", "phone");
  alice->becomeAvailable();
  bob->becomeAvailable();
  auto r = run(*admin, "announce", {{"subject", "Maintenance"}, {"announcement", "Down at 22:00"}, {"announcement", "for 5 minutes"}});
  ASSERT_TRUE(completed(r));
  EXPECT_NE(note(r).find("2 session"), std::string::npos) << note(r);
  for (auto* c : {alice.get(), bob.get()}) {
    auto m = c->expect(isMessage().from("localhost").type("headline"));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->childText("subject", "jabber:client"), "Maintenance");
    EXPECT_EQ(m->childText("body", "jabber:client"), "Down at 22:00\nfor 5 minutes");
  }
}

// XEP-0133 §4.24-4.26: the MOTD reaches each user once when they come online; an edited MOTD once more.
TEST_F(AdminTest, MessageOfTheDayIsDeliveredOncePerVersion) {
  auto admin = client("admin", "console");
  ASSERT_TRUE(completed(run(*admin, "set-motd", {{"subject", "Welcome"}, {"motd", "Be nice"}})));
  auto loginGetsMotd = [&](const std::string& resource) {
    auto c = client("carol", resource);
    c->becomeAvailable();
    auto m = c->expect(isMessage().from("localhost").type("headline"), 2s);
    return m ? m->childText("body", "jabber:client") : std::string();
  };
  EXPECT_EQ(loginGetsMotd("a"), "Be nice");
  EXPECT_EQ(loginGetsMotd("b"), "");  // already seen
  // Edit: the form shows the current one; the new version is delivered again.
  auto edit = execute(*admin, std::string(kAdmin) + "edit-motd");
  ASSERT_TRUE(command(edit));
  const auto* form = command(edit)->child("x", kDataNs);
  ASSERT_TRUE(form);
  bool shown = false;
  for (const auto& f : form->childrenNamed("field", kDataNs))
    if (f->attr("var") == "motd") shown = f->childText("value", kDataNs) == "Be nice";
  EXPECT_TRUE(shown);
  ASSERT_TRUE(completed(execute(*admin, std::string(kAdmin) + "edit-motd",
                                std::string(command(edit)->attr("sessionid")), "complete",
                                submitForm({{"subject", "Welcome"}, {"motd", "Be very nice"}}))));
  EXPECT_EQ(loginGetsMotd("c"), "Be very nice");
  EXPECT_EQ(loginGetsMotd("d"), "");
  // Deleted: nothing any more, also for someone who never saw one.
  ASSERT_TRUE(completed(run(*admin, "delete-motd", {})));
  auto alice = client("alice", "x");
  alice->becomeAvailable();
  EXPECT_TRUE(alice->expectNothing(isMessage().type("headline"), 700ms));
}

// §4.2 delete: sessions end, contacts' rosters lose the item (with a push), and no row is left.
TEST_F(AdminTest, DeleteUserLeavesNoRowsBehind) {
  auto admin = client("admin", "console");
  {
    auto alice = client("alice", "phone");
    auto bob = client("bob", "phone");
    alice->becomeAvailable();
    bob->becomeAvailable();
    alice->send("<presence to='bob@localhost' type='subscribe'/>");
    ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));
    bob->send("<presence to='alice@localhost' type='subscribed'/>");
    ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribed")));
    bob->send("<message to='alice@localhost' type='chat' id='m1'><body>hi</body></message>");
    ASSERT_TRUE(alice->expect(isMessage().body("hi")));
    alice->disconnect();
    // An offline message for bob, and private data.
    auto carol = client("carol", "c");
    carol->send("<message to='alice@localhost' type='chat' id='m2'><body>offline</body></message>");
    carol->pump(300ms);
    ASSERT_TRUE(completed(run(*admin, "set-motd", {{"motd", "hello"}})));
    auto alice2 = client("alice", "again");
    alice2->send("<iq type='set' id='p1'><query xmlns='jabber:iq:private'><n xmlns='urn:x'>v</n></query></iq>");
    alice2->expect(isIq().id("p1"));
    alice2->becomeAvailable();
    alice2->expect(isMessage().type("headline"), 2s);
    alice2->disconnect();
    ASSERT_GT(totalRows(rowsFor(server.databasePath(), "alice", "localhost")), 3);
    // Bob's client asks for its roster, so it gets roster pushes (RFC 6121 §2.1.6).
    ASSERT_TRUE(isResult(bob->request("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>", "r0")));
    auto alice3 = client("alice", "last");
    auto r = run(*admin, "delete-user", {{"accountjids", "alice@localhost"}});
    ASSERT_TRUE(completed(r)) << note(r, "error");
    EXPECT_TRUE(alice3->waitDisconnected());
    EXPECT_EQ(alice3->error(), "not-authorized");
    // Bob's roster loses alice, with a push (RFC 6121 §2.5).
    auto push = bob->expect(isIq().type("set").child("query", "jabber:iq:roster"));
    ASSERT_TRUE(push);
    const auto* item = push->child("query", "jabber:iq:roster")->child("item", "jabber:iq:roster");
    ASSERT_TRUE(item);
    EXPECT_EQ(item->attr("jid"), "alice@localhost");
    EXPECT_EQ(item->attr("subscription"), "remove");
  }
  EXPECT_FALSE(canLogIn("alice", "alice-secret"));
  // Everything written while the sessions closed is wiped too: wait for that pass.
  std::map<std::string, int> rows;
  for (int i = 0; i < 50; ++i) {
    rows = rowsFor(server.databasePath(), "alice", "localhost");
    if (totalRows(rows) == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(totalRows(rows), 0) << describe(rows);
  EXPECT_NE(note(run(*admin, "delete-user", {{"accountjids", "alice@localhost"}}), "error").find("No such user"),
            std::string::npos);
}

// `parleyctl user del` works on storage; the running server learns of it from the journal.
TEST_F(AdminTest, ParleyctlDeletionEndsSessionsAndLeavesNoRows) {
  auto bob = client("bob", "phone");
  auto alice = client("alice", "phone");
  alice->becomeAvailable();
  bob->becomeAvailable();
  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));
  bob->send("<presence to='alice@localhost' type='subscribed'/>");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribed")));
  ASSERT_TRUE(isResult(alice->request("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>", "r0")));
  auto [rc, out] = runProgram({PARLEYCTL_PATH, "--config", server.configPath(), "user", "del", "bob@localhost"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(bob->waitDisconnected(5s));
  EXPECT_EQ(bob->error(), "not-authorized");
  auto push = alice->expect(isIq().type("set").child("query", "jabber:iq:roster"), 5s);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->child("query", "jabber:iq:roster")->child("item", "jabber:iq:roster")->attr("subscription"), "remove");
  std::map<std::string, int> rows;
  for (int i = 0; i < 50; ++i) {
    rows = rowsFor(server.databasePath(), "bob", "localhost");
    if (totalRows(rows) == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(totalRows(rows), 0) << describe(rows);
}

// --- the console ----------------------------------------------------------------------------------

std::vector<std::string> ctl(const TestServer& s, std::vector<std::string> args, const std::string& jid,
                             const std::string& password, bool insecure = true) {
  std::vector<std::string> argv = {PARLEYCTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> conn = {"--jid", jid, "--password", password, "--host", "127.0.0.1",
                                   "--port", std::to_string(s.c2sPort())};
  argv.insert(argv.end(), conn.begin(), conn.end());
  if (insecure) argv.push_back("--insecure");
  return argv;
}

TEST_F(AdminTest, ConsoleNonInteractive) {
  auto [rc, out] = runProgram(ctl(server, {"adhoc", "run", "add-user", "accountjid=dave@localhost", "password=dave-pw",
                                           "password-verify=dave-pw"},
                                  "admin@localhost", "admin-secret"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("info: User dave@localhost added"), std::string::npos) << out;
  EXPECT_TRUE(canLogIn("dave", "dave-pw"));
  // The same again: the command's error note, exit status 1.
  std::tie(rc, out) = runProgram(ctl(server, {"adhoc", "run", "add-user", "accountjid=dave@localhost", "password=x",
                                              "password-verify=x"},
                                     "admin@localhost", "admin-secret"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("error: User dave@localhost already exists"), std::string::npos) << out;
  // A validation error: the XEP-0050 error and its text.
  std::tie(rc, out) = runProgram(ctl(server, {"adhoc", "run", "add-user", "accountjid=erin@localhost"},
                                     "admin@localhost", "admin-secret"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("bad-request/bad-payload"), std::string::npos) << out;
  EXPECT_NE(out.find("'password'"), std::string::npos) << out;
  // Results print as label: value.
  std::tie(rc, out) = runProgram(ctl(server, {"adhoc", "run", "get-registered-users-num"}, "admin@localhost", "admin-secret"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("The number of registered users: 5"), std::string::npos) << out;
  // A non-admin: not in its list; by full node: forbidden.
  std::tie(rc, out) = runProgram(ctl(server, {"adhoc", "run", "add-user"}, "alice@localhost", "alice-secret"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("no command 'add-user'"), std::string::npos) << out;
  std::tie(rc, out) = runProgram(ctl(server, {"adhoc", "run", std::string(kAdmin) + "add-user"}, "alice@localhost", "alice-secret"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("forbidden"), std::string::npos) << out;
  // Wrong password: exit 2.
  std::tie(rc, out) = runProgram(ctl(server, {"adhoc", "list"}, "admin@localhost", "wrong"));
  EXPECT_EQ(rc, 2) << out;
  // The self-signed certificate is refused unless trusted explicitly, with a hint.
  std::tie(rc, out) = runProgram(ctl(server, {"adhoc", "list"}, "admin@localhost", "admin-secret", false));
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;
  auto withCa = ctl(server, {"adhoc", "list"}, "admin@localhost", "admin-secret", false);
  withCa.push_back("--ca");
  withCa.push_back(server.dir() + "/cert.pem");
  std::tie(rc, out) = runProgram(withCa);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("#add-user\tAdd a User"), std::string::npos) << out;
}

// The interactive console, its input from a pipe, as an administrator would type.
TEST_F(AdminTest, ConsoleInteractiveThroughAPipe) {
  const std::string input = server.dir() + "/console-input.txt";
  {
    std::ofstream f(input);
    f << "Add a User\n"      // by name
      << "frank@localhost\n"  // accountjid
      << "pw1\n"              // password
      << "pw2\n"              // verify (wrong)
      << "\n\n\n"             // email, given name, surname
      << "y\n"                // try again
      << "frank@localhost\nfrank-pw\nfrank-pw\n\n\n\n"
      << "get-registered-users-num\n"
      << "q\n";
  }
  auto argv = ctl(server, {"console"}, "admin@localhost", "admin-secret");
  std::string cmd = "cat '" + input + "' |";
  for (const auto& a : argv) cmd += " '" + a + "'";
  auto [rc, out] = runProgram({"/bin/sh", "-c", cmd});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Connected as admin@localhost/"), std::string::npos) << out;
  EXPECT_NE(out.find("Add a User"), std::string::npos) << out;
  EXPECT_NE(out.find("The passwords do not match"), std::string::npos) << out;
  EXPECT_NE(out.find("User frank@localhost added"), std::string::npos) << out;
  EXPECT_NE(out.find("The number of registered users: 5"), std::string::npos) << out;
  EXPECT_TRUE(canLogIn("frank", "frank-pw"));
}

}  // namespace
}  // namespace parley::test
