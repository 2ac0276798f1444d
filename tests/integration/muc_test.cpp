// XEP-0045 multi-user chat through real clients: the service on muc.localhost, room creation (instant
// and reserved), entering with the status codes, history, fan-out, nick changes, private messages,
// subject, the access controls (members-only, password, bans, kicks, affiliations) with the errors the
// XEP names, destruction, several devices under one nick, and persistent rooms across a restart.
#include <map>

#include "integration/muc_helpers.h"

namespace parley::test {
namespace {

class MucTest : public MucTestBase {};

// XEP-0045 §6.1–§6.3: the service is listed among the server's items, says it is a text conference
// service, and lists public rooms (not hidden ones, not locked ones).
TEST_F(MucTest, ServiceDiscoveryListsServiceAndPublicRooms) {
  auto alice = user("alice", "a");
  auto items = alice->request(
      "<iq type='get' id='i1' to='localhost'><query xmlns='" + std::string(kDiscoItems) + "'/></iq>", "i1");
  ASSERT_TRUE(isResult(items));
  bool listed = false;
  for (const auto& i : items->child("query", kDiscoItems)->childrenNamed("item", kDiscoItems))
    listed |= i->attr("jid") == kService;
  EXPECT_TRUE(listed);

  auto info = alice->request(
      "<iq type='get' id='i2' to='muc.localhost'><query xmlns='" + std::string(kDiscoInfo) + "'/></iq>",
      "i2");
  ASSERT_TRUE(isResult(info));
  const auto* q = info->child("query", kDiscoInfo);
  const auto* identity = q->child("identity", kDiscoInfo);
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->attr("category"), "conference");
  EXPECT_EQ(identity->attr("type"), "text");
  bool muc = false;
  for (const auto& f : q->childrenNamed("feature", kDiscoInfo)) muc |= f->attr("var") == kMuc;
  EXPECT_TRUE(muc);

  createInstant(*alice, "lobby", "Alice");
  join(*alice, "hidden", "Alice", {}, false);  // created, still locked: not listed
  ASSERT_TRUE(isResult(configure(*alice, "hidden", field("muc#roomconfig_publicroom", "0"))));
  createInstant(*alice, "open-one", "Alice");
  auto list = alice->request(
      "<iq type='get' id='i3' to='muc.localhost'><query xmlns='" + std::string(kDiscoItems) + "'/></iq>",
      "i3");
  ASSERT_TRUE(isResult(list));
  std::vector<std::string> jids;
  for (const auto& i : list->child("query", kDiscoItems)->childrenNamed("item", kDiscoItems))
    jids.emplace_back(i->attr("jid"));
  EXPECT_TRUE(has(jids, roomJid("lobby")));
  EXPECT_TRUE(has(jids, roomJid("open-one")));
  EXPECT_FALSE(has(jids, roomJid("hidden")));
}

// §10.1.1–§10.1.2: the first presence creates the room (201), locked until the owner accepts the
// default configuration; meanwhile others get <item-not-found/> (§7.2.11). Then entering works with
// the presence order of §7.2.2 and self-presence 110.
TEST_F(MucTest, InstantRoomIsLockedUntilConfigured) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto self = join(*alice, "tea", "Alice", {}, false);
  ASSERT_TRUE(self);
  EXPECT_TRUE(hasStatus(*self, 201));
  const auto* item = mucItem(*self);
  ASSERT_TRUE(item);
  EXPECT_EQ(item->attr("affiliation"), "owner");
  EXPECT_EQ(item->attr("role"), "moderator");
  EXPECT_EQ(self->attr("id"), "join");

  EXPECT_TRUE(joinRefused(*bob, "tea", "Bob", "item-not-found"));

  auto r =
      alice->request("<iq type='set' id='inst' to='tea@muc.localhost'><query xmlns='" +
                         std::string(kMucOwner) + "'><x xmlns='" + kForms + "' type='submit'/></query></iq>",
                     "inst");
  ASSERT_TRUE(isResult(r));
  ASSERT_TRUE(alice->expect(subjectMessage("tea@muc.localhost")));

  bob->send("<presence to='tea@muc.localhost/Bob'><x xmlns='" + std::string(kMuc) + "'/></presence>");
  auto aliceSeen = bob->expect(availableFrom("tea@muc.localhost/Alice"));
  ASSERT_TRUE(aliceSeen);
  // Semi-anonymous by default: participants do not see real JIDs (§7.2.4).
  EXPECT_FALSE(mucItem(*aliceSeen)->hasAttr("jid"));
  auto bobSelf = bob->expect(presenceWithStatus("tea@muc.localhost/Bob", 110));
  ASSERT_TRUE(bobSelf);
  EXPECT_EQ(mucItem(*bobSelf)->attr("role"), "participant");
  EXPECT_FALSE(hasStatus(*bobSelf, 201));
  EXPECT_TRUE(bob->expect(subjectMessage("tea@muc.localhost")));
  // The owner is a moderator: it sees Bob's real JID.
  auto bobSeen = alice->expect(availableFrom("tea@muc.localhost/Bob"));
  ASSERT_TRUE(bobSeen);
  EXPECT_EQ(mucItem(*bobSeen)->attr("jid"), bob->jid());
  EXPECT_FALSE(hasStatus(*bobSeen, 110));
}

