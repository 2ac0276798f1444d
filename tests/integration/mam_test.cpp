// XEP-0313 message archive management through real clients: messages are archived once per account in
// both directions and stamped with XEP-0359 <stanza-id/>; 1,000 messages page through in both directions
// without gaps or duplicates; the 'with', 'start', 'end', 'after-id', 'before-id' and 'ids' fields;
// flipped pages; XEP-0441 preferences; offline messages; what is not archived; errors; retention; and
// deletion with the account.
#include <deque>
#include <set>
#include <thread>

#include "integration/im_helpers.h"
#include "storage/account_store.h"
#include "storage/database.h"
#include "xep/mam/archive_store.h"

namespace parley::test {
namespace {

constexpr const char* kMam = "urn:xmpp:mam:2";
constexpr const char* kRsm = "http://jabber.org/protocol/rsm";
constexpr const char* kSid = "urn:xmpp:sid:0";
constexpr const char* kForward = "urn:xmpp:forward:0";

// One page of a query: what the result messages said, and the <fin/>.
struct Page {
  xml::ElementPtr reply;                  // the IQ result (or error)
  std::vector<std::string> ids;           // <result id>, in the order received
  std::vector<std::string> bodies;        // body of each forwarded message
  std::vector<std::string> stamps;        // <delay stamp>
  std::vector<xml::ElementPtr> messages;  // the forwarded messages
  bool complete = false;
  std::string first, last;
  std::string firstIndex;
  long count = -1;
};

std::string form(const std::string& fields) {
  return "<x xmlns='jabber:x:data' type='submit'>" + field("FORM_TYPE", kMam) + fields + "</x>";
}

std::string rsm(const std::string& inner) {
  return "<set xmlns='http://jabber.org/protocol/rsm'>" + inner + "</set>";
}

// Sends a query (form, RSM set and anything else inside <query/>) and collects its results: they all
// arrive before the IQ result (XEP-0313 §4.2).
Page query(XmppClient& c, const std::string& inner, const std::string& to = {}) {
  static int seq = 0;
  const std::string id = "q" + std::to_string(++seq), qid = "f" + std::to_string(seq);
  Page p;
  p.reply = c.request("<iq type='set' id='" + id + "'" + (to.empty() ? "" : " to='" + to + "'") +
                          "><query xmlns='urn:xmpp:mam:2' queryid='" + qid + "'>" + inner + "</query></iq>",
                      id, 20s);
  // Take the results out of the inbox, leave everything else in it.
  std::deque<xml::ElementPtr> rest;
  for (auto& e : c.inbox()) {
    const auto* result = e && e->name() == "message" ? e->child("result", kMam) : nullptr;
    if (!result || result->attr("queryid") != qid) {
      rest.push_back(std::move(e));
      continue;
    }
    EXPECT_EQ(e->attr("from"), bareOf(c.jid())) << "XEP-0313 §8: results come from the archive";
    p.ids.emplace_back(result->attr("id"));
    const auto* fwd = result->child("forwarded", kForward);
    const auto* delay = fwd ? fwd->child("delay", "urn:xmpp:delay") : nullptr;
    auto msg = fwd ? fwd->childPtr("message", "jabber:client") : nullptr;
    p.stamps.emplace_back(delay ? std::string(delay->attr("stamp")) : "");
    p.bodies.push_back(msg ? msg->childText("body", "jabber:client") : "");
    p.messages.push_back(msg);
  }
  c.inbox().swap(rest);
  if (!isResult(p.reply)) return p;
  const auto* fin = p.reply->child("fin", kMam);
  EXPECT_TRUE(fin) << "result without <fin/>";
  if (!fin) return p;
  p.complete = fin->attr("complete") == "true";
  if (const auto* set = fin->child("set", kRsm)) {
    p.first = set->childText("first", kRsm);
    if (const auto* f = set->child("first", kRsm)) p.firstIndex = std::string(f->attr("index"));
    p.last = set->childText("last", kRsm);
    if (set->child("count", kRsm)) p.count = std::stol(set->childText("count", kRsm));
  }
  return p;
}

void sendChat(XmppClient& from, const std::string& to, const std::string& body,
              const std::string& extra = {}) {
  from.send("<message to='" + to + "' type='chat'><body>" + body + "</body>" + extra + "</message>");
}

// The <stanza-id by='by'/> values on a received message.
std::vector<std::string> stanzaIds(const xml::Element& m, const std::string& by) {
  std::vector<std::string> out;
  for (const auto& s : m.childrenNamed("stanza-id", kSid))
    if (s->attr("by") == by) out.emplace_back(s->attr("id"));
  return out;
}

// The archive as parleyd wrote it (a second connection to its database, SQLite or MySQL).
std::int64_t archivedRows(const TestServer& server, const std::string& user) {
  auto db = storage::openDatabase(server.storageConfig());
  return xep::mam::ArchiveStore(*db).count(server.domain(), user);
}

class MamTest : public ImTest {
 protected:
  // No rate limit: the paging test sends 1,000 messages at once. <count/> on every page, to check it.
  explicit MamTest(const std::string& extra = {})
      : ImTest(
            "[limits]\nstanza_rate = 100000\nstanza_burst = 100000\n[modules.mam]\nrsm_count = "
            "\"always\"\n" +
            extra) {}
  void thousandMessagesPageBothWays();
};

// XEP-0313 §4.3 with XEP-0059: 1,000 messages, pages of 100, forwards with <after/>, backwards from
// an empty <before/> with <before>id</before>, and a flipped page (§4.3.4): every message exactly once,
// in the order they were delivered, with the ids the recipient saw in <stanza-id/> (§3.4).
TEST_F(MamTest, ThousandMessagesPageBothWaysWithoutGapsOrDuplicates) {
  thousandMessagesPageBothWays();
}

// The archive indexes its rows in bulk (xep/mam/archive_store.h); here every 37 rows, so the pages
// above read the index and the writer's tail, with the watermark moving while they are read. After a
// restart the tail that was only in memory is indexed at start and every message is still found.
class MamSmallIndexTest : public MamTest {
 protected:
  MamSmallIndexTest() : MamTest("index_rows = 37\n") {}
};

TEST_F(MamSmallIndexTest, PagesReadTheIndexAndTheTail) {
  thousandMessagesPageBothWays();
  auto db = storage::openDatabase(server.storageConfig());
  const auto indexedTo = xep::mam::ArchiveStore(*db).indexedTo();
  EXPECT_GT(indexedTo, 0);
  const auto maxId = xep::mam::ArchiveStore(*db).maxId();
  ASSERT_EQ(server.stop(), 0);
  server.start();
  EXPECT_EQ(xep::mam::ArchiveStore(*db).indexedTo(), maxId) << "the tail is indexed at start";
  auto bob = login("bob", "b2");
  auto all = query(*bob, rsm("<max>0</max>"));
  EXPECT_EQ(all.count, 1000);
  auto last = query(*bob, rsm("<max>3</max><before/>"));
  EXPECT_EQ(last.bodies, (std::vector<std::string>{"m997", "m998", "m999"}));
}

// index_seconds: a quiet server indexes its tail once the oldest row of it is that old (at the next
// write), so queries do not read a long tail by id for hours.
class MamIndexAgeTest : public MamTest {
 protected:
  MamIndexAgeTest() : MamTest("index_seconds = 1\n") {}
};

TEST_F(MamIndexAgeTest, AnOldTailIsIndexedAtTheNextWrite) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  sendChat(*alice, "bob@localhost", "first");
  ASSERT_TRUE(bob->expect(messageWithBody("first")));
  ASSERT_EQ(query(*bob, "").bodies, std::vector<std::string>{"first"});  // written (behind the query)
  auto db = storage::openDatabase(server.storageConfig());
  EXPECT_EQ(xep::mam::ArchiveStore(*db).indexedTo(), 0) << "fewer than index_rows, and young";
  std::this_thread::sleep_for(1100ms);
  sendChat(*alice, "bob@localhost", "second");
  ASSERT_TRUE(bob->expect(messageWithBody("second")));
  EXPECT_EQ(query(*bob, "").bodies, (std::vector<std::string>{"first", "second"}));
  // The first message's two copies at least. With several archive shards (MariaDB) the indexing may
  // run in alice's shard, which bob's query does not wait for, and the watermark stops below a row
  // another shard is still writing (the second message's copies may wait for the next write).
  auto indexedRows = [&] { return db->connection().query("SELECT COUNT(*) FROM mam_index")[0].getInt(0); };
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (indexedRows() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_GE(indexedRows(), 2);
  EXPECT_GT(xep::mam::ArchiveStore(*db).indexedTo(), 0);
}

void MamTest::thousandMessagesPageBothWays() {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  constexpr int kN = 1000;
  for (int i = 0; i < kN; ++i) sendChat(*alice, "bob@localhost", "m" + std::to_string(i));
  std::vector<std::string> delivered;
  for (int i = 0; i < kN; ++i) {
    auto m = bob->expect(messageWithBody("m" + std::to_string(i)), 20s);
    ASSERT_TRUE(m) << "message " << i << " not delivered";
    auto sids = stanzaIds(*m, "bob@localhost");
    ASSERT_EQ(sids.size(), 1u) << "message " << i;
    delivered.push_back(sids[0]);
  }

  // Forwards.
  std::vector<std::string> forward;
  std::string after;
  for (int page = 0;; ++page) {
    ASSERT_LT(page, 11) << "more pages than messages";
    auto p = query(*bob, rsm("<max>100</max>" + (after.empty() ? "" : "<after>" + after + "</after>")));
    ASSERT_TRUE(isResult(p.reply));
    ASSERT_EQ(p.ids.size(), 100u) << "page " << page;
    EXPECT_EQ(p.first, p.ids.front());
    EXPECT_EQ(p.last, p.ids.back());
    EXPECT_EQ(p.count, kN);
    EXPECT_EQ(p.firstIndex, std::to_string(page * 100));
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      EXPECT_EQ(p.bodies[i], "m" + std::to_string(forward.size()));
      forward.push_back(p.ids[i]);
    }
    after = p.last;
    // §4.3.2: 'complete' only on the page that reaches the end.
    EXPECT_EQ(p.complete, forward.size() == static_cast<std::size_t>(kN)) << "page " << page;
    if (p.complete) break;
  }
  EXPECT_EQ(forward, delivered);

