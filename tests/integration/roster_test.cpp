// RFC 6121 §2 (the roster) and §3 (presence subscriptions) through real clients: roster gets, sets,
// pushes and their error cases, roster versioning (XEP-0237) across reconnects and restarts, and the
// subscription state machine as both accounts' rosters see it.
#include "integration/im_helpers.h"
#include "support/raw_client.h"

namespace parley::test {
namespace {

class RosterTest : public ImTest {};

// RFC 6121 §2.1.3, §2.1.4, §2.6.3: the result for an empty roster is an empty <query/>, and a server
// that supports versioning always says which version it is.
TEST_F(RosterTest, EmptyRosterResultCarriesAVersion) {
  auto alice = client("alice", "a");
  auto r = rosterGet(*alice, "r1");
  ASSERT_TRUE(isResult(r));
  const auto* query = rosterQuery(r);
  ASSERT_TRUE(query);
  EXPECT_TRUE(query->hasAttr("ver"));
  EXPECT_FALSE(query->attr("ver").empty());
  EXPECT_EQ(query->childCount(), 0u);
}

// RFC 6121 §2.3.2, §2.1.6, §2.2: a roster set is answered, and pushed to every interested resource
// (one that asked for the roster), including the one that made the change; a resource that never
// asked, even an available one, gets no push.
TEST_F(RosterTest, SetIsPushedToInterestedResourcesOnly) {
  auto phone = login("alice", "phone");
  auto laptop = login("alice", "laptop", /*available=*/false);  // interested, not available
  auto tablet = client("alice", "tablet");                      // available, never asked
  tablet->becomeAvailable();

  auto result =
      rosterSet(*phone, "add1",
                "<item jid='bob@localhost' name='Bob'><group>Friends</group><group>Work</group></item>");
  ASSERT_TRUE(isResult(result));
  std::string ver;
  for (auto* c : {phone.get(), laptop.get()}) {
    auto push = expectPush(*c, "bob@localhost");
    ASSERT_TRUE(push);
    EXPECT_EQ(push->attr("to"), c->jid());
    EXPECT_FALSE(rosterQuery(push)->attr("ver").empty());
    ver = std::string(rosterQuery(push)->attr("ver"));
    const auto* item = pushedItem(push);
    EXPECT_EQ(item->attr("name"), "Bob");
    EXPECT_EQ(item->attr("subscription"), "none");
    EXPECT_FALSE(item->hasAttr("ask"));
    EXPECT_EQ(groupsOf(*item), (std::vector<std::string>{"Friends", "Work"}));
  }
  EXPECT_TRUE(tablet->expectNothing(isRosterPush("bob@localhost")));

  auto roster = rosterGet(*tablet, "r2");
  ASSERT_TRUE(isResult(roster));
  EXPECT_EQ(rosterQuery(roster)->attr("ver"), ver);
  const auto* item = rosterItem(roster, "bob@localhost");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->attr("name"), "Bob");
  EXPECT_EQ(groupsOf(*item), (std::vector<std::string>{"Friends", "Work"}));
}

// RFC 6121 §2.4.2: an update replaces the item's name and groups; leaving them out removes them.
TEST_F(RosterTest, UpdateReplacesNameAndGroups) {
  auto alice = login("alice", "a");
  ASSERT_TRUE(isResult(
      rosterSet(*alice, "s1", "<item jid='bob@localhost' name='Bob'><group>Friends</group></item>")));
  ASSERT_TRUE(expectPush(*alice, "bob@localhost"));

  ASSERT_TRUE(isResult(
      rosterSet(*alice, "s2", "<item jid='bob@localhost' name='Robert'><group>Work</group></item>")));
  auto push = expectPush(*alice, "bob@localhost");
  ASSERT_TRUE(push);
  EXPECT_EQ(pushedItem(push)->attr("name"), "Robert");
  EXPECT_EQ(groupsOf(*pushedItem(push)), std::vector<std::string>{"Work"});

  ASSERT_TRUE(isResult(rosterSet(*alice, "s3", "<item jid='bob@localhost'/>")));
  push = expectPush(*alice, "bob@localhost");
  ASSERT_TRUE(push);
  EXPECT_FALSE(pushedItem(push)->hasAttr("name"));
  EXPECT_TRUE(groupsOf(*pushedItem(push)).empty());

  auto roster = rosterGet(*alice, "r");
  const auto* item = rosterItem(roster, "bob@localhost");
  ASSERT_TRUE(item);
  EXPECT_FALSE(item->hasAttr("name"));
  EXPECT_TRUE(groupsOf(*item).empty());
  EXPECT_EQ(rosterQuery(roster)->childCount(), 1u);
}

// RFC 6121 §2.5.2: removal is answered and pushed with subscription='remove'. §2.5.3: removing an
// item that is not in the roster is <item-not-found/>.
TEST_F(RosterTest, RemoveIsPushedAndUnknownItemsAreNotFound) {
  auto phone = login("alice", "phone");
  auto laptop = login("alice", "laptop");
  ASSERT_TRUE(isResult(rosterSet(*phone, "add", "<item jid='bob@localhost'/>")));
  for (auto* c : {phone.get(), laptop.get()}) ASSERT_TRUE(expectPush(*c, "bob@localhost", "none"));

  ASSERT_TRUE(isResult(rosterSet(*phone, "rm", "<item jid='bob@localhost' subscription='remove'/>")));
  for (auto* c : {phone.get(), laptop.get()}) ASSERT_TRUE(expectPush(*c, "bob@localhost", "remove"));
  auto roster = rosterGet(*laptop, "r");
  ASSERT_TRUE(isResult(roster));
  EXPECT_EQ(rosterQuery(roster)->childCount(), 0u);

  EXPECT_TRUE(isError(rosterSet(*phone, "rm2", "<item jid='bob@localhost' subscription='remove'/>"),
                      "item-not-found"));
  EXPECT_TRUE(isError(rosterSet(*phone, "rm3", "<item jid='nobody@localhost' subscription='remove'/>"),
                      "item-not-found"));
  EXPECT_TRUE(phone->expectNothing(isRosterPush("bob@localhost")));
}

// RFC 6121 §2.3.3: <bad-request/> for more than one item or a repeated group, <not-acceptable/> for an
// empty group or an overlong name. The user's own JID is refused with <not-allowed/>: RFC 6121 states
// no rule for it; Parley, like Prosody, keeps an account out of its own roster. Nothing is stored and
// nothing is pushed.
TEST_F(RosterTest, MalformedSetsAreRefused) {
  auto alice = login("alice", "a");
  EXPECT_TRUE(isError(rosterSet(*alice, "two", "<item jid='bob@localhost'/><item jid='carol@localhost'/>"),
                      "bad-request"));
  EXPECT_TRUE(
      isError(rosterSet(*alice, "dup", "<item jid='bob@localhost'><group>A</group><group>A</group></item>"),
              "bad-request"));
  EXPECT_TRUE(isError(rosterSet(*alice, "empty", "<item jid='bob@localhost'><group></group></item>"),
                      "not-acceptable"));
  EXPECT_TRUE(
      isError(rosterSet(*alice, "empty2", "<item jid='bob@localhost'><group/></item>"), "not-acceptable"));
  EXPECT_TRUE(
      isError(rosterSet(*alice, "long", "<item jid='bob@localhost' name='" + std::string(1025, 'x') + "'/>"),
              "not-acceptable"));
  EXPECT_TRUE(isError(rosterSet(*alice, "self", "<item jid='alice@localhost' name='Me'/>"), "not-allowed"));

  EXPECT_TRUE(alice->expectNothing(isIq().type("set")));
  auto roster = rosterGet(*alice, "r");
  ASSERT_TRUE(isResult(roster));
  EXPECT_EQ(rosterQuery(roster)->childCount(), 0u);
}

// RFC 6121 §2.3.3: a roster set from anyone but the account itself is <forbidden/>. A roster get for
// someone else's account (§2.1.3, handled by the server for the account, §8.5.2.1.3) is refused too:
// <forbidden/>, or <service-unavailable/> to hide that the account exists (RFC 6120 §8.3.3.19).
TEST_F(RosterTest, AnotherAccountsRosterIsOffLimits) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  ASSERT_TRUE(isResult(rosterSet(*bob, "b1", "<item jid='carol@localhost' name='Carol'/>")));
  ASSERT_TRUE(expectPush(*bob, "carol@localhost"));

