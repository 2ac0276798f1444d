// XEP-0163 personal eventing through libstrophe clients: OMEMO-shaped device lists (XEP-0384) with
// access_model=open, XEP-0223 publish-options preconditions, notifications filtered by XEP-0115
// capabilities, retract/purge/delete, XEP-0402 bookmarks kept in sync with XEP-0048 private storage,
// XEP-0084 avatars converted to and from the vCard PHOTO (XEP-0398) with the XEP-0153 hash in presence,
// persistence across a restart and account deletion.
#include <algorithm>
#include <string>
#include <vector>

#include "integration/pep_helpers.h"
#include "server/util/crypto.h"
#include "storage/database.h"

namespace parley::test {
namespace {

class PepTest : public ImTest {
 protected:
  // subscribe(bob, alice) (ImTest): Bob sees Alice's presence (RFC 6121 §3.1), as PEP's implicit
  // subscriptions require.
  PepTest() : ImTest("[modules.pep]\nmax_item_bytes = 4096\nmax_nodes_per_account = 8\n") {}
};

const std::string kDeviceList =
    "<devices xmlns='urn:xmpp:omemo:2'><device id='12345'/><device id='4223' label='Gajim on "
    "Ubuntu'/></devices>";

// XEP-0384 §5.3.1 shape: Alice publishes her device list with access_model=open (XEP-0223); Carol, who
// has no presence subscription, fetches it (XEP-0060 §6.5, open access model §4.5); Bob, subscribed,
// advertising urn:xmpp:omemo:2:devices+notify in his caps, gets the notification (XEP-0163 §4.3).
TEST_F(PepTest, OmemoDeviceListIsOpenAndNotifiesSubscribedContacts) {
  auto alice = login("alice", "phone");
  auto bob = login("bob", "laptop");
  auto carol = login("carol", "tablet");
  subscribe(*bob, *alice);
  availableWithCaps(*bob, makeCaps({std::string(kDevices) + "+notify"}));
  availableWithCaps(*carol, makeCaps({std::string(kDevices) + "+notify", "urn:x:carol"}));
  alice->becomeAvailable();

  auto reply =
      publish(*alice, kDevices, "current", kDeviceList, publishOptions(field("pubsub#access_model", "open")));
  ASSERT_TRUE(isResult(reply));
  EXPECT_EQ(reply->child("pubsub", kPubsub)->child("publish", kPubsub)->child("item", kPubsub)->attr("id"),
            "current");

  auto ev = bob->expect(isItemEvent("alice@localhost", kDevices, "current"));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->attr("type"), "headline");
  EXPECT_TRUE(ev->child("event", kEvent)
                  ->child("items", kEvent)
                  ->child("item", kEvent)
                  ->child("devices", "urn:xmpp:omemo:2"));
  // Carol does not share presence with Alice: no notification, but she may read the open node.
  EXPECT_TRUE(carol->expectNothing(isEvent("alice@localhost", kDevices)));
  auto fetched = items(*carol, "alice@localhost", kDevices);
  ASSERT_TRUE(isResult(fetched));
  EXPECT_EQ(itemIds(fetched), std::vector<std::string>{"current"});
  ASSERT_TRUE(firstPayload(fetched));
  EXPECT_EQ(firstPayload(fetched)->childrenNamed("device", "urn:xmpp:omemo:2").size(), 2u);