  // Backwards: §4.3.3 the last page, then <before/> the first id of each page; each page is still in
  // chronological order.
  std::vector<std::string> backward;  // pages prepended
  std::string before;
  for (int page = 0;; ++page) {
    ASSERT_LT(page, 11);
    auto p = query(*bob, rsm("<max>100</max><before>" + before + "</before>"));
    ASSERT_TRUE(isResult(p.reply));
    ASSERT_EQ(p.ids.size(), 100u);
    EXPECT_EQ(p.firstIndex, std::to_string(kN - 100 * (page + 1)));
    backward.insert(backward.begin(), p.ids.begin(), p.ids.end());
    before = p.first;
    EXPECT_EQ(p.complete, backward.size() == static_cast<std::size_t>(kN));
    if (p.complete) break;
  }
  EXPECT_EQ(backward, delivered);

  // §4.3.4: a flipped page holds the same messages, newest first; first/last still name the page's
  // oldest and newest.
  auto plain = query(*bob, rsm("<max>100</max><after>" + delivered[499] + "</after>"));
  auto flipped = query(*bob, rsm("<max>100</max><after>" + delivered[499] + "</after>") + "<flip-page/>");
  ASSERT_EQ(flipped.ids.size(), 100u);
  EXPECT_EQ(std::vector<std::string>(flipped.ids.rbegin(), flipped.ids.rend()), plain.ids);
  EXPECT_EQ(flipped.first, plain.first);
  EXPECT_EQ(flipped.last, plain.last);
  EXPECT_EQ(plain.ids.front(), delivered[500]);