// §10.1.3: a reserved room is configured through the muc#roomconfig form before it opens; disco#info
// then reflects the configuration (§6.4). Non-owners may not read the form.
TEST_F(MucTest, ReservedRoomConfiguredThroughForm) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  join(*alice, "design", "Alice", {}, false);
  auto form = alice->request(
      "<iq type='get' id='f' to='design@muc.localhost'><query xmlns='" + std::string(kMucOwner) + "'/></iq>",
      "f");
  ASSERT_TRUE(isResult(form));
  const auto* x = form->child("query", kMucOwner)->child("x", kForms);
  ASSERT_TRUE(x);
  std::vector<std::string> vars;
  for (const auto& f : x->childrenNamed("field", kForms)) vars.emplace_back(f->attr("var"));
  for (const char* v :
       {"muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_persistentroom",
        "muc#roomconfig_publicroom", "muc#roomconfig_membersonly", "muc#roomconfig_moderatedroom",
        "muc#roomconfig_passwordprotectedroom", "muc#roomconfig_roomsecret", "muc#roomconfig_maxusers",
        "muc#roomconfig_whois", "muc#maxhistoryfetch", "muc#roomconfig_allowinvites",
        "muc#roomconfig_allowpm", "muc#roomconfig_changesubject"})
    EXPECT_TRUE(has(vars, v)) << v;

  auto r =
      configure(*alice, "design",
                field("muc#roomconfig_roomname", "Design Team") + field("muc#roomconfig_roomdesc", "Pixels") +
                    field("muc#roomconfig_moderatedroom", "1") + field("muc#roomconfig_whois", "anyone") +
                    field("muc#roomconfig_publicroom", "0"));
  ASSERT_TRUE(isResult(r));
  EXPECT_TRUE(alice->expect(subjectMessage("design@muc.localhost")));

  auto features = roomFeatures(*bob, "design");
  for (const char* f : {kMuc, "muc_moderated", "muc_nonanonymous", "muc_hidden", "muc_temporary", "muc_open",
                        "muc_unsecured"})
    EXPECT_TRUE(has(features, f)) << f;
  auto info = bob->request("<iq type='get' id='ri' to='design@muc.localhost'><query xmlns='" +
                               std::string(kDiscoInfo) + "'/></iq>",
                           "ri");
  ASSERT_TRUE(isResult(info));
  EXPECT_EQ(info->child("query", kDiscoInfo)->child("identity", kDiscoInfo)->attr("name"), "Design Team");
  std::map<std::string, std::string> roominfo;
  for (const auto& f : info->child("query", kDiscoInfo)->child("x", kForms)->childrenNamed("field", kForms))
    roominfo[std::string(f->attr("var"))] = f->childText("value", kForms);
  EXPECT_EQ(roominfo["muc#roominfo_occupants"], "1");
  EXPECT_EQ(roominfo["muc#roominfo_description"], "Pixels");

  // Non-anonymous: 100 in self-presence (§7.2.3); moderated: a newcomer is a visitor (§5.1.2).
  auto self = join(*bob, "design", "Bob");
  ASSERT_TRUE(self);
  EXPECT_TRUE(hasStatus(*self, 100));
  EXPECT_EQ(mucItem(*self)->attr("role"), "visitor");
  // §10.2: only owners configure.
  auto denied = bob->request(
      "<iq type='get' id='f2' to='design@muc.localhost'><query xmlns='" + std::string(kMucOwner) + "'/></iq>",
      "f2");
  EXPECT_TRUE(isError(denied, "forbidden"));
  // §7.4: a visitor has no voice.
  bob->send("<message to='design@muc.localhost' type='groupchat' id='v1'><body>hello?</body></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().from("design@muc.localhost"), "forbidden")));
}

// Bad forms are refused and change nothing.
TEST_F(MucTest, BadConfigurationFormsAreRefused) {
  auto alice = user("alice", "a");
  createInstant(*alice, "forms", "Alice");
  EXPECT_TRUE(
      isError(configure(*alice, "forms", field("muc#roomconfig_maxusers", "many")), "not-acceptable"));
  EXPECT_TRUE(
      isError(configure(*alice, "forms", field("muc#roomconfig_whois", "everybody")), "not-acceptable"));
  EXPECT_TRUE(
      isError(configure(*alice, "forms", field("muc#roomconfig_persistentroom", "maybe")), "not-acceptable"));
  EXPECT_TRUE(isError(configure(*alice, "forms", field("muc#roomconfig_passwordprotectedroom", "1")),
                      "not-acceptable"))
      << "password protection without a password";
  auto wrongType = alice->request("<iq type='set' id='wt' to='forms@muc.localhost'><query xmlns='" +
                                      std::string(kMucOwner) + "'><x xmlns='" + kForms + "' type='submit'>" +
                                      field("FORM_TYPE", "urn:example:other") + "</x></query></iq>",
                                  "wt");
  EXPECT_TRUE(isError(wrongType, "not-acceptable"));
  auto notSubmit =
      alice->request("<iq type='set' id='ns' to='forms@muc.localhost'><query xmlns='" +
                         std::string(kMucOwner) + "'><x xmlns='" + kForms + "' type='form'/></query></iq>",
                     "ns");
  EXPECT_TRUE(isError(notSubmit, "bad-request"));
  auto empty = alice->request(
      "<iq type='set' id='em' to='forms@muc.localhost'><query xmlns='" + std::string(kMucOwner) + "'/></iq>",
      "em");
  EXPECT_TRUE(isError(empty, "bad-request"));
  EXPECT_TRUE(has(roomFeatures(*alice, "forms"), "muc_unsecured"));
}

