// XEP-0191 blocking command: block lists, pushes, and what a block does to messages, IQs and presence.
#include <atomic>
#include <thread>

#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kNs = "urn:xmpp:blocking";

std::vector<std::string> blocklist(XmppClient& c, const std::string& id) {
  auto reply = c.request("<iq type='get' id='" + id + "'><blocklist xmlns='urn:xmpp:blocking'/></iq>", id);
  std::vector<std::string> jids;
  if (!isResult(reply) || !reply->child("blocklist", kNs)) {
    ADD_FAILURE() << "no block list";
    return jids;
  }
  for (const auto& i : reply->child("blocklist", kNs)->childrenNamed("item", kNs))
    jids.emplace_back(i->attr("jid"));
  return jids;
}

class BlockingTest : public ModuleTest {};

TEST_F(BlockingTest, BlockBobThenHisMessagesBounce) {
  auto alice = client("alice", "a");
  auto alice2 = client("alice", "other");
  auto bob = client("bob", "b");
  alice->becomeAvailable();
  alice2->becomeAvailable();
  EXPECT_TRUE(serverHasFeature(*alice, kNs));
  EXPECT_TRUE(blocklist(*alice, "g1").empty());
  EXPECT_TRUE(blocklist(*alice2, "g1").empty());

  ASSERT_TRUE(isResult(alice->request(
      "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='Bob@LocalHost'/></block></iq>",
      "b1")));
  // §3.3: pushed to every resource that retrieved the list, with the normalised JID.
  for (auto* c : {alice.get(), alice2.get()}) {
    auto push = c->expect(isIq().type("set").from("alice@localhost").child("block", kNs));
    ASSERT_TRUE(push);
    EXPECT_EQ(push->child("block", kNs)->child("item", kNs)->attr("jid"), "bob@localhost");
  }
  EXPECT_EQ(blocklist(*alice, "g2"), std::vector<std::string>{"bob@localhost"});

  // Bob's message bounces with <service-unavailable/> (§3.5) and never reaches Alice.
  bob->send("<message to='alice@localhost' type='chat' id='m1'><body>hello?</body></message>");
  EXPECT_TRUE(isError(bob->expect(isMessage().id("m1").type("error")), "service-unavailable"));
  EXPECT_TRUE(bob->expectNothing(isMessage().id("m1").type("error"), 300ms)) << "bounced once";
  // To a full JID too, and IQs.
  bob->send("<message to='" + alice->jid() + "' type='chat' id='m2'><body>psst</body></message>");
  EXPECT_TRUE(isError(bob->expect(isMessage().id("m2").type("error")), "service-unavailable"));
  EXPECT_TRUE(isError(
      bob->request("<iq type='get' id='i1' to='" + alice->jid() + "'><query xmlns='jabber:iq:version'/></iq>",
                   "i1"),
      "service-unavailable"));
  EXPECT_TRUE(alice->expectNothing(isMessage().from(bob->jid()), 300ms));
  EXPECT_TRUE(alice2->expectNothing(isMessage().from(bob->jid()), 100ms));
  // Nor can he query her account through the server (vCard, last activity, disco).
  EXPECT_TRUE(isError(
      bob->request("<iq type='get' id='i2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>", "i2"),
      "service-unavailable"));

  // Alice writing to Bob is refused with <not-acceptable/> and <blocked/> (§3.6).
  alice->send("<message to='bob@localhost' type='chat' id='m3'><body>hi bob</body></message>");
  auto err = alice->expect(isMessage().id("m3").type("error"));
  ASSERT_TRUE(isError(err, "not-acceptable"));
  EXPECT_TRUE(err->child("error", "jabber:client")->child("blocked", "urn:xmpp:blocking:errors"));
  EXPECT_TRUE(bob->expectNothing(isMessage().body("hi bob"), 300ms));

  // Unblocking lets messages through again, and is pushed too.
  ASSERT_TRUE(isResult(alice->request(
      "<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>",
      "u1")));
  ASSERT_TRUE(alice2->expect(isIq().type("set").child("unblock", kNs)));
  bob->send("<message to='" + alice->jid() + "' type='chat' id='m4'><body>again</body></message>");
  EXPECT_TRUE(alice->expect(isMessage().from(bob->jid()).body("again")));
}

