// XEP-0313 on a room's JID ("MUC MAM") through real clients: groupchat messages of a persistent room
// carry the room's XEP-0359 <stanza-id/>, the archive pages like a user archive (RSM after/before/max,
// 'with', 'ids', <fin complete/>), access follows the room (members-only, outcasts) and real JIDs are
// shown only to those who may see them; archiving follows muc#roomconfig_enablearchiving; history on
// entering and the archive survive a restart of parleyd; XEP-0425 moderation with tombstones; the room
// vCard with its XEP-0486 avatar hash.
#include <deque>

#include "integration/muc_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kMam = "urn:xmpp:mam:2";
constexpr const char* kRsm = "http://jabber.org/protocol/rsm";
constexpr const char* kSid = "urn:xmpp:sid:0";
constexpr const char* kForward = "urn:xmpp:forward:0";

struct Page {
  xml::ElementPtr reply;
  std::vector<std::string> ids, bodies, froms;
  std::vector<xml::ElementPtr> messages;
  bool complete = false;
  std::string first, last;
  long count = -1;
};

std::string rsm(const std::string& inner) {
  return "<set xmlns='http://jabber.org/protocol/rsm'>" + inner + "</set>";
}

std::string form(const std::string& fields) {
  return "<x xmlns='jabber:x:data' type='submit'>" + field("FORM_TYPE", kMam) + fields + "</x>";
}

// A query to the room's archive; its results all arrive before the IQ result (XEP-0313 §4.2).
Page query(XmppClient& c, const std::string& room, const std::string& inner) {
  static int seq = 0;
  const std::string id = "mq" + std::to_string(++seq), qid = "mf" + std::to_string(seq);
  Page p;
  p.reply = c.request("<iq type='set' id='" + id + "' to='" + room +
                          "'><query xmlns='urn:xmpp:mam:2' queryid='" + qid + "'>" + inner + "</query></iq>",
                      id, 20s);
  std::deque<xml::ElementPtr> rest;
  for (auto& e : c.inbox()) {
    const auto* result = e && e->name() == "message" ? e->child("result", kMam) : nullptr;
    if (!result || result->attr("queryid") != qid) {
      rest.push_back(std::move(e));
      continue;
    }
    EXPECT_EQ(e->attr("from"), room) << "XEP-0313 §3: results come from the archive's JID";
    p.ids.emplace_back(result->attr("id"));
    const auto* fwd = result->child("forwarded", kForward);
    auto msg = fwd ? fwd->childPtr("message", "jabber:client") : nullptr;
    p.bodies.push_back(msg ? msg->childText("body", "jabber:client") : "");
    p.froms.push_back(msg ? std::string(msg->attr("from")) : "");
    if (msg) {
      EXPECT_FALSE(msg->hasAttr("to")) << "XEP-0313 §5.1.3: no to on forwarded room messages";
    }
    p.messages.push_back(msg);
  }
  c.inbox().swap(rest);
  if (!isResult(p.reply)) return p;
  const auto* fin = p.reply->child("fin", kMam);
  EXPECT_TRUE(fin);
  if (!fin) return p;
  p.complete = fin->attr("complete") == "true";
  if (const auto* set = fin->child("set", kRsm)) {
    p.first = set->childText("first", kRsm);
    p.last = set->childText("last", kRsm);
    if (set->child("count", kRsm)) p.count = std::stol(set->childText("count", kRsm));
  }
  return p;
}

std::string stanzaId(const xml::Element& m, const std::string& by) {
  for (const auto& s : m.childrenNamed("stanza-id", kSid))
    if (s->attr("by") == by) return std::string(s->attr("id"));
  return {};
}

std::string realJid(const xml::ElementPtr& m) {
  const auto* item = m ? mucItem(*m) : nullptr;
  return item ? std::string(item->attr("jid")) : std::string();
}

class MucMamTest : public MucTestBase {
 protected:
  MucMamTest()
      : MucTestBase(
            "[limits]\nstanza_rate = 100000\nstanza_burst = 100000\n[modules.muc]\nmax_vcard_size = 4096\n") {
  }