  // The sender's archive has its own copy of each, with its own ids (§3.4: never shown to bob).
  auto sent = query(*alice, rsm("<max>0</max>"));
  EXPECT_EQ(sent.count, kN);
  EXPECT_TRUE(sent.ids.empty());
  auto aliceLast = query(*alice, rsm("<max>1</max><before/>"));
  ASSERT_EQ(aliceLast.ids.size(), 1u);
  EXPECT_EQ(aliceLast.bodies[0], "m999");
  EXPECT_NE(aliceLast.ids[0], delivered.back());
  // XEP-0313 §4.1.3: before-id/after-id bound the result set (here: 3 messages).
  auto between = query(*bob, form(field("after-id", delivered[10]) + field("before-id", delivered[14])));
  EXPECT_EQ(between.bodies, (std::vector<std::string>{"m11", "m12", "m13"}));
  EXPECT_EQ(between.count, 3);
  EXPECT_TRUE(between.complete);
  auto picked = query(*bob, form("<field var='ids'><value>" + delivered[7] + "</value><value>" +
                                 delivered[3] + "</value></field>"));
  EXPECT_EQ(picked.bodies, (std::vector<std::string>{"m3", "m7"}));
}

// XEP-0313 §4.1.1 and §4.1.2: 'with' (bare matches every resource, full only that one) and the
// inclusive 'start'/'end' bounds, on the stamps the archive reports.
TEST_F(MamTest, FiltersByContactAndTime) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  auto carol = login("carol", "c");
  // Two clients' messages are ordered by waiting for each delivery: the server orders each
  // connection's stanzas, not the stanzas of different connections.
  sendChat(*alice, "bob@localhost", "to bob 1");
  ASSERT_TRUE(bob->expect(messageWithBody("to bob 1")));
  sendChat(*carol, "alice@localhost", "from carol");
  ASSERT_TRUE(alice->expect(messageWithBody("from carol")));
  sendChat(*alice, "bob@localhost/b", "to bob 2");
  sendChat(*alice, "carol@localhost", "to carol");
  ASSERT_TRUE(bob->expect(messageWithBody("to bob 2")));
  ASSERT_TRUE(carol->expect(messageWithBody("to carol")));