  auto get =
      alice->request("<iq type='get' id='g' to='bob@localhost'><query xmlns='jabber:iq:roster'/></iq>", "g");
  ASSERT_TRUE(get);
  EXPECT_TRUE(isError(get, "forbidden") || isError(get, "service-unavailable"))
      << "got type=" << get->attr("type");
  EXPECT_FALSE(rosterItem(get, "carol@localhost")) << "bob's roster leaked";

  auto set = alice->request(
      "<iq type='set' id='s' to='bob@localhost'><query xmlns='jabber:iq:roster'>"
      "<item jid='mallory@localhost'/></query></iq>",
      "s");
  EXPECT_TRUE(isError(set, "forbidden"));
  EXPECT_TRUE(bob->expectNothing(isRosterPush("mallory@localhost")));
  auto roster = rosterGet(*bob, "r");
  EXPECT_FALSE(rosterItem(roster, "mallory@localhost"));
  EXPECT_TRUE(rosterItem(roster, "carol@localhost"));
}

// RFC 6121 §2.1.2.5, §2.1.2.2, §2.1.2.1: subscription state is not the client's to set. A roster set
// claiming subscription='both', ask or approved grants nothing (whatever the reply).
TEST_F(RosterTest, SubscriptionStateCannotBeSetByTheClient) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  auto reply = rosterSet(*alice, "claim",
                         "<item jid='bob@localhost' subscription='both' ask='subscribe' approved='true'/>");
  ASSERT_TRUE(reply);
  if (isResult(reply)) {
    EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "none");
  }
  EXPECT_NE(rosterState(*alice, "bob@localhost").substr(0, 4), "both");
  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "(no item)");
  EXPECT_TRUE(bob->expectNothing(isPresence().from("alice@localhost")));
  bob->send("<presence><status>private</status></presence>");
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid())));
}