  // A persistent room owned by `owner` (entered as `nick`), with extra configuration fields.
  void createPersistent(XmppClient& owner, const std::string& room, const std::string& nick,
                        const std::string& fields = {}) {
    auto self = join(owner, room, nick, {}, false);
    ASSERT_TRUE(self);
    ASSERT_TRUE(isResult(configure(owner, room, field("muc#roomconfig_persistentroom", "1") + fields)));
    ASSERT_TRUE(owner.expect(subjectMessage(roomJid(room))));
  }

  // Sends a groupchat message and returns the room's stanza-id as `reader` received it.
  std::string say(XmppClient& from, XmppClient& reader, const std::string& room, const std::string& nick,
                  const std::string& body) {
    from.send("<message to='" + roomJid(room) + "' type='groupchat'><body>" + body + "</body></message>");
    auto m = reader.expect(isMessage().from(roomJid(room) + "/" + nick).body(body), 10s);
    EXPECT_TRUE(m) << body;
    return m ? stanzaId(*m, roomJid(room)) : std::string();
  }
};

// XEP-0313 §3.4/§5.1.3 with XEP-0059: each message carries the room's id; the archive pages forwards
// and backwards without gaps or duplicates, 'complete' only on the last page; 'with' an occupant JID;
// 'ids'; an unknown id is <item-not-found/> (§4.3.2). disco#info advertises the archive.
TEST_F(MucMamTest, ArchivePagesLikeAUserArchive) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createPersistent(*alice, "log", "Alice");
  join(*bob, "log", "Bob");
  EXPECT_TRUE(has(roomFeatures(*bob, "log"), kMam));
  EXPECT_TRUE(has(roomFeatures(*bob, "log"), kSid));

  constexpr int kN = 120;
  std::vector<std::string> delivered;
  for (int i = 0; i < kN; ++i) {
    auto& sender = i % 3 == 0 ? *bob : *alice;
    const std::string nick = i % 3 == 0 ? "Bob" : "Alice";
    const std::string id = say(sender, *bob, "log", nick, "m" + std::to_string(i));
    ASSERT_FALSE(id.empty()) << "message " << i << " has no <stanza-id by='room'/>";
    delivered.push_back(id);
  }
  // A chat state alone is not archived.
  alice->send(
      "<message to='log@muc.localhost' type='groupchat'><active "
      "xmlns='http://jabber.org/protocol/chatstates'/></message>");

  std::vector<std::string> forward;
  std::string after;
  for (int page = 0;; ++page) {
    ASSERT_LT(page, 4);
    auto p = query(*bob, roomJid("log"),
                   rsm("<max>50</max>" + (after.empty() ? "" : "<after>" + after + "</after>")));
    ASSERT_TRUE(isResult(p.reply));
    if (page == 0) {
      EXPECT_EQ(p.count, kN);
    }
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      EXPECT_EQ(p.bodies[i], "m" + std::to_string(forward.size()));
      forward.push_back(p.ids[i]);
    }
    EXPECT_EQ(p.first, p.ids.front());
    EXPECT_EQ(p.last, p.ids.back());
    after = p.last;
    EXPECT_EQ(p.complete, forward.size() == static_cast<std::size_t>(kN)) << "page " << page;
    if (p.complete) break;
  }
  EXPECT_EQ(forward, delivered);

  std::vector<std::string> backward;
  std::string before;
  for (int page = 0;; ++page) {
    ASSERT_LT(page, 4);
    auto p = query(*alice, roomJid("log"), rsm("<max>50</max><before>" + before + "</before>"));
    ASSERT_TRUE(isResult(p.reply));
    backward.insert(backward.begin(), p.ids.begin(), p.ids.end());
    before = p.first;
    if (p.complete) break;
  }
  EXPECT_EQ(backward, delivered);

  // 'with' an occupant JID: Bob's messages only (every third).
  auto bobs =
      query(*alice, roomJid("log"), form(field("with", roomJid("log") + "/Bob")) + rsm("<max>100</max>"));
  ASSERT_TRUE(isResult(bobs.reply));
  EXPECT_EQ(bobs.ids.size(), static_cast<std::size_t>(kN / 3));
  for (const auto& f : bobs.froms) EXPECT_EQ(f, roomJid("log") + "/Bob");
  auto picked = query(*bob, roomJid("log"),
                      form("<field var='ids'><value>" + delivered[7] + "</value><value>" + delivered[3] +
                           "</value></field>"));
  EXPECT_EQ(picked.bodies, (std::vector<std::string>{"m3", "m7"}));
  auto unknown = query(*bob, roomJid("log"), rsm("<after>not-an-id</after>"));
  EXPECT_TRUE(isError(unknown.reply, "item-not-found"));
  // A mangled id is unknown too.
  auto own = query(*bob, roomJid("log"), rsm("<after>" + delivered[0] + "x</after>"));
  EXPECT_TRUE(isError(own.reply, "item-not-found"));
}