  auto all = query(*alice, "");
  EXPECT_EQ(all.bodies, (std::vector<std::string>{"to bob 1", "from carol", "to bob 2", "to carol"}));
  EXPECT_TRUE(all.complete);
  auto withBob = query(*alice, form(field("with", "bob@localhost")));
  EXPECT_EQ(withBob.bodies, (std::vector<std::string>{"to bob 1", "to bob 2"}));
  auto withBobB = query(*alice, form(field("with", "bob@localhost/b")));
  EXPECT_EQ(withBobB.bodies, (std::vector<std::string>{"to bob 2"}));
  auto withCarol = query(*alice, form(field("with", "carol@localhost")));
  EXPECT_EQ(withCarol.bodies, (std::vector<std::string>{"from carol", "to carol"}));
  // Incoming and outgoing are told apart by the forwarded message's addresses.
  ASSERT_EQ(withCarol.messages.size(), 2u);
  EXPECT_EQ(bareOf(std::string(withCarol.messages[0]->attr("from"))), "carol@localhost");
  EXPECT_EQ(bareOf(std::string(withCarol.messages[1]->attr("from"))), "alice@localhost");

  ASSERT_EQ(all.stamps.size(), 4u);
  auto middle = query(*alice, form(field("start", all.stamps[1]) + field("end", all.stamps[2])));
  EXPECT_EQ(middle.bodies, (std::vector<std::string>{"from carol", "to bob 2"}));
  EXPECT_EQ(middle.count, 2);
  auto fromSecond = query(*alice, form(field("with", "bob@localhost") + field("start", all.stamps[1])));
  EXPECT_EQ(fromSecond.bodies, (std::vector<std::string>{"to bob 2"}));
  // §4.1: no match is still a success, complete and empty.
  auto future = query(*alice, form(field("start", "2100-01-01T00:00:00Z")));
  ASSERT_TRUE(isResult(future.reply));
  EXPECT_TRUE(future.ids.empty());
  EXPECT_TRUE(future.complete);
  EXPECT_EQ(future.count, 0);
  auto past = query(*alice, form(field("end", "2000-01-01T00:00:00+02:00")));
  EXPECT_TRUE(past.ids.empty());
  EXPECT_TRUE(past.complete);
}