  // The legacy (eu.siacs.conversations.axolotl) shape the same way, with a bundle node.
  ASSERT_TRUE(isResult(publish(*alice, "eu.siacs.conversations.axolotl.bundles:12345", "current",
                               "<bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic "
                               "signedPreKeyId='1'>BASE64</signedPreKeyPublic></bundle>",
                               publishOptions(field("pubsub#access_model", "open")))));
  EXPECT_TRUE(isResult(items(*carol, "alice@localhost", "eu.siacs.conversations.axolotl.bundles:12345")));
}

// XEP-0115 §6.3 / §5.4: a 'ver' is asked for once and then cached for everyone with the same caps.
TEST_F(PepTest, CapsAreAskedOnceAndCached) {
  auto alice = login("alice", "phone");
  auto bob = login("bob", "laptop");
  subscribe(*bob, *alice);
  auto bob2 = login("bob", "phone");
  auto caps = makeCaps({std::string(kNick) + "+notify"});
  availableWithCaps(*bob, caps);
  // A round trip on bob's connection: the server has handled his answer (and cached the 'ver') before
  // bob2's presence arrives on another connection, whose stanzas are not ordered with his.
  ASSERT_TRUE(isResult(bob->request("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>", "sync")));
  bob2->becomeAvailable(capsElement(caps));
  EXPECT_TRUE(bob2->expectNothing(isIq().type("get").child("query", kInfo)));
  alice->becomeAvailable();
  ASSERT_TRUE(
      isResult(publish(*alice, kNick, "", "<nick xmlns='http://jabber.org/protocol/nick'>Al</nick>")));
  EXPECT_TRUE(bob->expect(isEvent("alice@localhost", kNick)));
  EXPECT_TRUE(bob2->expect(isEvent("alice@localhost", kNick)));
}

// A client whose disco#info does not hash to its 'ver' is not believed for others (XEP-0115 §5.4).
TEST_F(PepTest, UnverifiedCapsAreNotCachedForOthers) {
  auto alice = login("alice", "phone");
  auto bob = login("bob", "laptop");
  subscribe(*bob, *alice);
  auto bob2 = login("bob", "phone");
  auto lying = makeCaps({"urn:x:other"});
  lying.info += std::string("<feature var='") + kNick + "+notify'/>";  // not what the ver covers
  availableWithCaps(*bob, lying);
  // The same ver on another resource is asked again: the first answer was not cached for it.
  bob2->becomeAvailable(capsElement(lying));
  auto q = bob2->expect(isIq().type("get").from("localhost").child("query", kInfo));
  EXPECT_TRUE(q);
}

// XEP-0060 §7.1.5 with XEP-0223: options that do not match the existing node fail with
// <conflict/><precondition-not-met/>; only the owner publishes (§7.1.3.1 forbidden); a node with the
// presence access model refuses someone without a subscription (§6.5.9.3).
TEST_F(PepTest, PreconditionsOwnershipAndAccessModels) {
  auto alice = login("alice", "phone");
  auto bob = login("bob", "laptop");
  auto carol = login("carol", "tablet");
  subscribe(*bob, *alice);
  ASSERT_TRUE(isResult(publish(*alice, kDevices, "current", kDeviceList,
                               publishOptions(field("pubsub#access_model", "open")))));
  auto conflict = publish(*alice, kDevices, "current", kDeviceList,
                          publishOptions(field("pubsub#access_model", "presence")));
  EXPECT_TRUE(isError(conflict, "conflict"));
  EXPECT_TRUE(hasPubsubError(conflict, "precondition-not-met"));
  // Unknown field: cannot be met either.
  EXPECT_TRUE(hasPubsubError(
      publish(*alice, kDevices, "current", kDeviceList, publishOptions(field("pubsub#made_up", "1"))),
      "precondition-not-met"));
  // Matching options publish.
  EXPECT_TRUE(isResult(
      publish(*alice, kDevices, "current", kDeviceList,
              publishOptions(field("pubsub#access_model", "open") + field("pubsub#persist_items", "true")))));

  // Bob may not publish on Alice's service.
  EXPECT_TRUE(isError(publish(*bob, kDevices, "evil", kDeviceList, {}, "alice@localhost"), "forbidden"));
  EXPECT_TRUE(
      isError(bob->request("<iq type='set' id='o1' to='alice@localhost'><pubsub xmlns='" +
                               std::string(kOwner) + "'><delete node='" + kDevices + "'/></pubsub></iq>",
                           "o1"),
              "forbidden"));

  // Nick: presence access by default (XEP-0172 §3 via XEP-0163 defaults).
  ASSERT_TRUE(
      isResult(publish(*alice, kNick, "", "<nick xmlns='http://jabber.org/protocol/nick'>Al</nick>")));
  EXPECT_TRUE(isResult(items(*bob, "alice@localhost", kNick)));
  auto refused = items(*carol, "alice@localhost", kNick);
  EXPECT_TRUE(isError(refused, "not-authorized"));
  EXPECT_TRUE(hasPubsubError(refused, "presence-subscription-required"));
  // vCard4 (XEP-0292 §3.1): presence as well.
  ASSERT_TRUE(isResult(
      publish(*alice, "urn:xmpp:vcard4", "current",
              "<vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'><fn><text>Alice</text></fn></vcard>")));
  EXPECT_TRUE(isResult(items(*bob, "alice@localhost", "urn:xmpp:vcard4")));
  EXPECT_TRUE(isError(items(*carol, "alice@localhost", "urn:xmpp:vcard4"), "not-authorized"));
  // Whitelist: nobody but Alice.
  ASSERT_TRUE(isResult(publish(*alice, "urn:x:secret", "1", "<s xmlns='urn:x'/>",
                               publishOptions(field("pubsub#access_model", "whitelist")))));
  auto closed = items(*bob, "alice@localhost", "urn:x:secret");
  EXPECT_TRUE(isError(closed, "not-allowed"));
  EXPECT_TRUE(hasPubsubError(closed, "closed-node"));
  EXPECT_TRUE(isResult(items(*alice, "", "urn:x:secret")));
  // A node that does not exist.
  EXPECT_TRUE(isError(items(*bob, "alice@localhost", "urn:x:none"), "item-not-found"));
}

// Limits: item size (§7.1.3.4 payload-too-big), nodes per account, one payload per item.
TEST_F(PepTest, LimitsAndBadRequests) {
  auto alice = login("alice", "phone");
  auto big = publish(*alice, "urn:x:big", "1", "<b xmlns='urn:x'>" + std::string(5000, 'x') + "</b>");
  EXPECT_TRUE(isError(big, "not-acceptable"));
  EXPECT_TRUE(hasPubsubError(big, "payload-too-big"));
  EXPECT_TRUE(hasPubsubError(publish(*alice, "urn:x:two", "1", "<a xmlns='urn:x'/><b xmlns='urn:x'/>"),
                             "invalid-payload"));
  EXPECT_TRUE(hasPubsubError(publish(*alice, "", "1", "<a xmlns='urn:x'/>"), "nodeid-required"));
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE(isResult(publish(*alice, "urn:x:n" + std::to_string(i), "1", "<a xmlns='urn:x'/>")));
  EXPECT_TRUE(isError(publish(*alice, "urn:x:n8", "1", "<a xmlns='urn:x'/>"), "resource-constraint"));
}

// Retrieval (XEP-0060 §6.5.2 all, §6.5.7 max_items, §6.5.8 by id), generated ids (§7.1.2),
// node configuration get/set (§8.2) with max_items trimming.
TEST_F(PepTest, RetrieveConfigureAndGeneratedIds) {
  auto alice = login("alice", "phone");
  const std::string node = "urn:xmpp:microblog:0";
  for (const char* id : {"a", "b", "c"})
    ASSERT_TRUE(isResult(publish(*alice, node, id, "<entry xmlns='http://www.w3.org/2005/Atom'/>",
                                 publishOptions(field("pubsub#max_items", "10")))));
  auto generated = publish(*alice, node, "", "<entry xmlns='http://www.w3.org/2005/Atom'/>");
  ASSERT_TRUE(isResult(generated));
  std::string gen(
      generated->child("pubsub", kPubsub)->child("publish", kPubsub)->child("item", kPubsub)->attr("id"));
  EXPECT_FALSE(gen.empty());
  EXPECT_EQ(itemIds(items(*alice, "", node)), (std::vector<std::string>{"a", "b", "c", gen}));
  EXPECT_EQ(itemIds(items(*alice, "", node, " max_items='2'")), (std::vector<std::string>{"c", gen}));
  EXPECT_EQ(itemIds(items(*alice, "", node, "", "<item id='b'/><item id='zz'/>")),
            std::vector<std::string>{"b"});
  EXPECT_TRUE(isError(items(*alice, "", node, " max_items='x'"), "bad-request"));
  // Republishing an id makes it the newest.
  ASSERT_TRUE(isResult(publish(*alice, node, "a", "<entry xmlns='http://www.w3.org/2005/Atom'/>")));
  EXPECT_EQ(itemIds(items(*alice, "", node, " max_items='1'")), std::vector<std::string>{"a"});

  auto cfg = alice->request("<iq type='get' id='c1'><pubsub xmlns='" + std::string(kOwner) +
                                "'><configure node='" + node + "'/></pubsub></iq>",
                            "c1");
  ASSERT_TRUE(isResult(cfg));
  const auto* x = cfg->child("pubsub", kOwner)->child("configure", kOwner)->child("x", "jabber:x:data");
  ASSERT_TRUE(x);
  std::string maxItems;
  for (const auto& f : x->childrenNamed("field", "jabber:x:data"))
    if (f->attr("var") == "pubsub#max_items") maxItems = f->childText("value", "jabber:x:data");
  EXPECT_EQ(maxItems, "10");
  ASSERT_TRUE(
      isResult(owner(*alice, "<configure node='" + node +
                                 "'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
                                 "type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value>"
                                 "</field>" +
                                 field("pubsub#max_items", "2") + "</x></configure>")));
  EXPECT_EQ(itemIds(items(*alice, "", node)).size(), 2u);
  EXPECT_TRUE(isError(owner(*alice, "<configure node='" + node + "'><x xmlns='jabber:x:data' type='submit'>" +
                                        field("pubsub#access_model", "authorize") + "</x></configure>"),
                      "not-acceptable"));
  EXPECT_TRUE(isError(owner(*alice,
                            "<configure node='urn:x:none'><x xmlns='jabber:x:data' type='submit'/>"
                            "</configure>"),
                      "item-not-found"));
}

// Retract with notify (XEP-0060 §7.2.2.1), purge (§8.5.2) and delete (§8.4.2) reach the subscribed
// contact and the owner's own +notify resources (XEP-0163 §4.3.1).
TEST_F(PepTest, RetractPurgeAndDeleteNotify) {
  auto alice = login("alice", "phone");
  auto bob = login("bob", "laptop");
  subscribe(*bob, *alice);
  const std::string node = "urn:xmpp:x-test";
  auto caps = makeCaps({node + "+notify"});
  availableWithCaps(*bob, caps);
  availableWithCaps(*alice, makeCaps({node + "+notify", "urn:x:alice-client"}));
  ASSERT_TRUE(isResult(
      publish(*alice, node, "one", "<t xmlns='urn:x'/>", publishOptions(field("pubsub#max_items", "5")))));
  EXPECT_TRUE(bob->expect(isItemEvent("alice@localhost", node, "one")));
  EXPECT_TRUE(alice->expect(isItemEvent("alice@localhost", node, "one")));
  ASSERT_TRUE(isResult(publish(*alice, node, "two", "<t xmlns='urn:x'/>")));
  EXPECT_TRUE(bob->expect(isItemEvent("alice@localhost", node, "two")));

  ASSERT_TRUE(isResult(alice->request("<iq type='set' id='r1'><pubsub xmlns='" + std::string(kPubsub) +
                                          "'><retract node='" + node +
                                          "' notify='true'><item id='one'/></retract>"
                                          "</pubsub></iq>",
                                      "r1")));
  EXPECT_TRUE(bob->expect(isItemEvent("alice@localhost", node, "one", true)));
  EXPECT_TRUE(
      isError(alice->request("<iq type='set' id='r2'><pubsub xmlns='" + std::string(kPubsub) +
                                 "'><retract node='" + node + "'><item id='one'/></retract></pubsub></iq>",
                             "r2"),
              "item-not-found"));

  ASSERT_TRUE(isResult(owner(*alice, "<purge node='" + node + "'/>")));
  EXPECT_TRUE(bob->expect(isEvent("alice@localhost", node, "purge")));
  EXPECT_TRUE(itemIds(items(*alice, "", node)).empty());

  ASSERT_TRUE(isResult(owner(*alice, "<delete node='" + node + "'/>")));
  EXPECT_TRUE(bob->expect(isEvent("alice@localhost", node, "delete")));
  EXPECT_TRUE(isError(items(*alice, "", node), "item-not-found"));
  EXPECT_TRUE(isError(owner(*alice, "<delete node='" + node + "'/>"), "item-not-found"));
}

// XEP-0163 §4.3.5: a contact's resource that becomes available gets the last published item of the
// nodes it +notifies, with a XEP-0203 delay; a contact without the interest gets nothing.
TEST_F(PepTest, LastItemIsSentWhenAContactComesOnline) {
  auto alice = login("alice", "phone");
  auto bob = login("bob", "laptop");
  subscribe(*bob, *alice);
  ASSERT_TRUE(
      isResult(publish(*alice, kNick, "n1", "<nick xmlns='http://jabber.org/protocol/nick'>Alice</nick>")));
  ASSERT_TRUE(
      isResult(publish(*alice, kNick, "n2", "<nick xmlns='http://jabber.org/protocol/nick'>Al</nick>")));
  auto bob2 = login("bob", "tablet");
  availableWithCaps(*bob2, makeCaps({std::string(kNick) + "+notify"}));
  auto ev = bob2->expect(isItemEvent("alice@localhost", kNick, "n2"));
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->child("delay", "urn:xmpp:delay"));
  EXPECT_EQ(
      ev->child("event", kEvent)->child("items", kEvent)->child("item", kEvent)->childText("nick", kNick),
      "Al");
  // Same caps, already cached: sent at once on the next resource's presence.
  auto bob3 = login("bob", "desk");
  bob3->becomeAvailable(capsElement(makeCaps({std::string(kNick) + "+notify"})));
  EXPECT_TRUE(bob3->expect(isItemEvent("alice@localhost", kNick, "n2")));
  auto carol = login("carol", "x");
  availableWithCaps(*carol, makeCaps({std::string(kNick) + "+notify", "urn:x:c"}));
  EXPECT_TRUE(carol->expectNothing(isEvent("alice@localhost", kNick)));
}