// RFC 6121 §2.6 (XEP-0237): a client holding the current version gets an empty result; after a
// change, an old version gets the whole roster and the new version. Versions live in the database,
// so they hold across reconnects and restarts of the server.
TEST_F(RosterTest, VersionsSurviveReconnectsAndRestarts) {
  auto alice = login("alice", "a");
  auto first = rosterGet(*alice, "v0", "");
  ASSERT_TRUE(isResult(first) && rosterQuery(first));
  const std::string v0(rosterQuery(first)->attr("ver"));
  ASSERT_FALSE(v0.empty());

  auto same = rosterGet(*alice, "v0b", v0);
  ASSERT_TRUE(isResult(same));
  EXPECT_EQ(same->childCount(), 0u) << "current version: an empty result (RFC 6121 §2.6.3)";

  ASSERT_TRUE(isResult(rosterSet(*alice, "add", "<item jid='bob@localhost' name='Bob'/>")));
  auto push = expectPush(*alice, "bob@localhost");
  ASSERT_TRUE(push);
  const std::string v1(rosterQuery(push)->attr("ver"));
  EXPECT_NE(v1, v0);

  auto changed = rosterGet(*alice, "v1", v0);
  ASSERT_TRUE(isResult(changed) && rosterQuery(changed));
  EXPECT_EQ(rosterQuery(changed)->attr("ver"), v1);
  EXPECT_TRUE(rosterItem(changed, "bob@localhost"));
  EXPECT_EQ(rosterGet(*alice, "v1b", v1)->childCount(), 0u);

  // Reconnect.
  alice->disconnect();
  alice = client("alice", "a2");
  auto again = rosterGet(*alice, "v1c", v1);
  ASSERT_TRUE(isResult(again));
  EXPECT_EQ(again->childCount(), 0u) << "the version is the same after a reconnect";

  // Restart.
  alice->disconnect();
  alice.reset();
  ASSERT_EQ(server.stop(), 0);
  server.start();
  alice = client("alice", "a3");
  auto restarted = rosterGet(*alice, "v1d", v1);
  ASSERT_TRUE(isResult(restarted));
  EXPECT_EQ(restarted->childCount(), 0u) << "the version is the same after a restart";
  auto full = rosterGet(*alice, "v0c", v0);
  ASSERT_TRUE(isResult(full) && rosterQuery(full));
  EXPECT_EQ(rosterQuery(full)->attr("ver"), v1);
  const auto* item = rosterItem(full, "bob@localhost");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->attr("name"), "Bob");

  // And it moves on from there.
  ASSERT_TRUE(isResult(rosterSet(*alice, "add2", "<item jid='carol@localhost'/>")));
  auto push2 = expectPush(*alice, "carol@localhost");
  ASSERT_TRUE(push2);
  EXPECT_NE(rosterQuery(push2)->attr("ver"), v1);
  EXPECT_NE(rosterQuery(push2)->attr("ver"), v0);
}