// XEP-0359: the recipient's copy carries exactly one <stanza-id by='recipient'/>, the one its archive
// uses; a stanza-id the sender forged for the recipient is removed (§7); <origin-id/>, receipts and
// markers pass through untouched; the sender's own copy never reaches the recipient with the sender's id.
TEST_F(MamTest, StanzaIdsMatchTheArchiveAndForgedOnesAreRemoved) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  alice->send(
      "<message to='bob@localhost' type='chat' id='x1'><body>hello</body>"
      "<origin-id xmlns='urn:xmpp:sid:0' id='origin-1'/>"
      "<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='forged-by-alice'/>"
      "<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example' id='kept'/>"
      "<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/></message>");
  auto m = bob->expect(messageWithBody("hello"));
  ASSERT_TRUE(m);
  auto sids = stanzaIds(*m, "bob@localhost");
  ASSERT_EQ(sids.size(), 1u);
  EXPECT_NE(sids[0], "forged-by-alice");
  EXPECT_EQ(stanzaIds(*m, "room@muc.example"), std::vector<std::string>{"kept"});
  EXPECT_TRUE(stanzaIds(*m, "alice@localhost").empty()) << "XEP-0313 §3.4: not the sender's id";
  ASSERT_TRUE(m->child("origin-id", kSid));
  EXPECT_EQ(m->child("origin-id", kSid)->attr("id"), "origin-1");
  EXPECT_TRUE(m->child("request", "urn:xmpp:receipts"));
  EXPECT_TRUE(m->child("markable", "urn:xmpp:chat-markers:0"));

  auto page = query(*bob, "");
  ASSERT_EQ(page.ids.size(), 1u);
  EXPECT_EQ(page.ids[0], sids[0]);
  ASSERT_TRUE(page.messages[0]);
  EXPECT_TRUE(page.messages[0]->child("origin-id", kSid));
  EXPECT_EQ(page.messages[0]->attr("id"), "x1");
  // The archived copy is the one bob received: with the real id, without the forged one.
  EXPECT_EQ(stanzaIds(*page.messages[0], "bob@localhost"), sids) << "forged id stored";

  // The receipt (no body) passes through as it was sent, and is not archived (§6.1.1).
  bob->send("<message to='" + alice->jid() +
            "' id='r1'><received xmlns='urn:xmpp:receipts' id='x1'/></message>");
  auto receipt = alice->expect(isMessage().id("r1"));
  ASSERT_TRUE(receipt);
  EXPECT_TRUE(receipt->child("received", "urn:xmpp:receipts"));
  EXPECT_TRUE(stanzaIds(*receipt, "alice@localhost").empty());
  bob->send(
      "<message to='alice@localhost' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='x1'/>"
      "</message>");
  ASSERT_TRUE(alice->expect(isMessage().child("displayed", "urn:xmpp:chat-markers:0")));
  EXPECT_EQ(query(*alice, "").bodies, std::vector<std::string>{"hello"});
  EXPECT_EQ(query(*bob, "").bodies, std::vector<std::string>{"hello"});
}

// XEP-0313 §6.1.1 and XEP-0334: chat states alone, <no-store/> and <no-permanent-store/> are not
// archived (and get no stanza-id); an OMEMO message without a body is; <store/> keeps anything.
TEST_F(MamTest, WhatIsArchived) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  alice->send(
      "<message to='bob@localhost' type='chat' id='cs'><composing "
      "xmlns='http://jabber.org/protocol/chatstates'/></message>");
  alice->send(
      "<message to='bob@localhost' type='chat' id='ns'><body>secret</body><no-store "
      "xmlns='urn:xmpp:hints'/></message>");
  alice->send(
      "<message to='bob@localhost' type='chat' id='np'><body>ephemeral</body><no-permanent-store "
      "xmlns='urn:xmpp:hints'/></message>");
  alice->send(
      "<message to='bob@localhost' type='chat' id='om'><encrypted xmlns='eu.siacs.conversations.axolotl'>"
      "<header sid='1'><key rid='2'>a2V5</key><iv>aXY=</iv></header><payload>Y2lwaGVy</payload></encrypted>"
      "<encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/></message>");
  alice->send(
      "<message to='bob@localhost' type='chat' id='kt'><encrypted xmlns='eu.siacs.conversations.axolotl'>"
      "<header sid='1'><key rid='2'>a2V5</key><iv>aXY=</iv></header></encrypted></message>");
  alice->send(
      "<message to='bob@localhost' id='st'><x xmlns='jabber:x:oob'><url>https://e.x/f</url></x>"
      "<store xmlns='urn:xmpp:hints'/></message>");
  for (const char* id : {"cs", "ns", "np", "kt"}) {
    auto m = bob->expect(isMessage().id(id));
    ASSERT_TRUE(m) << id;
    EXPECT_TRUE(stanzaIds(*m, "bob@localhost").empty()) << id;
  }
  for (const char* id : {"om", "st"}) {
    auto m = bob->expect(isMessage().id(id));
    ASSERT_TRUE(m) << id;
    EXPECT_EQ(stanzaIds(*m, "bob@localhost").size(), 1u) << id;
  }
  for (auto* c : {alice.get(), bob.get()}) {
    auto page = query(*c, "");
    ASSERT_EQ(page.messages.size(), 2u) << c->jid();
    EXPECT_EQ(page.messages[0]->attr("id"), "om");
    EXPECT_EQ(page.messages[1]->attr("id"), "st");
  }
}