// XEP-0402 §5.2 compat: a bookmark published with PEP appears in XEP-0049 private storage as
// XEP-0048 <storage/>, and a private-storage set appears as PEP items (new room published, removed
// room retracted), with notifications to the owner's +notify resources.
TEST_F(PepTest, BookmarksSyncWithPrivateStorageBothWays) {
  auto alice = login("alice", "phone");
  auto modern = makeCaps({std::string(kBookmarks) + "+notify"});
  availableWithCaps(*alice, modern);
  auto disco = alice->request(
      "<iq type='get' id='d1' to='alice@localhost'><query xmlns='" + std::string(kInfo) + "'/></iq>", "d1");
  ASSERT_TRUE(isResult(disco));
  bool compat = false;
  for (const auto& f : disco->child("query", kInfo)->childrenNamed("feature", kInfo))
    if (f->attr("var") == "urn:xmpp:bookmarks:1#compat") compat = true;
  EXPECT_TRUE(compat);

  // XEP-0402 §3.1 publish with its publish-options.
  auto reply =
      publish(*alice, kBookmarks, "theplay@conference.shakespeare.lit",
              "<conference xmlns='urn:xmpp:bookmarks:1' name='The Play&apos;s the Thing' "
              "autojoin='true'><nick>JC</nick></conference>",
              publishOptions(field("pubsub#persist_items", "true") + field("pubsub#max_items", "max") +
                             field("pubsub#send_last_published_item", "never") +
                             field("pubsub#access_model", "whitelist")));
  ASSERT_TRUE(isResult(reply));
  EXPECT_TRUE(
      alice->expect(isItemEvent("alice@localhost", kBookmarks, "theplay@conference.shakespeare.lit")));
  auto priv = alice->request(
      "<iq type='get' id='g1'><query xmlns='jabber:iq:private'><storage "
      "xmlns='storage:bookmarks'/></query></iq>",
      "g1");
  ASSERT_TRUE(isResult(priv));
  const auto* storage = priv->child("query", "jabber:iq:private")->child("storage", "storage:bookmarks");
  ASSERT_TRUE(storage);
  auto confs = storage->childrenNamed("conference", "storage:bookmarks");
  ASSERT_EQ(confs.size(), 1u);
  EXPECT_EQ(confs[0]->attr("jid"), "theplay@conference.shakespeare.lit");
  EXPECT_EQ(confs[0]->attr("name"), "The Play's the Thing");
  EXPECT_EQ(confs[0]->attr("autojoin"), "true");
  EXPECT_EQ(confs[0]->childText("nick", "storage:bookmarks"), "JC");

  // A legacy client replaces the bookmarks through private storage (XEP-0048 §3.2).
  ASSERT_TRUE(isResult(alice->request(
      "<iq type='set' id='s1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
      "<conference jid='council@conference.underhill.org' name='Council' autojoin='1'><nick>Puck</nick>"
      "</conference><url name='Web' url='https://example.org/'/></storage></query></iq>",
      "s1")));
  EXPECT_TRUE(alice->expect(isItemEvent("alice@localhost", kBookmarks, "council@conference.underhill.org")));
  EXPECT_TRUE(
      alice->expect(isItemEvent("alice@localhost", kBookmarks, "theplay@conference.shakespeare.lit", true)));
  auto pep = items(*alice, "", kBookmarks);
  ASSERT_TRUE(isResult(pep));
  EXPECT_EQ(itemIds(pep), std::vector<std::string>{"council@conference.underhill.org"});
  const auto* conf = firstPayload(pep);
  ASSERT_TRUE(conf);
  EXPECT_TRUE(conf->is("conference", kBookmarks));
  EXPECT_EQ(conf->attr("autojoin"), "true");
  EXPECT_EQ(conf->childText("nick", kBookmarks), "Puck");

  // Retracting through PEP keeps the URL bookmark in private storage.
  ASSERT_TRUE(isResult(alice->request(
      "<iq type='set' id='r1'><pubsub xmlns='" + std::string(kPubsub) + "'><retract node='" + kBookmarks +
          "' notify='true'><item id='council@conference.underhill.org'/></retract>"
          "</pubsub></iq>",
      "r1")));
  priv = alice->request(
      "<iq type='get' id='g2'><query xmlns='jabber:iq:private'><storage "
      "xmlns='storage:bookmarks'/></query></iq>",
      "g2");
  storage = priv->child("query", "jabber:iq:private")->child("storage", "storage:bookmarks");
  ASSERT_TRUE(storage);
  EXPECT_TRUE(storage->childrenNamed("conference", "storage:bookmarks").empty());
  EXPECT_EQ(storage->childrenNamed("url", "storage:bookmarks").size(), 1u);
  // Bookmarks are private: nobody else reads them.
  auto bob = login("bob", "laptop");
  EXPECT_TRUE(isError(items(*bob, "alice@localhost", kBookmarks), "not-allowed"));
}