// --- Subscriptions (RFC 6121 §3) -----------------------------------------------------------------
// Roster states below are written as stateOf() does: "none+ask" is subscription='none' ask='subscribe'.

class RosterSubscriptionTest : public ImTest {};

// RFC 6121 §3.1.3: a request to a contact with no available resource is kept and delivered when the
// contact next sends initial presence (not merely when it connects), and at every later login until
// it is answered.
TEST_F(RosterSubscriptionTest, RequestWaitsForTheContactAndComesBackUntilAnswered) {
  auto alice = login("alice", "a");
  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "none+ask");

  auto bob = client("bob", "b1");
  EXPECT_TRUE(bob->expectNothing(isPresence().type("subscribe"), 400ms))
      << "delivered before initial presence";
  bob->becomeAvailable();
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));
  bob->disconnect();

  // Unanswered: again at the next login.
  bob = client("bob", "b2");
  bob->becomeAvailable();
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));
  bob->send("<presence to='alice@localhost' type='subscribed'/>");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribed")));
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "to");
  bob->disconnect();

  // Answered: not any more.
  bob = client("bob", "b3");
  bob->becomeAvailable();
  EXPECT_TRUE(bob->expectNothing(isPresence().type("subscribe")));
}

// RFC 6121 §8.5.1: a request for an account that does not exist is silently ignored: no reply, and
// nothing kept for someone who registers that name later.
TEST_F(RosterSubscriptionTest, RequestToAnAccountThatDoesNotExistIsIgnored) {
  auto alice = login("alice", "a");
  const auto mark = server.logs().size();
  alice->send("<presence to='nobody@localhost' type='subscribe'/>");
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "nobody@localhost"))), "none+ask");
  // Processed for the (missing) account: the roster service logs every change it handled.
  ASSERT_TRUE(server.waitForLog("user=nobody@localhost contact=alice@localhost", 5s, mark));
  EXPECT_TRUE(alice->expectNothing(isPresence().from("nobody@localhost")));

  server.addUser("nobody", "nobody-secret");
  auto nobody = login("nobody", "n");
  EXPECT_TRUE(nobody->expectNothing(isPresence().type("subscribe")));
  EXPECT_EQ(rosterState(*nobody, "alice@localhost"), "(no item)");
}

// RFC 6121 §3.1.2 – §3.1.6: while the request is pending the user's item says ask='subscribe' and the
// contact's roster shows nothing. Approval gives the user 'to' (no ask), the contact 'from', and the
// user the contact's current presence; the contact does not see the user's.
TEST_F(RosterSubscriptionTest, ApprovalIsPushedToBothRosters) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");

  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "none+ask");
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));
  EXPECT_TRUE(bob->expectNothing(isRosterPush("alice@localhost"), 300ms));
  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "(no item)") << "a pending request is not a roster item";

  bob->send("<presence to='alice@localhost' type='subscribed'/>");
  EXPECT_EQ(stateOf(pushedItem(expectPush(*bob, "alice@localhost"))), "from");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribed")));
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "to");
  EXPECT_TRUE(alice->expect(availableFrom(bob->jid()))) << "the contact's presence follows approval";
  EXPECT_TRUE(bob->expectNothing(availableFrom(alice->jid()), 300ms)) << "bob is not subscribed to alice";

  EXPECT_EQ(rosterState(*alice, "bob@localhost"), "to");
  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "from");
}