// XEP-0160 with XEP-0313: a message for an account with no available resource is archived and the
// offline copy, delivered later, carries the same stanza-id.
TEST_F(MamTest, OfflineMessageIsArchivedAndCarriesItsStanzaId) {
  auto alice = login("alice", "a");
  sendChat(*alice, "bob@localhost", "while you were out");
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error"), 300ms));
  auto bob = client("bob", "b");
  auto archived = query(*bob, "");  // the query waits for the archive writes before it (same queue)
  ASSERT_EQ(archived.ids.size(), 1u);
  bob->becomeAvailable();
  auto m = bob->expect(messageWithBody("while you were out"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->child("delay", "urn:xmpp:delay"));
  EXPECT_EQ(stanzaIds(*m, "bob@localhost"), std::vector<std::string>{archived.ids[0]});
  EXPECT_EQ(query(*bob, "").ids.size(), 1u) << "archived again when delivered from offline storage";
}

// A message to one's own bare JID is one conversation with oneself: archived once, found with
// 'with' = the account (XEP-0313 §4.1.1).
TEST_F(MamTest, NoteToSelfIsArchivedOnce) {
  auto alice = login("alice", "a");
  sendChat(*alice, "alice@localhost", "note");
  ASSERT_TRUE(alice->expect(messageWithBody("note")));
  sendChat(*alice, "bob@localhost", "not a note");
  auto self = query(*alice, form(field("with", "alice@localhost")));
  EXPECT_EQ(self.bodies, std::vector<std::string>{"note"});
  EXPECT_EQ(query(*alice, "").ids.size(), 2u);
}

// XEP-0441: preferences are stored per account; 'never' contacts are not archived (and their messages
// get no stanza-id), 'always' ones are even when the default is 'never'; outgoing messages match on
// 'to' (§4.1.2), and the preferences survive a restart.
TEST_F(MamTest, PreferencesNeverAndAlways) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  auto carol = login("carol", "c");
  auto defaults = bob->request("<iq type='get' id='p0'><prefs xmlns='urn:xmpp:mam:2'/></iq>", "p0");
  ASSERT_TRUE(isResult(defaults));
  ASSERT_TRUE(defaults->child("prefs", kMam));
  EXPECT_EQ(defaults->child("prefs", kMam)->attr("default"), "always");
  EXPECT_TRUE(defaults->child("prefs", kMam)->child("always", kMam));
  EXPECT_TRUE(defaults->child("prefs", kMam)->child("never", kMam));

  auto set = bob->request(
      "<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:2' "
      "default='never'><always><jid>carol@localhost</jid>"
      "</always><never><jid>alice@localhost</jid></never></prefs></iq>",
      "p1");
  ASSERT_TRUE(isResult(set));
  auto got = bob->request("<iq type='get' id='p2'><prefs xmlns='urn:xmpp:mam:2'/></iq>", "p2");
  ASSERT_TRUE(isResult(got));
  const auto* prefs = got->child("prefs", kMam);
  ASSERT_TRUE(prefs);
  EXPECT_EQ(prefs->attr("default"), "never");
  EXPECT_EQ(prefs->child("always", kMam)->childText("jid", kMam), "carol@localhost");
  EXPECT_EQ(prefs->child("never", kMam)->childText("jid", kMam), "alice@localhost");

  sendChat(*alice, "bob@localhost", "from alice");
  sendChat(*carol, "bob@localhost", "from carol");
  auto fromAlice = bob->expect(messageWithBody("from alice"));
  auto fromCarol = bob->expect(messageWithBody("from carol"));
  ASSERT_TRUE(fromAlice && fromCarol);
  EXPECT_TRUE(stanzaIds(*fromAlice, "bob@localhost").empty());
  EXPECT_EQ(stanzaIds(*fromCarol, "bob@localhost").size(), 1u);
  bob->send("<message to='alice@localhost' type='chat'><body>to alice</body></message>");
  bob->send("<message to='carol@localhost' type='chat'><body>to carol</body></message>");
  ASSERT_TRUE(carol->expect(messageWithBody("to carol")));
  EXPECT_EQ(query(*bob, "").bodies, (std::vector<std::string>{"from carol", "to carol"}));
  // alice's own archive follows her (default) preferences.
  ASSERT_TRUE(alice->expect(messageWithBody("to alice")));
  EXPECT_EQ(query(*alice, "").bodies, (std::vector<std::string>{"from alice", "to alice"}));

  bob.reset();
  ASSERT_EQ(server.stop(), 0);
  server.start();
  auto bob2 = login("bob", "b2");
  auto after = bob2->request("<iq type='get' id='p3'><prefs xmlns='urn:xmpp:mam:2'/></iq>", "p3");
  ASSERT_TRUE(isResult(after));
  EXPECT_EQ(after->child("prefs", kMam)->attr("default"), "never");
  EXPECT_EQ(query(*bob2, "").bodies, (std::vector<std::string>{"from carol", "to carol"}));

  auto bad =
      bob2->request("<iq type='set' id='p4'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>", "p4");
  EXPECT_TRUE(isError(bad, "bad-request"));
}