// 1x1 PNG.
const std::string kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const std::string kPng2 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

std::string sha1HexOfBase64(const std::string& b64) {
  return util::hexEncode(util::hash(util::HashAlg::Sha1, *util::base64Decode(b64)));
}

std::string photoOf(const xml::Element& presence) {
  const auto* x = presence.child("x", "vcard-temp:x:update");
  return x ? x->childText("photo", "vcard-temp:x:update") : std::string("<none>");
}

// XEP-0084 §4.1-4.2 publish (data, then metadata), the metadata notification to a subscribed contact,
// XEP-0398 conversion to the vCard PHOTO and the XEP-0153 hash in Alice's presence; then the other way:
// a vCard with another PHOTO becomes the PEP avatar (new metadata notification, new presence hash).
TEST_F(PepTest, AvatarConvertsToVcardAndPresenceHashBothWays) {
  auto alice = login("alice", "phone");
  auto bob = login("bob", "laptop");
  subscribe(*bob, *alice);
  availableWithCaps(*bob, makeCaps({std::string(kMeta) + "+notify"}));
  alice->becomeAvailable();
  bob->pump(200ms);
  bob->inbox().clear();

  const std::string hash = sha1HexOfBase64(kPng);
  ASSERT_TRUE(
      isResult(publish(*alice, kData, hash, "<data xmlns='urn:xmpp:avatar:data'>" + kPng + "</data>")));
  ASSERT_TRUE(isResult(publish(*alice, kMeta, hash,
                               "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='" +
                                   std::to_string(util::base64Decode(kPng)->size()) + "' id='" + hash +
                                   "' height='1' type='image/png' width='1'/></metadata>")));
  auto ev = bob->expect(isItemEvent("alice@localhost", kMeta, hash));
  ASSERT_TRUE(ev);
  // XEP-0153: Alice's presence now carries the hash.
  auto pres = bob->expect(
      availableFrom(alice->jid()).where([hash](const xml::Element& p) { return photoOf(p) == hash; }));
  EXPECT_TRUE(pres);
  // XEP-0398: the vCard has the same image.
  auto card =
      bob->request("<iq type='get' id='v1' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>", "v1");
  ASSERT_TRUE(isResult(card));
  const auto* photo = card->child("vCard", "vcard-temp")->child("PHOTO", "vcard-temp");
  ASSERT_TRUE(photo);
  EXPECT_EQ(photo->childText("TYPE", "vcard-temp"), "image/png");
  EXPECT_EQ(photo->childText("BINVAL", "vcard-temp"), kPng);
  // Presence Alice sends later gets the hash added by the server.
  alice->send("<presence><show>away</show></presence>");
  EXPECT_TRUE(bob->expect(availableFrom(alice->jid()).where([hash](const xml::Element& p) {
    return photoOf(p) == hash && p.childText("show", "jabber:client") == "away";
  })));

  // The other way: a vCard-based client sets a new PHOTO (XEP-0153 §3.1).
  const std::string hash2 = sha1HexOfBase64(kPng2);
  ASSERT_TRUE(
      isResult(alice->request("<iq type='set' id='v2'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>"
                              "image/png</TYPE><BINVAL>" +
                                  kPng2 + "</BINVAL></PHOTO></vCard></iq>",
                              "v2")));
  EXPECT_TRUE(bob->expect(isItemEvent("alice@localhost", kMeta, hash2)));
  EXPECT_TRUE(bob->expect(
      availableFrom(alice->jid()).where([hash2](const xml::Element& p) { return photoOf(p) == hash2; })));
  auto data = items(*bob, "alice@localhost", kData, "", "<item id='" + hash2 + "'/>");
  ASSERT_TRUE(isResult(data));
  ASSERT_TRUE(firstPayload(data));
  EXPECT_EQ(firstPayload(data)->text(), kPng2);
  auto meta = items(*bob, "alice@localhost", kMeta);
  ASSERT_TRUE(firstPayload(meta));
  EXPECT_EQ(firstPayload(meta)->child("info", kMeta)->attr("bytes"),
            std::to_string(util::base64Decode(kPng2)->size()));

  // The advertised conversion feature (XEP-0398 §2).
  EXPECT_TRUE(serverHasFeature(*alice, "urn:xmpp:pep-vcard-conversion:0"));
}