// RFC 6121 §3.1.4, §3.2.3: the contact denies with 'unsubscribed'; the user is told, the ask flag is
// cleared, and the request does not come back to the contact.
TEST_F(RosterSubscriptionTest, DenialClearsTheAskFlag) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  ASSERT_TRUE(expectPush(*alice, "bob@localhost"));
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));

  bob->send("<presence to='alice@localhost' type='unsubscribed'/>");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("unsubscribed")));
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "none");
  EXPECT_EQ(rosterState(*alice, "bob@localhost"), "none");
  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "(no item)");

  bob->disconnect();
  bob = login("bob", "b2");
  EXPECT_TRUE(bob->expectNothing(isPresence().type("subscribe")));
}

// RFC 6121 §3.3: the user unsubscribes from the contact's presence. Both rosters drop the
// subscription; every available resource of the contact gets the 'unsubscribe' (§3.3.3 step 1) and
// every interested one a push (step 2); the user gets 'unavailable' from each of the contact's
// available resources (step 3) and no presence from the contact afterwards.
TEST_F(RosterSubscriptionTest, UnsubscribeUpdatesBothSides) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b1");
  subscribe(*alice, *bob);
  auto bob2 = login("bob", "b2");
  ASSERT_TRUE(alice->expect(availableFrom(bob2->jid())));

  alice->send("<presence to='bob@localhost' type='unsubscribe'/>");
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "none");
  for (auto* b : {bob.get(), bob2.get()}) {
    EXPECT_TRUE(b->expect(isPresence().from("alice@localhost").type("unsubscribe"))) << b->jid();
    EXPECT_EQ(stateOf(pushedItem(expectPush(*b, "alice@localhost"))), "none") << b->jid();
  }
  EXPECT_TRUE(alice->expect(unavailableFrom(bob->jid()))) << "RFC 6121 §3.3.3 step 3";
  EXPECT_TRUE(alice->expect(unavailableFrom(bob2->jid()))) << "RFC 6121 §3.3.3 step 3";

  bob->send("<presence><show>away</show></presence>");
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid())));
  EXPECT_EQ(rosterState(*alice, "bob@localhost"), "none");
  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "none");
}

// RFC 6121 §3.2: the contact cancels (revokes) a subscription it approved. The user is told and gets
// 'unavailable' from the contact's resources (§3.2.2), both rosters say 'none', and the contact's
// later presence no longer reaches the user.
TEST_F(RosterSubscriptionTest, RevokedSubscriberGetsUnavailableAndNothingMore) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  subscribe(*alice, *bob);

  bob->send("<presence to='alice@localhost' type='unsubscribed'/>");
  EXPECT_EQ(stateOf(pushedItem(expectPush(*bob, "alice@localhost"))), "none");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("unsubscribed")));
  EXPECT_EQ(stateOf(pushedItem(expectPush(*alice, "bob@localhost"))), "none");
  EXPECT_TRUE(alice->expect(unavailableFrom(bob->jid())));

  bob->send("<presence><show>dnd</show></presence>");
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid())));
  EXPECT_EQ(rosterState(*alice, "bob@localhost"), "none");
  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "none");
}

// RFC 6121 §3.4: the server advertises pre-approval; a 'subscribed' sent before any request is not
// routed but marks the item approved='true'; the later request is approved by the server without
// asking the contact.
TEST_F(RosterSubscriptionTest, PreApprovalAnswersTheLaterRequest) {
  RawClient raw(server.c2sPort());
  raw.openStream();
  ASSERT_TRUE(raw.startTls());
  raw.openStream();
  ASSERT_TRUE(raw.authenticate("bob", "bob-secret", "SCRAM-SHA-256"));
  const std::string features = raw.openStream();
  EXPECT_NE(features.find("urn:xmpp:features:pre-approval"), std::string::npos) << features;
  EXPECT_NE(features.find("urn:xmpp:features:rosterver"), std::string::npos) << features;  // RFC 6121 §2.6.1

  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  bob->send("<presence to='alice@localhost' type='subscribed'/>");
  EXPECT_EQ(stateOf(pushedItem(expectPush(*bob, "alice@localhost"))), "none+approved");
  EXPECT_TRUE(alice->expectNothing(isPresence().type("subscribed"))) << "a pre-approval is not routed";

  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribed")));
  EXPECT_TRUE(expectPush(*alice, "bob@localhost", "to"));
  EXPECT_TRUE(alice->expect(availableFrom(bob->jid())));
  EXPECT_EQ(stateOf(pushedItem(expectPush(*bob, "alice@localhost", "from"))), "from");
  EXPECT_TRUE(bob->expectNothing(isPresence().type("subscribe"))) << "the contact is not asked";
  EXPECT_EQ(rosterState(*alice, "bob@localhost"), "to");
}