// §7.2.14: history on entering, with <delay/> from the room, limited by maxstanzas, maxchars, seconds
// and since; the subject comes after the history (§7.2.15).
TEST_F(MucTest, HistoryOnJoinHonoursLimits) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto carol = user("carol", "c");
  createInstant(*alice, "hist", "Alice");
  for (int i = 1; i <= 3; ++i) {
    alice->send("<message to='hist@muc.localhost' type='groupchat'><body>m" + std::to_string(i) +
                "</body></message>");
    ASSERT_TRUE(alice->expect(isMessage().from("hist@muc.localhost/Alice").body("m" + std::to_string(i))));
  }
  join(*bob, "hist", "Bob", "<history maxstanzas='2'/>", false);
  for (const char* body : {"m2", "m3"}) {
    auto m = bob->expect(isMessage().from("hist@muc.localhost/Alice").type("groupchat"));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->childText("body", "jabber:client"), body);
    const auto* delay = m->child("delay", "urn:xmpp:delay");
    ASSERT_TRUE(delay);
    EXPECT_EQ(delay->attr("from"), "hist@muc.localhost");
  }
  EXPECT_TRUE(bob->expect(subjectMessage("hist@muc.localhost")));
  EXPECT_TRUE(bob->inbox().empty() || bob->expectNothing(isMessage().body("m1"), 200ms));

  join(*carol, "hist", "Carol", "<history maxchars='0'/>", true);
  EXPECT_TRUE(carol->expectNothing(isMessage().from("hist@muc.localhost/Alice"), 300ms));
  carol->send("<presence to='hist@muc.localhost/Carol' type='unavailable'/>");
  ASSERT_TRUE(carol->expect(unavailableFrom("hist@muc.localhost/Carol")));
  join(*carol, "hist", "Carol", "<history since='2999-01-01T00:00:00Z'/>", true);
  EXPECT_TRUE(carol->expectNothing(isMessage().from("hist@muc.localhost/Alice"), 300ms));
  carol->send("<presence to='hist@muc.localhost/Carol' type='unavailable'/>");
  ASSERT_TRUE(carol->expect(unavailableFrom("hist@muc.localhost/Carol")));
  join(*carol, "hist", "Carol", "<history seconds='3600'/>", false);
  int got = 0;
  while (auto m = carol->expect(isMessage().from("hist@muc.localhost/Alice"), 1s)) ++got;
  EXPECT_EQ(got, 3);
}

// §7.4: a groupchat message goes to every occupant (the sender too), from the sender's occupant JID;
// a non-occupant gets <not-acceptable/>.
TEST_F(MucTest, GroupchatFansOutToEveryOccupant) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto carol = user("carol", "c");
  createInstant(*alice, "fan", "Alice");
  join(*bob, "fan", "Bob");
  join(*carol, "fan", "Carol");
  bob->send("<message to='fan@muc.localhost' type='groupchat' id='g1'><body>hi all</body></message>");
  for (auto* c : {alice.get(), bob.get(), carol.get()}) {
    auto m = c->expect(isMessage().from("fan@muc.localhost/Bob").type("groupchat").body("hi all"));
    ASSERT_TRUE(m) << c->jid();
    EXPECT_EQ(m->attr("to"), c->jid());
    EXPECT_EQ(m->attr("id"), "g1");
    // XEP-0421: the room says who sent it with an opaque id (the same for every recipient).
    const auto* oid = m->child("occupant-id", "urn:xmpp:occupant-id:0");
    ASSERT_TRUE(oid);
    EXPECT_FALSE(oid->attr("id").empty());
  }
  // A client cannot claim another occupant's id: the room replaces it.
  carol->send(
      "<message to='fan@muc.localhost' type='groupchat'><body>spoof</body>"
      "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='fake'/></message>");
  auto spoof = alice->expect(isMessage().from("fan@muc.localhost/Carol").body("spoof"));
  ASSERT_TRUE(spoof);
  EXPECT_EQ(spoof->childrenNamed("occupant-id", "urn:xmpp:occupant-id:0").size(), 1u);
  EXPECT_NE(spoof->child("occupant-id", "urn:xmpp:occupant-id:0")->attr("id"), "fake");
  auto outsider = user("carol", "outside");
  outsider->send("<message to='fan@muc.localhost' type='groupchat' id='g2'><body>let me in</body></message>");
  EXPECT_TRUE(outsider->expect(errorWith(isMessage().from("fan@muc.localhost"), "not-acceptable")));
  EXPECT_TRUE(alice->expectNothing(isMessage().body("let me in")));
}