// §5.1.3: a members-only room's archive is for members (and above); outcasts never; in a semi-anonymous
// room the real JID of senders is only shown to owners, admins and moderators, and 'with' a real JID is
// refused to others.
TEST_F(MucMamTest, AccessFollowsTheRoomAndHidesRealJids) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto carol = user("carol", "c");
  createPersistent(*alice, "club", "Alice", field("muc#roomconfig_membersonly", "1"));
  ASSERT_TRUE(isResult(admin(*alice, "club", "<item affiliation='member' jid='bob@localhost'/>")));
  join(*bob, "club", "Bob");
  say(*alice, *bob, "club", "Alice", "from alice");
  say(*bob, *bob, "club", "Bob", "from bob");

  auto byOwner = query(*alice, roomJid("club"), "");
  ASSERT_TRUE(isResult(byOwner.reply));
  ASSERT_EQ(byOwner.bodies, (std::vector<std::string>{"from alice", "from bob"}));
  EXPECT_EQ(realJid(byOwner.messages[0]), alice->jid());
  EXPECT_EQ(realJid(byOwner.messages[1]), bob->jid());

  auto byMember = query(*bob, roomJid("club"), "");
  ASSERT_TRUE(isResult(byMember.reply));
  ASSERT_EQ(byMember.bodies.size(), 2u);
  for (const auto& m : byMember.messages) EXPECT_EQ(realJid(m), "") << "semi-anonymous: no real JID for Bob";
  EXPECT_TRUE(
      isError(query(*bob, roomJid("club"), form(field("with", "alice@localhost"))).reply, "forbidden"));
  auto withAlice = query(*alice, roomJid("club"), form(field("with", "bob@localhost")));
  EXPECT_EQ(withAlice.bodies, (std::vector<std::string>{"from bob"}));

  EXPECT_TRUE(isError(query(*carol, roomJid("club"), "").reply, "forbidden")) << "not a member";

  // An open room: anyone but outcasts, who get <forbidden/>.
  createPersistent(*alice, "square", "Alice", field("muc#roomconfig_whois", "anyone"));
  say(*alice, *alice, "square", "Alice", "public words");
  auto byStranger = query(*carol, roomJid("square"), "");
  ASSERT_EQ(byStranger.bodies, (std::vector<std::string>{"public words"}));
  EXPECT_EQ(realJid(byStranger.messages[0]), alice->jid()) << "non-anonymous: real JIDs for everyone";
  ASSERT_TRUE(isResult(admin(*alice, "square", "<item affiliation='outcast' jid='carol@localhost'/>")));
  EXPECT_TRUE(isError(query(*carol, roomJid("square"), "").reply, "forbidden"));
}