// XEP-0313 §4.1.3, §4.3.2: an unknown id is item-not-found (also a well-formed id of another account);
// bad forms are refused; §4.1.5 unknown fields are feature-not-implemented; §8 only the account reads
// its archive.
TEST_F(MamTest, Errors) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  sendChat(*alice, "bob@localhost", "one");
  auto m = bob->expect(messageWithBody("one"));
  ASSERT_TRUE(m);
  const std::string bobsId = stanzaIds(*m, "bob@localhost").at(0);

  EXPECT_TRUE(
      isError(query(*bob, rsm("<max>10</max><after>AAAAAAAAAAAAAAAA</after>")).reply, "item-not-found"));
  EXPECT_TRUE(isError(query(*bob, rsm("<before>nonsense</before>")).reply, "item-not-found"));
  EXPECT_TRUE(isError(query(*bob, form(field("after-id", "nope"))).reply, "item-not-found"));
  EXPECT_TRUE(isError(query(*bob, form(field("ids", "nope"))).reply, "item-not-found"));
  EXPECT_TRUE(isError(query(*alice, rsm("<after>" + bobsId + "</after>")).reply, "item-not-found"))
      << "another account's id";
  EXPECT_TRUE(isResult(query(*bob, rsm("<after>" + bobsId + "</after>")).reply));

  EXPECT_TRUE(isError(query(*bob, form(field("start", "yesterday"))).reply, "bad-request"));
  EXPECT_TRUE(isError(
      query(*bob, "<x xmlns='jabber:x:data' type='submit'>" + field("FORM_TYPE", "urn:xmpp:mam:1") + "</x>")
          .reply,
      "bad-request"));
  EXPECT_TRUE(isError(query(*bob, rsm("<max>-1</max>")).reply, "bad-request"));
  EXPECT_TRUE(isError(query(*bob, form(field("with", "@@bad"))).reply, "jid-malformed"));
  EXPECT_TRUE(isError(query(*bob, form(field("{urn:example}search", "x"))).reply, "feature-not-implemented"));
  EXPECT_TRUE(isError(query(*alice, "", "bob@localhost").reply, "forbidden"));
}