// §7.6: a nick change is unavailable from the old nick with 303 and the new nick, then available from
// the new one; a taken nick gives <conflict/> (§7.2.9 when entering too).
TEST_F(MucTest, NickChangeAndConflicts) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createInstant(*alice, "nicks", "Alice");
  join(*bob, "nicks", "Bob");
  ASSERT_TRUE(alice->expect(availableFrom("nicks@muc.localhost/Bob")));

  auto carol = user("carol", "c");
  EXPECT_TRUE(joinRefused(*carol, "nicks", "Bob", "conflict"));

  bob->send("<presence to='nicks@muc.localhost/Alice'/>");
  EXPECT_TRUE(bob->expect(errorWith(isPresence().from("nicks@muc.localhost/Alice"), "conflict")));

  bob->send("<presence to='nicks@muc.localhost/Robert'/>");
  auto gone = alice->expect(presenceWithStatus("nicks@muc.localhost/Bob", 303));
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->attr("type"), "unavailable");
  EXPECT_EQ(mucItem(*gone)->attr("nick"), "Robert");
  EXPECT_TRUE(alice->expect(availableFrom("nicks@muc.localhost/Robert")));
  auto selfGone = bob->expect(presenceWithStatus("nicks@muc.localhost/Bob", 303));
  ASSERT_TRUE(selfGone);
  EXPECT_TRUE(hasStatus(*selfGone, 110));
  EXPECT_TRUE(bob->expect(presenceWithStatus("nicks@muc.localhost/Robert", 110)));

  alice->send("<message to='nicks@muc.localhost' type='groupchat'><body>welcome Robert</body></message>");
  EXPECT_TRUE(bob->expect(isMessage().from("nicks@muc.localhost/Alice").body("welcome Robert")));
  bob->send("<message to='nicks@muc.localhost' type='groupchat'><body>thanks</body></message>");
  EXPECT_TRUE(alice->expect(isMessage().from("nicks@muc.localhost/Robert").body("thanks")));
}

// §7.5: private messages go to the occupant through the room, marked with <x xmlns='…muc#user'/>;
// muc#roomconfig_allowpm = none refuses them with <forbidden/>; unknown nicks get <item-not-found/>.
TEST_F(MucTest, PrivateMessagesBetweenOccupants) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createInstant(*alice, "pm", "Alice");
  join(*bob, "pm", "Bob");
  bob->send("<message to='pm@muc.localhost/Alice' type='chat' id='p1'><body>psst</body></message>");
  auto m = alice->expect(isMessage().from("pm@muc.localhost/Bob").type("chat").body("psst"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->child("x", kMucUser));
  bob->send("<message to='pm@muc.localhost/Nobody' type='chat' id='p2'><body>?</body></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().id("p2"), "item-not-found")));
  bob->send("<message to='pm@muc.localhost/Alice' type='groupchat' id='p3'><body>x</body></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().id("p3"), "bad-request")));

  // IQs to an occupant (e.g. a vCard for its avatar) are relayed both ways without revealing JIDs.
  bob->send("<iq type='get' id='vc1' to='pm@muc.localhost/Alice'><vCard xmlns='vcard-temp'/></iq>");
  auto relayed = alice->expect(isIq().type("get").from("pm@muc.localhost/Bob").child("vCard", "vcard-temp"));
  ASSERT_TRUE(relayed);
  alice->send("<iq type='result' id='" + std::string(relayed->attr("id")) +
              "' to='pm@muc.localhost/Bob'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>");
  auto answer = bob->expect(isIq().type("result").id("vc1"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->attr("from"), "pm@muc.localhost/Alice");

  ASSERT_TRUE(isResult(configure(*alice, "pm", field("muc#roomconfig_allowpm", "none"))));
  bob->send("<message to='pm@muc.localhost/Alice' type='chat' id='p4'><body>again</body></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().id("p4"), "forbidden")));
  EXPECT_TRUE(alice->expectNothing(isMessage().body("again")));
}

// §8.1: participants may change the subject only if the room allows it; moderators always; the
// subject reaches everyone and later arrivals get it when entering.
TEST_F(MucTest, SubjectChangePermission) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createInstant(*alice, "subj", "Alice");
  join(*bob, "subj", "Bob");
  bob->send("<message to='subj@muc.localhost' type='groupchat' id='s1'><subject>mine</subject></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().id("s1"), "forbidden")));

  alice->send("<message to='subj@muc.localhost' type='groupchat' id='s2'><subject>Plans</subject></message>");
  auto seen = bob->expect(subjectMessage("subj@muc.localhost/Alice"));
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->childText("subject", "jabber:client"), "Plans");

  ASSERT_TRUE(isResult(configure(*alice, "subj", field("muc#roomconfig_changesubject", "1"))));
  // §10.2.1: occupants are told the configuration changed (104).
  EXPECT_TRUE(bob->expect(
      isMessage().from("subj@muc.localhost").where([](const xml::Element& e) { return hasStatus(e, 104); })));
  bob->send(
      "<message to='subj@muc.localhost' type='groupchat' id='s3'><subject>Bob's plans</subject></message>");
  EXPECT_TRUE(alice->expect(subjectMessage("subj@muc.localhost/Bob")));

  auto carol = user("carol", "c");
  carol->send("<presence to='subj@muc.localhost/Carol'><x xmlns='" + std::string(kMuc) + "'/></presence>");
  auto subject = carol->expect(subjectMessage("subj@muc.localhost/Bob"));
  ASSERT_TRUE(subject);
  EXPECT_EQ(subject->childText("subject", "jabber:client"), "Bob's plans");
}

// §7.2.7 and §9.3: a members-only room refuses non-members with <registration-required/>; an admin
// adds a member, who can then enter; removing the membership removes the occupant (321).
TEST_F(MucTest, MembersOnlyRoom) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createInstant(*alice, "club", "Alice");
  ASSERT_TRUE(isResult(configure(*alice, "club", field("muc#roomconfig_membersonly", "1"))));
  EXPECT_TRUE(has(roomFeatures(*bob, "club"), "muc_membersonly"));
  EXPECT_TRUE(joinRefused(*bob, "club", "Bob", "registration-required"));

  // Only admins and owners edit the member list (§9.3).
  auto carol = user("carol", "c");
  EXPECT_TRUE(
      isError(admin(*carol, "club", "<item affiliation='member' jid='carol@localhost'/>"), "forbidden"));

  ASSERT_TRUE(isResult(admin(*alice, "club", "<item affiliation='member' jid='bob@localhost'/>")));
  auto self = join(*bob, "club", "Bob");
  ASSERT_TRUE(self);
  EXPECT_EQ(mucItem(*self)->attr("affiliation"), "member");

  auto list = alice->request("<iq type='get' id='ml' to='club@muc.localhost'><query xmlns='" +
                                 std::string(kMucAdmin) + "'><item affiliation='member'/></query></iq>",
                             "ml");
  ASSERT_TRUE(isResult(list));
  auto items = list->child("query", kMucAdmin)->childrenNamed("item", kMucAdmin);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]->attr("jid"), "bob@localhost");

  ASSERT_TRUE(isResult(admin(*alice, "club", "<item affiliation='none' jid='bob@localhost'/>")));
  auto removed = bob->expect(presenceWithStatus("club@muc.localhost/Bob", 321));
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->attr("type"), "unavailable");
  EXPECT_TRUE(hasStatus(*removed, 110));
}