// muc#roomconfig_enablearchiving: off, nothing is archived or advertised and queries are refused;
// temporary rooms keep no archive (and no stanza-id); a client's own <stanza-id by='room'/> is removed.
TEST_F(MucMamTest, ArchivingFollowsTheConfiguration) {
  auto alice = user("alice", "a");
  createPersistent(*alice, "quiet", "Alice", field("muc#roomconfig_enablearchiving", "0"));
  EXPECT_FALSE(has(roomFeatures(*alice, "quiet"), kMam));
  alice->send("<message to='quiet@muc.localhost' type='groupchat'><body>hush</body></message>");
  auto m = alice->expect(isMessage().from("quiet@muc.localhost/Alice").body("hush"));
  ASSERT_TRUE(m);
  EXPECT_EQ(stanzaId(*m, "quiet@muc.localhost"), "");
  EXPECT_TRUE(isError(query(*alice, roomJid("quiet"), "").reply, "service-unavailable"));

  createInstant(*alice, "fleeting", "Alice");
  EXPECT_FALSE(has(roomFeatures(*alice, "fleeting"), kMam));

  createPersistent(*alice, "kept", "Alice");
  alice->send("<message to='kept@muc.localhost' type='groupchat'><body>mine</body><stanza-id xmlns='" +
              std::string(kSid) + "' by='kept@muc.localhost' id='forged'/></message>");
  auto stamped = alice->expect(isMessage().from("kept@muc.localhost/Alice").body("mine"));
  ASSERT_TRUE(stamped);
  std::vector<std::string> ids;
  for (const auto& s : stamped->childrenNamed("stanza-id", kSid)) ids.emplace_back(s->attr("id"));
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_NE(ids[0], "forged");
  // Turning archiving off later hides the archive.
  ASSERT_TRUE(isResult(configure(*alice, "kept", field("muc#roomconfig_enablearchiving", "0"))));
  EXPECT_FALSE(has(roomFeatures(*alice, "kept"), kMam));
}

// The archive and the history on entering come from storage after a restart (§7.2.14 with XEP-0313):
// newcomers get the last messages with <delay/> and the same stanza-ids, queries return the same ids,
// and new messages continue after them.
TEST_F(MucMamTest, HistoryAndArchiveSurviveRestart) {
  std::vector<std::string> before;
  {
    auto alice = user("alice", "a");
    createPersistent(*alice, "saga", "Alice", field("muc#maxhistoryfetch", "3"));
    for (int i = 0; i < 5; ++i)
      before.push_back(say(*alice, *alice, "saga", "Alice", "old" + std::to_string(i)));
  }
  ASSERT_EQ(server.stop(), 0);
  server.start();

  auto bob = user("bob", "b");
  join(*bob, "saga", "Bob", {}, false);
  for (int i = 2; i < 5; ++i) {
    auto m = bob->expect(isMessage().from("saga@muc.localhost/Alice").type("groupchat"));
    ASSERT_TRUE(m) << "history message " << i;
    EXPECT_EQ(m->childText("body", "jabber:client"), "old" + std::to_string(i));
    EXPECT_TRUE(m->child("delay", "urn:xmpp:delay"));
    EXPECT_EQ(stanzaId(*m, "saga@muc.localhost"), before[i]);
  }
  EXPECT_TRUE(bob->expect(subjectMessage("saga@muc.localhost")));

  auto all = query(*bob, roomJid("saga"), "");
  ASSERT_TRUE(isResult(all.reply));
  EXPECT_EQ(all.ids, before);
  const std::string fresh = say(*bob, *bob, "saga", "Bob", "new");
  auto after = query(*bob, roomJid("saga"), rsm("<after>" + before.back() + "</after>"));
  EXPECT_EQ(after.ids, (std::vector<std::string>{fresh}));
  EXPECT_TRUE(after.complete);
}