TEST_F(BlockingTest, BlockingHidesPresence) {
  auto alice = client("alice", "a");
  auto bob = client("bob", "b");
  alice->becomeAvailable();
  bob->becomeAvailable();
  approveSubscription(*bob, *alice, "alice@localhost", "bob@localhost");
  ASSERT_TRUE(bob->expect(isPresence().from(alice->jid()).where([](auto& e) { return !e.hasAttr("type"); })));

  ASSERT_TRUE(isResult(alice->request(
      "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>",
      "b1")));
  // §3.3: Bob sees Alice go offline…
  ASSERT_TRUE(bob->expect(isPresence().from(alice->jid()).type("unavailable")));
  // …and no longer sees her presence changes.
  alice->send("<presence><show>dnd</show></presence>");
  EXPECT_TRUE(bob->expectNothing(isPresence().from(alice->jid()), 500ms));

  // §3.4: unblocking sends her current presence.
  ASSERT_TRUE(
      isResult(alice->request("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>", "u1")));
  auto p = bob->expect(isPresence().from(alice->jid()).where([](auto& e) { return !e.hasAttr("type"); }));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->childText("show", "jabber:client"), "dnd");
}

TEST_F(BlockingTest, DomainItemsAndUnblockAll) {
  auto alice = client("alice", "a");
  auto carol = client("carol", "c");
  alice->becomeAvailable();
  ASSERT_TRUE(
      isResult(alice->request("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'>"
                              "<item jid='spam.example'/><item jid='carol@localhost/c'/></block></iq>",
                              "b1")));
  // A blocked resource: only that one.
  carol->send("<message to='alice@localhost' type='chat' id='m1'><body>from c</body></message>");
  EXPECT_TRUE(isError(carol->expect(isMessage().id("m1").type("error")), "service-unavailable"));
  auto carol2 = client("carol", "other");
  carol2->send("<message to='" + alice->jid() + "' type='chat' id='m2'><body>from other</body></message>");
  EXPECT_TRUE(alice->expect(isMessage().body("from other")));
  // A blocked domain covers its users (no s2s yet, so the refusal is all we can see).
  alice->send("<message to='someone@spam.example' type='chat' id='m3'><body>x</body></message>");
  EXPECT_TRUE(isError(alice->expect(isMessage().id("m3").type("error")), "not-acceptable"));

  // §3.5: unblock with no items unblocks everyone.
  ASSERT_TRUE(
      isResult(alice->request("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>", "u1")));
  EXPECT_TRUE(blocklist(*alice, "g1").empty());
  carol->send("<message to='alice@localhost' type='chat' id='m4'><body>free again</body></message>");
  EXPECT_TRUE(alice->expect(isMessage().body("free again")));

  // Blocking again after the list went empty: the filters skip their lookups only while no online
  // account blocks anyone, and that count must come back.
  ASSERT_TRUE(isResult(alice->request(
      "<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/></block></iq>",
      "b2")));
  carol->send("<message to='alice@localhost' type='chat' id='m5'><body>blocked again</body></message>");
  EXPECT_TRUE(isError(carol->expect(isMessage().id("m5").type("error")), "service-unavailable"));
}

TEST_F(BlockingTest, RequestErrors) {
  auto alice = client("alice", "a");
  // §3.3: a block needs at least one item, and valid JIDs.
  EXPECT_TRUE(isError(alice->request("<iq type='set' id='e1'><block xmlns='urn:xmpp:blocking'/></iq>", "e1"),
                      "bad-request"));
  EXPECT_TRUE(isError(alice->request("<iq type='set' id='e2'><block xmlns='urn:xmpp:blocking'>"
                                     "<item jid='@localhost'/></block></iq>",
                                     "e2"),
                      "jid-malformed"));
  EXPECT_TRUE(blocklist(*alice, "g1").empty()) << "nothing was stored";
}

