// Shared bits of the module integration tests (xep/*): a server with two or three users, clients that
// log in as them, and checks on stanza errors.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "support/test_server.h"
#include "support/xmpp_client.h"

namespace parley::test {

inline constexpr const char* kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";

// True when `reply` is a stanza error with that defined condition.
inline bool isError(const xml::ElementPtr& reply, const std::string& condition) {
  if (!reply || reply->attr("type") != "error") return false;
  const auto* err = reply->child("error", "jabber:client");
  return err && err->child(condition, kStanzasNs);
}

inline bool isResult(const xml::ElementPtr& reply) {
  return reply && reply->attr("type") == "result";
}

// disco#info of the server has this feature.
inline bool serverHasFeature(XmppClient& c, const std::string& var) {
  auto info = c.request(
      "<iq type='get' id='disco-f' to='localhost'>"
      "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
      "disco-f");
  if (!isResult(info)) return false;
  for (const auto& f : info->child("query", "http://jabber.org/protocol/disco#info")
                           ->childrenNamed("feature", "http://jabber.org/protocol/disco#info"))
    if (f->attr("var") == var) return true;
  return false;
}

// A data form field with one value (XEP-0004).
inline std::string field(const std::string& var, const std::string& value) {
  return "<field var='" + var + "'><value>" + value + "</value></field>";
}

class ModuleTest : public ::testing::Test {
 protected:
  explicit ModuleTest(std::string extraConfig = {}) : server(options(std::move(extraConfig))) {}
  static TestServerOptions options(std::string extra) {
    TestServerOptions o;
    o.extra = std::move(extra);
    return o;
  }
  void SetUp() override {
    for (const char* u : {"alice", "bob", "carol"}) server.addUser(u, std::string(u) + "-secret");
    server.start();
  }
  std::unique_ptr<XmppClient> client(const std::string& user, const std::string& resource) {
    auto c =
        std::make_unique<XmppClient>(server.jid(user) + "/" + resource, user + "-secret", server.c2sPort());
    EXPECT_TRUE(c->connect()) << user << ": " << c->error();
    return c;
  }
  // `from` approves `to`'s subscription to its presence (RFC 6121 §3.1): afterwards `to` may see
  // `from`'s presence (and last activity).
  void approveSubscription(XmppClient& to, XmppClient& from, const std::string& fromBare,
                           const std::string& toBare) {
    to.send("<presence to='" + fromBare + "' type='subscribe'/>");
    ASSERT_TRUE(from.expect(isPresence().from(toBare).type("subscribe")));
    from.send("<presence to='" + toBare + "' type='subscribed'/>");
    ASSERT_TRUE(to.expect(isPresence().from(fromBare).type("subscribed")));
  }
  TestServer server;
};

}  // namespace parley::test