// XEP-0425: a moderator retracts an archived message by its stanza-id; every occupant gets the XEP-0424
// retraction from the room itself; the archive keeps a tombstone (no body, <retracted/> with
// <moderated/>) and the retraction after it; newcomers' history shows the tombstone. A participant gets
// <forbidden/>, an unknown id <item-not-found/>; disco#info advertises the feature.
TEST_F(MucMamTest, ModeratorRetractsAMessage) {
  constexpr const char* kModerate = "urn:xmpp:message-moderate:1";
  constexpr const char* kRetract = "urn:xmpp:message-retract:1";
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto carol = user("carol", "c");
  createPersistent(*alice, "mod", "Alice");
  join(*bob, "mod", "Bob");
  join(*carol, "mod", "Carol");
  EXPECT_TRUE(has(roomFeatures(*bob, "mod"), kModerate));
  const std::string spam = say(*bob, *carol, "mod", "Bob", "buy potions");
  ASSERT_TRUE(alice->expect(isMessage().body("buy potions")));
  ASSERT_TRUE(bob->expect(isMessage().body("buy potions")));
  const std::string kept = say(*carol, *carol, "mod", "Carol", "hello");
  auto moderate = [](const std::string& id, const std::string& iq) {
    return "<iq type='set' id='" + iq +
           "' to='mod@muc.localhost'><moderate xmlns='urn:xmpp:message-moderate:1' id='" + id +
           "'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>";
  };
  EXPECT_TRUE(isError(carol->request(moderate(spam, "m1"), "m1"), "forbidden")) << "participants may not";
  EXPECT_TRUE(isError(alice->request(moderate("no-such-id", "m2"), "m2"), "item-not-found"));
  ASSERT_TRUE(isResult(alice->request(moderate(spam, "m3"), "m3")));

  std::string announcementId;
  for (auto* c : {alice.get(), bob.get(), carol.get()}) {
    auto r = c->expect(isMessage().from("mod@muc.localhost").type("groupchat").child("retract", kRetract));
    ASSERT_TRUE(r) << c->jid() << " got no retraction";
    const auto* retract = r->child("retract", kRetract);
    EXPECT_EQ(retract->attr("id"), spam);
    const auto* moderated = retract->child("moderated", kModerate);
    ASSERT_TRUE(moderated);
    EXPECT_EQ(moderated->attr("by"), "mod@muc.localhost/Alice");
    EXPECT_TRUE(moderated->child("occupant-id", "urn:xmpp:occupant-id:0"));
    EXPECT_EQ(retract->childText("reason", kRetract), "spam");
    EXPECT_FALSE(stanzaId(*r, "mod@muc.localhost").empty()) << "XEP-0424 §5: the retraction is archived";
    announcementId = std::string(r->attr("id"));
  }

  auto all = query(*bob, roomJid("mod"), "");
  ASSERT_TRUE(isResult(all.reply));
  ASSERT_EQ(all.ids.size(), 3u) << "the tombstone, the other message and the retraction";
  EXPECT_EQ(all.ids[0], spam);
  EXPECT_EQ(all.bodies[0], "") << "the tombstone has no body";
  const auto* retracted = all.messages[0]->child("retracted", kRetract);
  ASSERT_TRUE(retracted);
  EXPECT_EQ(retracted->attr("id"), announcementId);
  EXPECT_TRUE(retracted->hasAttr("stamp"));
  EXPECT_TRUE(retracted->child("moderated", kModerate));
  EXPECT_EQ(all.froms[0], "mod@muc.localhost/Bob");
  EXPECT_EQ(all.ids[1], kept);
  EXPECT_EQ(all.bodies[1], "hello");
  EXPECT_TRUE(all.messages[2]->child("retract", kRetract));
  // Again: nothing new happens, still a success.
  EXPECT_TRUE(isResult(alice->request(moderate(spam, "m4"), "m4")));

  // A newcomer's history holds the tombstone, not the text.
  carol->send("<presence to='mod@muc.localhost/Carol' type='unavailable'/>");
  ASSERT_TRUE(carol->expect(unavailableFrom("mod@muc.localhost/Carol")));
  carol->inbox().clear();
  join(*carol, "mod", "Carol", {}, false);
  auto first = carol->expect(isMessage().from("mod@muc.localhost/Bob"));
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->child("retracted", kRetract));
  EXPECT_EQ(first->childText("body", "jabber:client"), "");
}