// XEP-0313 §4.1.5 form discovery, §5 metadata, §7 disco features on the account, and the server's
// page limit (§4.3.1: larger <max/> values are lowered).
TEST_F(MamTest, FormMetadataDiscoAndPageLimit) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  auto info = alice->request(
      "<iq type='get' id='d1' to='alice@localhost'><query "
      "xmlns='http://jabber.org/protocol/disco#info'/></iq>",
      "d1");
  ASSERT_TRUE(isResult(info));
  std::set<std::string> features;
  for (const auto& f : info->child("query", "http://jabber.org/protocol/disco#info")
                           ->childrenNamed("feature", "http://jabber.org/protocol/disco#info"))
    features.emplace(f->attr("var"));
  EXPECT_TRUE(features.count("urn:xmpp:mam:2"));
  EXPECT_TRUE(features.count("urn:xmpp:mam:2#extended"));
  EXPECT_TRUE(features.count("urn:xmpp:sid:0"));

  auto formReply = alice->request("<iq type='get' id='f1'><query xmlns='urn:xmpp:mam:2'/></iq>", "f1");
  ASSERT_TRUE(isResult(formReply));
  std::set<std::string> vars;
  for (const auto& f :
       formReply->child("query", kMam)->child("x", "jabber:x:data")->childrenNamed("field", "jabber:x:data"))
    vars.emplace(f->attr("var"));
  EXPECT_EQ(vars,
            (std::set<std::string>{"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"}));

  auto empty = alice->request("<iq type='get' id='md0'><metadata xmlns='urn:xmpp:mam:2'/></iq>", "md0");
  ASSERT_TRUE(isResult(empty));
  EXPECT_EQ(empty->child("metadata", kMam)->childCount(), 0u);  // §5: an empty archive

  for (int i = 0; i < 260; ++i) sendChat(*alice, "bob@localhost", "n" + std::to_string(i));
  ASSERT_TRUE(bob->expect(messageWithBody("n259"), 20s));
  auto md = alice->request("<iq type='get' id='md1'><metadata xmlns='urn:xmpp:mam:2'/></iq>", "md1");
  ASSERT_TRUE(isResult(md));
  const auto* start = md->child("metadata", kMam)->child("start", kMam);
  const auto* end = md->child("metadata", kMam)->child("end", kMam);
  ASSERT_TRUE(start && end);
  auto big = query(*alice, rsm("<max>100000</max>"));
  ASSERT_EQ(big.ids.size(), 250u);  // [modules.mam] max_page_size
  EXPECT_FALSE(big.complete);
  EXPECT_EQ(big.ids.front(), start->attr("id"));
  EXPECT_EQ(big.stamps.front(), start->attr("timestamp"));
  auto last = query(*alice, rsm("<max>1</max><before/>"));
  EXPECT_EQ(last.ids.at(0), end->attr("id"));
  auto dflt = query(*alice, "");
  EXPECT_EQ(dflt.ids.size(), 50u);  // default_page_size
}

// Retention ([modules.mam] retention_days): messages older than the limit are deleted by the periodic
// sweep, newer ones stay.
class MamRetentionTest : public ImTest {
 protected:
  MamRetentionTest() : ImTest("[modules.mam]\nretention_days = 1\ncleanup_interval = 1\n") {}
};

TEST_F(MamRetentionTest, OldMessagesAreRemoved) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  sendChat(*alice, "bob@localhost", "recent");
  ASSERT_TRUE(bob->expect(messageWithBody("recent")));
  ASSERT_EQ(query(*bob, "").ids.size(), 1u);  // written (the query waits for the archive writes)
  {
    auto db = storage::openDatabase(server.storageConfig());
    std::vector<xep::mam::ArchiveRow> old;
    for (std::int64_t i = 1; i <= 3; ++i) {
      xep::mam::ArchiveRow r;
      r.id = i;  // 1970: far older than a day
      r.domain = "localhost";
      r.user = "bob";
      r.with = "alice@localhost";
      r.stamp = i;
      r.xml = "<message xmlns='jabber:client'><body>ancient</body></message>";
      old.push_back(r);
    }
    ASSERT_EQ(xep::mam::ArchiveStore(*db).append(old), 3u);
  }
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (archivedRows(server, "bob") != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(query(*bob, "").bodies, std::vector<std::string>{"recent"});
  // Default rsm_count = "first_page": <count/> on the query that starts a scroll, not on later pages.
  auto first = query(*bob, rsm("<max>1</max>"));
  EXPECT_EQ(first.count, 1);
  EXPECT_EQ(first.firstIndex, "0");
  auto next = query(*bob, rsm("<max>1</max><after>" + first.last + "</after>"));
  ASSERT_TRUE(isResult(next.reply));
  EXPECT_EQ(next.count, -1);
  EXPECT_TRUE(next.complete);
}

// `parleyctl user del` removes the account's archive and preferences with it.
TEST_F(MamTest, ArchiveIsDeletedWithTheAccount) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  sendChat(*alice, "bob@localhost", "bye");
  ASSERT_TRUE(bob->expect(messageWithBody("bye")));
  ASSERT_EQ(query(*bob, "").ids.size(), 1u);  // written
  auto [status, out] =
      runProgram({PARLEYCTL_PATH, "--config", server.configPath(), "user", "del", "bob@localhost"});
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(archivedRows(server, "bob"), 0);
  EXPECT_EQ(archivedRows(server, "alice"), 1);
}

}  // namespace
}  // namespace parley::test