// §7.2.6: a password-protected room refuses entry without the right password (<not-authorized/>).
TEST_F(MucTest, PasswordProtectedRoom) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createInstant(*alice, "vault", "Alice");
  ASSERT_TRUE(isResult(configure(
      *alice, "vault",
      field("muc#roomconfig_passwordprotectedroom", "1") + field("muc#roomconfig_roomsecret", "s3cret"))));
  EXPECT_TRUE(has(roomFeatures(*bob, "vault"), "muc_passwordprotected"));
  EXPECT_TRUE(joinRefused(*bob, "vault", "Bob", "not-authorized"));
  EXPECT_TRUE(joinRefused(*bob, "vault", "Bob", "not-authorized", "<password>wrong</password>"));
  EXPECT_TRUE(join(*bob, "vault", "Bob", "<password>s3cret</password>"));
}

// §8.2 kick (307), §9.1 ban (301, then <forbidden/> when entering), §10.9 the last owner, and the
// authorisation rules: participants cannot kick (<forbidden/>), an admin cannot ban an owner
// (<not-allowed/>), nobody kicks an admin or owner.
TEST_F(MucTest, KickBanAndAffiliationRules) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto carol = user("carol", "c");
  createInstant(*alice, "court", "Alice");
  join(*bob, "court", "Bob");
  join(*carol, "court", "Carol");
  ASSERT_TRUE(alice->expect(availableFrom("court@muc.localhost/Carol")));

  EXPECT_TRUE(isError(admin(*bob, "court", "<item nick='Carol' role='none'/>"), "forbidden"));
  EXPECT_TRUE(isError(admin(*alice, "court", "<item nick='Nobody' role='none'/>"), "item-not-found"));

  ASSERT_TRUE(
      isResult(admin(*alice, "court", "<item nick='Carol' role='none'><reason>noise</reason></item>")));
  auto kicked = carol->expect(presenceWithStatus("court@muc.localhost/Carol", 307));
  ASSERT_TRUE(kicked);
  EXPECT_EQ(kicked->attr("type"), "unavailable");
  EXPECT_TRUE(hasStatus(*kicked, 110));
  EXPECT_EQ(mucItem(*kicked)->childText("reason", kMucUser), "noise");
  ASSERT_TRUE(mucItem(*kicked)->child("actor", kMucUser));
  EXPECT_EQ(mucItem(*kicked)->child("actor", kMucUser)->attr("nick"), "Alice");
  auto seenKick = bob->expect(presenceWithStatus("court@muc.localhost/Carol", 307));
  ASSERT_TRUE(seenKick);
  EXPECT_FALSE(hasStatus(*seenKick, 110));

  // A kicked user may come back; a banned one may not.
  join(*carol, "court", "Carol");
  ASSERT_TRUE(isResult(admin(*alice, "court", "<item affiliation='outcast' jid='carol@localhost'/>")));
  auto banned = carol->expect(presenceWithStatus("court@muc.localhost/Carol", 301));
  ASSERT_TRUE(banned);
  EXPECT_EQ(mucItem(*banned)->attr("affiliation"), "outcast");
  EXPECT_TRUE(bob->expect(presenceWithStatus("court@muc.localhost/Carol", 301)));
  EXPECT_TRUE(joinRefused(*carol, "court", "Carol", "forbidden"));

  // Bob becomes admin (he is now a moderator), but may neither ban nor kick the owner.
  ASSERT_TRUE(isResult(admin(*alice, "court", "<item affiliation='admin' jid='bob@localhost'/>")));
  auto promoted = bob->expect(presenceWithStatus("court@muc.localhost/Bob", 110));
  ASSERT_TRUE(promoted);
  EXPECT_EQ(mucItem(*promoted)->attr("role"), "moderator");
  EXPECT_TRUE(
      isError(admin(*bob, "court", "<item affiliation='outcast' jid='alice@localhost'/>"), "not-allowed"));
  EXPECT_TRUE(isError(admin(*bob, "court", "<item nick='Alice' role='none'/>"), "not-allowed"));
  EXPECT_TRUE(isError(admin(*bob, "court", "<item affiliation='owner' jid='bob@localhost'/>"), "forbidden"));
  // Admins manage the outcast list: Bob lifts Carol's ban.
  ASSERT_TRUE(isResult(admin(*bob, "court", "<item affiliation='none' jid='carol@localhost'/>")));
  join(*carol, "court", "Carol");

  // §10.9: the only owner cannot step down.
  EXPECT_TRUE(
      isError(admin(*alice, "court", "<item affiliation='member' jid='alice@localhost'/>"), "conflict"));
  // Bad items.
  EXPECT_TRUE(
      isError(admin(*alice, "court", "<item affiliation='king' jid='bob@localhost'/>"), "bad-request"));
  EXPECT_TRUE(isError(admin(*alice, "court", "<item/>"), "bad-request"));
}