// Room vCard-temp and XEP-0486 avatars: anyone may read a room's vCard, only owners set it (others get
// <forbidden/>), within max_vcard_size; the SHA-1 of the PHOTO's data appears as
// muc#roominfo_avatarhash in disco#info (and only while there is one), occupants get status 104, and the
// vCard and hash survive a restart. A hidden members-only room's vCard is for its members.
TEST_F(MucMamTest, RoomVcardAndAvatarHash) {
  auto avatarHashes = [](XmppClient& c, const std::string& room) {
    std::vector<std::string> out;
    auto info = c.request(
        "<iq type='get' id='vi' to='" + roomJid(room) + "'><query xmlns='" + kDiscoInfo + "'/></iq>", "vi");
    if (!isResult(info)) return out;
    const auto* x = info->child("query", kDiscoInfo)->child("x", kForms);
    if (!x) return out;
    for (const auto& f : x->childrenNamed("field", kForms))
      if (f->attr("var") == "muc#roominfo_avatarhash")
        for (const auto& v : f->childrenNamed("value", kForms)) out.push_back(v->text());
    return out;
  };
  auto getVcard = [](XmppClient& c, const std::string& room) {
    return c.request("<iq type='get' id='vg' to='" + roomJid(room) + "'><vCard xmlns='vcard-temp'/></iq>",
                     "vg");
  };
  auto setVcard = [](XmppClient& c, const std::string& room, const std::string& inner) {
    return c.request("<iq type='set' id='vs' to='" + roomJid(room) + "'><vCard xmlns='vcard-temp'>" + inner +
                         "</vCard></iq>",
                     "vs");
  };
  // SHA-1("abc"); "YWJj" is "abc" in base64.
  const std::string photo =
      "<PHOTO><TYPE>image/png</TYPE><BINVAL>YW\nJj</BINVAL></PHOTO><DESC>Our room</DESC>";
  const std::string hash = "a9993e364706816aba3e25717850c26c9cd0d89d";
  {
    auto alice = user("alice", "a");
    auto bob = user("bob", "b");
    createPersistent(*alice, "pics", "Alice");
    join(*bob, "pics", "Bob");
    EXPECT_TRUE(has(roomFeatures(*bob, "pics"), "vcard-temp"));
    auto service = bob->request(
        "<iq type='get' id='sv' to='muc.localhost'><query xmlns='" + std::string(kDiscoInfo) + "'/></iq>",
        "sv");
    ASSERT_TRUE(isResult(service));
    bool serviceHasVcard = false;
    for (const auto& f : service->child("query", kDiscoInfo)->childrenNamed("feature", kDiscoInfo))
      serviceHasVcard |= f->attr("var") == "vcard-temp";
    EXPECT_TRUE(serviceHasVcard) << "XEP-0486 §3.1: the service advertises vcard-temp";
    EXPECT_TRUE(avatarHashes(*bob, "pics").empty());
    auto empty = getVcard(*bob, "pics");
    ASSERT_TRUE(isResult(empty));
    ASSERT_TRUE(empty->child("vCard", "vcard-temp"));
    EXPECT_EQ(empty->child("vCard", "vcard-temp")->firstChild(), nullptr);

    EXPECT_TRUE(isError(setVcard(*bob, "pics", photo), "forbidden")) << "only owners";
    EXPECT_TRUE(
        isError(setVcard(*alice, "pics", "<DESC>" + std::string(5000, 'x') + "</DESC>"), "not-acceptable"));
    EXPECT_TRUE(isError(setVcard(*alice, "pics", "<PHOTO><BINVAL>%%%</BINVAL></PHOTO>"), "bad-request"));
    ASSERT_TRUE(isResult(setVcard(*alice, "pics", photo)));
    auto notice =
        bob->expect(isMessage().from("pics@muc.localhost").type("groupchat").where([](const xml::Element& e) {
          return hasStatus(e, 104);
        }));
    EXPECT_TRUE(notice) << "XEP-0486 §3.2: occupants are told";
    EXPECT_EQ(avatarHashes(*bob, "pics"), (std::vector<std::string>{hash}));
  }
  ASSERT_EQ(server.stop(), 0);
  server.start();

  auto carol = user("carol", "c");
  EXPECT_EQ(avatarHashes(*carol, "pics"), (std::vector<std::string>{hash}));
  auto v = getVcard(*carol, "pics");
  ASSERT_TRUE(isResult(v));
  const auto* card = v->child("vCard", "vcard-temp");
  ASSERT_TRUE(card);
  EXPECT_EQ(card->childText("DESC", "vcard-temp"), "Our room");
  ASSERT_TRUE(card->child("PHOTO", "vcard-temp"));

  auto alice = user("alice", "a");
  ASSERT_TRUE(isResult(setVcard(*alice, "pics", "")));
  EXPECT_TRUE(avatarHashes(*carol, "pics").empty()) << "XEP-0486 §5: no hash without an avatar";

  createPersistent(*alice, "secret", "Alice",
                   field("muc#roomconfig_membersonly", "1") + field("muc#roomconfig_publicroom", "0"));
  EXPECT_TRUE(isError(getVcard(*carol, "secret"), "forbidden"));
  EXPECT_TRUE(isResult(getVcard(*alice, "secret")));
}

}  // namespace
}  // namespace parley::test