// Items live in the database: a restarted parleyd serves them; then deleting the account
// (`parleyctl user del`) leaves no PEP row behind (checked in the SQLite/MySQL database itself).
TEST_F(PepTest, ItemsSurviveRestartAndGoWithTheAccount) {
  {
    auto alice = login("alice", "phone");
    ASSERT_TRUE(isResult(publish(*alice, kDevices, "current", kDeviceList,
                                 publishOptions(field("pubsub#access_model", "open")))));
    ASSERT_TRUE(
        isResult(publish(*alice, kNick, "n", "<nick xmlns='http://jabber.org/protocol/nick'>Al</nick>")));
    auto carol = login("carol", "c");
    ASSERT_TRUE(
        isResult(publish(*carol, kNick, "n", "<nick xmlns='http://jabber.org/protocol/nick'>C</nick>")));
  }
  ASSERT_EQ(server.stop(), 0);
  server.start();
  auto bob = login("bob", "laptop");
  auto fetched = items(*bob, "alice@localhost", kDevices);
  ASSERT_TRUE(isResult(fetched));
  EXPECT_EQ(itemIds(fetched), std::vector<std::string>{"current"});

  auto count = [this](const std::string& table, const std::string& user) {
    auto db = storage::openDatabase(server.storageConfig());
    return db->connection()
        .query("SELECT COUNT(*) FROM " + table + " WHERE domain = ? AND username = ?",
               {std::string("localhost"), user})[0]
        .getInt(0);
  };
  EXPECT_EQ(count("pep_nodes", "alice"), 2);
  EXPECT_EQ(count("pep_items", "alice"), 2);
  auto [status, out] =
      runProgram({PARLEYCTL_PATH, "--config", server.configPath(), "user", "del", "alice@localhost"});
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(count("pep_nodes", "alice"), 0);
  EXPECT_EQ(count("pep_items", "alice"), 0);
  EXPECT_EQ(count("pep_items", "carol"), 1);  // others untouched
}