class BlockingLimitTest : public ModuleTest {
 protected:
  BlockingLimitTest() : ModuleTest("[modules.blocking]\nmax_items = 2\n") {}
};

TEST_F(BlockingLimitTest, ListIsBounded) {
  auto alice = client("alice", "a");
  ASSERT_TRUE(
      isResult(alice->request("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'>"
                              "<item jid='x@localhost'/><item jid='y@localhost'/></block></iq>",
                              "b1")));
  EXPECT_TRUE(isError(alice->request("<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'>"
                                     "<item jid='z@localhost'/></block></iq>",
                                     "b2"),
                      "not-acceptable"));
  // Blocking again what is already there is fine.
  EXPECT_TRUE(
      isResult(alice->request("<iq type='set' id='b3'><block xmlns='urn:xmpp:blocking'>"
                              "<item jid='x@localhost'/></block></iq>",
                              "b3")));
  EXPECT_EQ(blocklist(*alice, "g1"), (std::vector<std::string>{"x@localhost", "y@localhost"}));
}

// §3.5 holds from the first stanza a new session can receive: the stored list is loaded in the bind's
// own pool job (AccountBinding), not after the bind result. Bob sends IQs to alice/r without pause
// while alice logs in and out again and again; none may reach her. He also keeps 150 messages to her
// bare JID in flight: with her offline storage full, each is a pool job under her account's key that
// ends in an error back to him, so the queue stays busy, as on a loaded server, but bounded (a slow
// sanitizer build included). With the list loaded by a job of its own after the bind result, that job
// waited behind them and his IQs got through meanwhile (every run of this test failed that way).
class BlockingAtBindTest : public ModuleTest {
 protected:
  BlockingAtBindTest()
      : ModuleTest(
            "[limits]\nstanza_rate = 100000\nstanza_burst = 100000\n"
            "[modules.offline]\nmax_per_user = 1\n") {}
};

TEST_F(BlockingAtBindTest, ABlockedContactGetsNothingThroughWhileTheSessionBinds) {
  {
    auto alice = client("alice", "setup");
    ASSERT_TRUE(isResult(alice->request(
        "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>",
        "b1")));
    alice->disconnect();
  }
  auto bob = client("bob", "b");
  const std::string target = server.jid("alice") + "/r";
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread flood([&] {
    constexpr int kInFlight = 150;
    int inFlight = 0, next = 0;
    while (!stop) {
      std::string batch;  // one write per round
      for (int i = 0; i < 20; ++i)
        batch += "<iq type='get' id='v" + std::to_string(sent++) + "' to='" + target +
                 "'><query xmlns='jabber:iq:version'/></iq>";
      for (; inFlight < kInFlight; ++inFlight)
        batch += "<message type='chat' id='m" + std::to_string(next++) +
                 "' to='alice@localhost'><body>x</body></message>";
      bob->send(batch);
      bob->pump(std::chrono::milliseconds(1));
      for (const auto& e : bob->inbox())  // resource-constraint (storage full), or stored: the first
        if (e->name() == "message" && e->attr("id").substr(0, 1) == "m") --inFlight;
      bob->inbox().clear();
    }
  });
  int leaked = 0;
  for (int round = 0; round < 10 && leaked == 0; ++round) {
    auto alice = client("alice", "r");
    if (!alice->expectNothing(isIq().where([](const xml::Element& e) {
          return std::string(e.attr("from")).rfind("bob@localhost", 0) == 0;
        }),
                              50ms))
      ++leaked;
    alice->disconnect();
  }
  stop = true;
  flood.join();
  EXPECT_GT(sent.load(), 200) << "the flood ran during the logins";
  EXPECT_EQ(leaked, 0) << "an IQ from the blocked contact reached a session right after its bind";
}

}  // namespace
}  // namespace parley::test