// §7.13 and §8.6: a visitor in a moderated room asks for voice; every moderator gets the approval
// form; a non-moderator cannot approve; the moderator's approval makes the visitor a participant
// (presence to everyone, §8.3), who may then speak. A repeated request is refused for a while.
TEST_F(MucTest, VoiceRequestApprovedByModerator) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto carol = user("carol", "c");
  createInstant(*alice, "quiet", "Alice");
  ASSERT_TRUE(isResult(configure(*alice, "quiet", field("muc#roomconfig_moderatedroom", "1"))));
  auto bobSelf = join(*bob, "quiet", "Bob");
  ASSERT_TRUE(bobSelf);
  ASSERT_EQ(mucItem(*bobSelf)->attr("role"), "visitor");
  join(*carol, "quiet", "Carol");
  ASSERT_TRUE(alice->expect(availableFrom("quiet@muc.localhost/Carol")));

  const std::string requestType = "http://jabber.org/protocol/muc#request";
  bob->send("<message to='quiet@muc.localhost' id='v1'><x xmlns='" + std::string(kForms) + "' type='submit'>" +
            field("FORM_TYPE", requestType) + field("muc#role", "participant") + "</x></message>");
  auto form = alice->expect(isMessage().from("quiet@muc.localhost").where([&](const xml::Element& m) {
    const auto* x = m.child("x", kForms);
    return x && x->attr("type") == "form";
  }));
  ASSERT_TRUE(form) << "the moderator got no voice request";
  std::map<std::string, std::string> values;
  for (const auto& f : form->child("x", kForms)->childrenNamed("field", kForms))
    values[std::string(f->attr("var"))] = f->childText("value", kForms);
  EXPECT_EQ(values["FORM_TYPE"], requestType);
  EXPECT_EQ(values["muc#role"], "participant");
  EXPECT_EQ(values["muc#roomnick"], "Bob");
  EXPECT_EQ(values["muc#jid"], bob->jid());
  EXPECT_EQ(values["muc#request_allow"], "false");

  // Asking again at once is refused; the moderators are not flooded.
  bob->send("<message to='quiet@muc.localhost' id='v2'><x xmlns='" + std::string(kForms) + "' type='submit'>" +
            field("FORM_TYPE", requestType) + field("muc#role", "participant") + "</x></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().id("v2"), "resource-constraint")));

  const std::string approval = "<x xmlns='" + std::string(kForms) + "' type='submit'>" +
                               field("FORM_TYPE", requestType) + field("muc#role", "participant") +
                               field("muc#jid", bob->jid()) + field("muc#roomnick", "Bob") +
                               field("muc#request_allow", "true") + "</x>";
  // Carol is a participant, not a moderator.
  carol->send("<message to='quiet@muc.localhost' id='v3'>" + approval + "</message>");
  EXPECT_TRUE(carol->expect(errorWith(isMessage().id("v3"), "forbidden")));

  alice->send("<message to='quiet@muc.localhost' id='v4'>" + approval + "</message>");
  auto voiced = bob->expect(presenceWithStatus("quiet@muc.localhost/Bob", 110));
  ASSERT_TRUE(voiced);
  EXPECT_EQ(mucItem(*voiced)->attr("role"), "participant");
  // Carol saw Bob enter as a visitor; now she sees him with voice.
  EXPECT_TRUE(carol->expect(availableFrom("quiet@muc.localhost/Bob").where([](const xml::Element& p) {
    return mucItem(p) && mucItem(p)->attr("role") == "participant";
  })));

  bob->send("<message to='quiet@muc.localhost' type='groupchat' id='g1'><body>thanks</body></message>");
  EXPECT_TRUE(carol->expect(isMessage().from("quiet@muc.localhost/Bob").where(
      [](const xml::Element& m) { return m.childText("body", "jabber:client") == "thanks"; })));
  // A participant asking for voice has it already.
  bob->send("<message to='quiet@muc.localhost' id='v5'><x xmlns='" + std::string(kForms) + "' type='submit'>" +
            field("FORM_TYPE", requestType) + field("muc#role", "participant") + "</x></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().id("v5"), "bad-request")));
}

// §10.9: destroying the room sends everyone unavailable presence with <destroy/> (alternate venue and
// reason); the room is gone afterwards.
TEST_F(MucTest, DestroyWithAlternateVenue) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createInstant(*alice, "old", "Alice");
  join(*bob, "old", "Bob");
  EXPECT_TRUE(isError(bob->request("<iq type='set' id='d0' to='old@muc.localhost'><query xmlns='" +
                                       std::string(kMucOwner) + "'><destroy/></query></iq>",
                                   "d0"),
                      "forbidden"));
  auto r =
      alice->request("<iq type='set' id='d1' to='old@muc.localhost'><query xmlns='" + std::string(kMucOwner) +
                         "'><destroy jid='new@muc.localhost'><reason>moved</reason></destroy></query></iq>",
                     "d1");
  ASSERT_TRUE(isResult(r));
  auto gone = bob->expect(unavailableFrom("old@muc.localhost/Bob"));
  ASSERT_TRUE(gone);
  const auto* destroy = gone->child("x", kMucUser)->child("destroy", kMucUser);
  ASSERT_TRUE(destroy);
  EXPECT_EQ(destroy->attr("jid"), "new@muc.localhost");
  EXPECT_EQ(destroy->childText("reason", kMucUser), "moved");
  EXPECT_TRUE(alice->expect(unavailableFrom("old@muc.localhost/Alice")));
  auto info = bob->request(
      "<iq type='get' id='gone' to='old@muc.localhost'><query xmlns='" + std::string(kDiscoInfo) + "'/></iq>",
      "gone");
  EXPECT_TRUE(isError(info, "item-not-found"));
}