// RFC 6121 §3.1.3: a request from a user who is already subscribed is answered by the contact's
// server; the contact is not asked again and neither roster changes.
TEST_F(RosterSubscriptionTest, RepeatedRequestIsAnsweredByTheServer) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  subscribe(*alice, *bob);

  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  EXPECT_TRUE(bob->expectNothing(isPresence().type("subscribe")));
  EXPECT_TRUE(alice->expectNothing(isRosterPush("bob@localhost"), 100ms));
  EXPECT_TRUE(bob->expectNothing(isRosterPush("alice@localhost"), 100ms));
  EXPECT_EQ(rosterState(*alice, "bob@localhost"), "to");
  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "from");
}

// RFC 6121 §3.1.2, §3.1.5, §3.2.2, §3.3.2: subscription presences leave stamped with the sender's bare
// JID, whatever resource sent them and whatever resource they were addressed to.
TEST_F(RosterSubscriptionTest, SubscriptionPresencesCarryBareJids) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  alice->send("<presence to='" + bob->jid() + "' type='subscribe'/>");
  auto p = bob->expect(isPresence().type("subscribe"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->attr("from"), "alice@localhost");

  bob->send("<presence to='" + alice->jid() + "' type='subscribed'/>");
  p = alice->expect(isPresence().type("subscribed"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->attr("from"), "bob@localhost");

  alice->send("<presence to='" + bob->jid() + "' type='unsubscribe'/>");
  p = bob->expect(isPresence().type("unsubscribe"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->attr("from"), "alice@localhost");

  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  ASSERT_TRUE(bob->expect(isPresence().type("subscribe")));
  bob->send("<presence to='" + alice->jid() + "' type='unsubscribed'/>");
  p = alice->expect(isPresence().type("unsubscribed"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->attr("from"), "bob@localhost");
}

// RFC 6121 §2.5.2: removing a contact with subscription 'both' cancels both directions: the contact
// gets 'unsubscribe' and 'unsubscribed', its roster ends at 'none', and presence stops flowing both
// ways (each side gets the other's 'unavailable', §3.2.2 and §3.3.3).
TEST_F(RosterSubscriptionTest, RemovingABothContactCancelsBothDirections) {
  auto alice = login("alice", "a");
  auto bob = login("bob", "b");
  subscribeBothWays(*alice, *bob);

  ASSERT_TRUE(isResult(rosterSet(*alice, "rm", "<item jid='bob@localhost' subscription='remove'/>")));
  EXPECT_TRUE(expectPush(*alice, "bob@localhost", "remove"));
  EXPECT_TRUE(bob->expect(isPresence().from("alice@localhost").type("unsubscribe")));
  EXPECT_TRUE(bob->expect(isPresence().from("alice@localhost").type("unsubscribed")));
  EXPECT_TRUE(expectPush(*bob, "alice@localhost", "none"));
  EXPECT_TRUE(bob->expect(unavailableFrom(alice->jid())));
  EXPECT_TRUE(alice->expect(unavailableFrom(bob->jid()))) << "RFC 6121 §3.3.3 step 3";

  EXPECT_EQ(rosterState(*bob, "alice@localhost"), "none");
  EXPECT_EQ(rosterState(*alice, "bob@localhost"), "(no item)");

  alice->send("<presence><status>still here</status></presence>");
  bob->send("<presence><status>me too</status></presence>");
  EXPECT_TRUE(bob->expectNothing(isPresence().from(alice->jid())));
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid()), 100ms));
}

}  // namespace
}  // namespace parley::test