// XEP-0163 §6.1: the account is a pubsub/pep service with the XEP-0060 features clients check.
TEST_F(PepTest, AccountAdvertisesPep) {
  auto alice = login("alice", "phone");
  auto info = alice->request(
      "<iq type='get' id='d1' to='alice@localhost'><query xmlns='" + std::string(kInfo) + "'/></iq>", "d1");
  ASSERT_TRUE(isResult(info));
  const auto* q = info->child("query", kInfo);
  bool pep = false;
  for (const auto& i : q->childrenNamed("identity", kInfo))
    if (i->attr("category") == "pubsub" && i->attr("type") == "pep") pep = true;
  EXPECT_TRUE(pep);
  std::vector<std::string> features;
  for (const auto& f : q->childrenNamed("feature", kInfo)) features.emplace_back(f->attr("var"));
  for (const char* f :
       {"http://jabber.org/protocol/pubsub#publish", "http://jabber.org/protocol/pubsub#publish-options",
        "http://jabber.org/protocol/pubsub#access-open", "http://jabber.org/protocol/pubsub#auto-create",
        "http://jabber.org/protocol/pubsub#filtered-notifications",
        "http://jabber.org/protocol/pubsub#last-published", "urn:xmpp:pep-vcard-conversion:0"})
    EXPECT_NE(std::find(features.begin(), features.end(), f), features.end()) << f;
}

}  // namespace
}  // namespace parley::test