// Several devices of one user under one nick: each receives the room's traffic, the others see the
// occupant once, and the occupant leaves only when its last device does.
TEST_F(MucTest, TwoDevicesShareOneNick) {
  auto phone = user("alice", "phone");
  auto laptop = user("alice", "laptop");
  auto bob = user("bob", "b");
  createInstant(*phone, "multi", "Alice");
  join(*bob, "multi", "Bob");
  ASSERT_TRUE(phone->expect(availableFrom("multi@muc.localhost/Bob")));

  ASSERT_TRUE(bob->expect(availableFrom("multi@muc.localhost/Alice")));  // seen when Bob entered
  auto self = join(*laptop, "multi", "Alice");
  ASSERT_TRUE(self);
  EXPECT_EQ(mucItem(*self)->attr("affiliation"), "owner");
  EXPECT_TRUE(laptop->expect(availableFrom("multi@muc.localhost/Bob")));
  EXPECT_TRUE(bob->expectNothing(isPresence().from("multi@muc.localhost/Alice"), 400ms))
      << "the second device must not show the occupant twice";

  bob->send("<message to='multi@muc.localhost' type='groupchat'><body>to both</body></message>");
  EXPECT_TRUE(phone->expect(isMessage().from("multi@muc.localhost/Bob").body("to both")));
  EXPECT_TRUE(laptop->expect(isMessage().from("multi@muc.localhost/Bob").body("to both")));
  bob->send("<message to='multi@muc.localhost/Alice' type='chat'><body>private</body></message>");
  EXPECT_TRUE(phone->expect(isMessage().from("multi@muc.localhost/Bob").body("private")));
  EXPECT_TRUE(laptop->expect(isMessage().from("multi@muc.localhost/Bob").body("private")));
  laptop->send("<message to='multi@muc.localhost' type='groupchat'><body>from laptop</body></message>");
  EXPECT_TRUE(bob->expect(isMessage().from("multi@muc.localhost/Alice").body("from laptop")));
  EXPECT_TRUE(phone->expect(isMessage().from("multi@muc.localhost/Alice").body("from laptop")));

  // Another user cannot take the nick.
  auto carol = user("carol", "c");
  EXPECT_TRUE(joinRefused(*carol, "multi", "Alice", "conflict"));

  // The phone goes away (connection closed): Bob sees nothing, the laptop still gets everything.
  phone->disconnect();
  EXPECT_TRUE(bob->expectNothing(unavailableFrom("multi@muc.localhost/Alice"), 500ms));
  bob->send("<message to='multi@muc.localhost' type='groupchat'><body>still there?</body></message>");
  EXPECT_TRUE(laptop->expect(isMessage().from("multi@muc.localhost/Bob").body("still there?")));
  laptop->send("<presence to='multi@muc.localhost/Alice' type='unavailable'/>");
  EXPECT_TRUE(laptop->expect(presenceWithStatus("multi@muc.localhost/Alice", 110)));
  EXPECT_TRUE(bob->expect(unavailableFrom("multi@muc.localhost/Alice")));
}

// §7.10 / §7.2.10: the room's occupant limit refuses newcomers with <service-unavailable/>.
TEST_F(MucTest, MaxOccupants) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  auto carol = user("carol", "c");
  createInstant(*alice, "small", "Alice");
  ASSERT_TRUE(isResult(configure(*alice, "small", field("muc#roomconfig_maxusers", "2"))));
  join(*bob, "small", "Bob");
  EXPECT_TRUE(joinRefused(*carol, "small", "Carol", "service-unavailable"));
}

// §7.8.2 mediated invitations through the room; XEP-0249 direct invitations go user to user.
TEST_F(MucTest, Invitations) {
  auto alice = user("alice", "a");
  auto bob = user("bob", "b");
  createInstant(*alice, "party", "Alice");
  alice->send("<message to='party@muc.localhost'><x xmlns='" + std::string(kMucUser) +
              "'><invite to='bob@localhost'><reason>come</reason></invite></x></message>");
  auto inv = bob->expect(isMessage().from("party@muc.localhost").child("x", kMucUser));
  ASSERT_TRUE(inv);
  const auto* i = inv->child("x", kMucUser)->child("invite", kMucUser);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->attr("from"), "alice@localhost");
  EXPECT_EQ(i->childText("reason", kMucUser), "come");

  bob->send("<message to='party@muc.localhost'><x xmlns='" + std::string(kMucUser) +
            "'><decline to='alice@localhost'><reason>busy</reason></decline></x></message>");
  auto dec = alice->expect(isMessage().from("party@muc.localhost").child("x", kMucUser));
  ASSERT_TRUE(dec);
  EXPECT_TRUE(dec->child("x", kMucUser)->child("decline", kMucUser));

  // A participant may not invite unless the room allows it.
  join(*bob, "party", "Bob");
  bob->send("<message to='party@muc.localhost' id='bi'><x xmlns='" + std::string(kMucUser) +
            "'><invite to='carol@localhost'/></x></message>");
  EXPECT_TRUE(bob->expect(errorWith(isMessage().id("bi"), "forbidden")));

  alice->send("<message to='" + bob->jid() +
              "'><x xmlns='jabber:x:conference' jid='party@muc.localhost'/></message>");
  EXPECT_TRUE(bob->expect(isMessage().from(alice->jid()).child("x", "jabber:x:conference")));
}

// XEP-0410: the room answers a self-ping while the device is joined, <not-acceptable/> otherwise.
TEST_F(MucTest, SelfPing) {
  auto alice = user("alice", "a");
  createInstant(*alice, "pingroom", "Alice");
  auto pong = alice->request(
      "<iq type='get' id='sp' to='pingroom@muc.localhost/Alice'><ping xmlns='urn:xmpp:ping'/></iq>", "sp");
  EXPECT_TRUE(isResult(pong));
  auto bob = user("bob", "b");
  auto notJoined = bob->request(
      "<iq type='get' id='sp2' to='pingroom@muc.localhost/Alice'><ping xmlns='urn:xmpp:ping'/></iq>", "sp2");
  EXPECT_TRUE(isError(notJoined, "not-acceptable"));
}

// Persistent rooms keep their configuration, subject and affiliations across a restart of parleyd.
TEST_F(MucTest, PersistentRoomSurvivesRestart) {
  {
    auto alice = user("alice", "a");
    join(*alice, "keep", "Alice", {}, false);
    ASSERT_TRUE(isResult(configure(*alice, "keep",
                                   field("muc#roomconfig_persistentroom", "1") +
                                       field("muc#roomconfig_roomname", "Kept") +
                                       field("muc#roomconfig_membersonly", "1"))));
    ASSERT_TRUE(alice->expect(subjectMessage("keep@muc.localhost")));
    ASSERT_TRUE(isResult(admin(*alice, "keep", "<item affiliation='member' jid='bob@localhost'/>")));
    alice->send("<message to='keep@muc.localhost' type='groupchat'><subject>Still here</subject></message>");
    ASSERT_TRUE(alice->expect(subjectMessage("keep@muc.localhost/Alice")));
    alice->send("<presence to='keep@muc.localhost/Alice' type='unavailable'/>");
    ASSERT_TRUE(alice->expect(unavailableFrom("keep@muc.localhost/Alice")));
  }
  ASSERT_EQ(server.stop(), 0);
  server.start();

  auto bob = user("bob", "b");
  auto features = roomFeatures(*bob, "keep");
  EXPECT_TRUE(has(features, "muc_persistent"));
  EXPECT_TRUE(has(features, "muc_membersonly"));
  auto self = join(*bob, "keep", "Bob", {}, false);
  ASSERT_TRUE(self);
  EXPECT_EQ(mucItem(*self)->attr("affiliation"), "member");
  auto subject = bob->expect(subjectMessage("keep@muc.localhost"));
  ASSERT_TRUE(subject);
  EXPECT_EQ(subject->childText("subject", "jabber:client"), "Still here");
  auto carol = user("carol", "c");
  EXPECT_TRUE(joinRefused(*carol, "keep", "Carol", "registration-required"));
  auto alice = user("alice", "a");
  auto owner = alice->request(
      "<iq type='get' id='o' to='keep@muc.localhost'><query xmlns='" + std::string(kMucOwner) + "'/></iq>",
      "o");
  EXPECT_TRUE(isResult(owner)) << "the owner is still the owner";
}

}  // namespace
}  // namespace parley::test
