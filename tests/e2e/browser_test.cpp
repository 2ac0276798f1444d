// The real-browser test (issue 5): Converse.js 14 in Debian's Chromium, headless, driven by
// playwright-core (tests/e2e/converse_chat.mjs), connects to a real parleyd over RFC 7395 WebSocket
// (plain ws:// on loopback, declared secure as behind a TLS proxy), logs in with SCRAM, and chats with a
// libstrophe client on the TCP listener, both ways. The test fails if either message does not arrive.
//
// Runs only under the ctest label `browser` (its own executable parley_e2e_tests, tests/CMakeLists.txt); its
// dependencies (chromium, npm packages in tests/e2e) come from contrib/install-deps.sh.
#include <filesystem>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/test_server.h"
#include "tests/support/xmpp_client.h"

namespace parley::test {
namespace {

TEST(BrowserTest, ConverseJsChatsWithLibstropheOverWebSocket) {
  const std::string dir = PARLEY_E2E_DIR;
  const char* chromiumEnv = std::getenv("CHROMIUM");
  const std::string chromium = chromiumEnv ? chromiumEnv : "/usr/bin/chromium";
  ASSERT_TRUE(std::filesystem::exists(dir + "/node_modules/playwright-core"))
      << "npm packages missing: run contrib/install-deps.sh (npm ci in tests/e2e)";
  ASSERT_TRUE(std::filesystem::exists(dir + "/node_modules/converse.js/dist/converse.min.js"));
  ASSERT_TRUE(std::filesystem::exists(chromium)) << chromium << " missing: run contrib/install-deps.sh";

  TestServerOptions options;
  options.extra =
      "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n\n"
      "[modules.websocket]\nplain_is_secure = true\n";
  TestServer server(options);
  server.addUser("alice", "wonderland");
  server.addUser("bob", "builder");
  server.start();
  ASSERT_NE(server.httpPort(), 0);

  XmppClient bob(server.jid("bob"), "builder", server.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.becomeAvailable();

  const std::string toBob = "Hello from Converse.js in Chromium";
  const std::string toAlice = "Hello back from libstrophe";
  auto browser = std::async(std::launch::async, [&] {
    return runProgram(
        {"/usr/bin/env",
         "PARLEY_WS_URL=ws://127.0.0.1:" + std::to_string(server.httpPort()) + "/xmpp-websocket",
         "PARLEY_JID=alice@localhost", "PARLEY_PASSWORD=wonderland", "PARLEY_PEER=bob@localhost",
         "PARLEY_SEND=" + toBob, "PARLEY_EXPECT=" + toAlice, "PARLEY_TIMEOUT_MS=90000",
         "CHROMIUM=" + chromium, "node", dir + "/converse_chat.mjs"},
        std::chrono::seconds(150));
  });

  // Converse.js -> libstrophe.
  auto got = bob.expect(isMessage().body(toBob).where([](const xml::Element& e) {
    return std::string(e.attr("from")).rfind("alice@localhost/", 0) == 0;
  }),
                        std::chrono::seconds(120));
  if (got) {
    // libstrophe -> Converse.js: to the full JID the message came from.
    bob.send("<message to='" + std::string(got->attr("from")) + "' type='chat' id='reply1'><body>" + toAlice +
             "</body></message>");
  }
  auto [status, output] = browser.get();
  EXPECT_TRUE(got) << "bob never received the browser's message; browser output:\n" << output;
  EXPECT_EQ(status, 0) << "the browser did not receive bob's message:\n" << output;
  EXPECT_NE(output.find("RECEIVED"), std::string::npos) << output;
  EXPECT_TRUE(server.waitForLog("transport=websocket")) << "the browser did not come in over WebSocket";
}

// Issue 4: a real client joins a room as a new user would. libstrophe creates and unlocks the room
// (XEP-0045 §10.1.2 instant room); Converse.js joins it over WebSocket, both see each other's groupchat
// message, and bob sees the browser user's presence in the room.
TEST(BrowserTest, ConverseJsJoinsARoomAndTalksToLibstrophe) {
  const std::string dir = PARLEY_E2E_DIR;
  const char* chromiumEnv = std::getenv("CHROMIUM");
  const std::string chromium = chromiumEnv ? chromiumEnv : "/usr/bin/chromium";
  ASSERT_TRUE(std::filesystem::exists(dir + "/node_modules/converse.js/dist/converse.min.js"));
  ASSERT_TRUE(std::filesystem::exists(chromium)) << chromium << " missing: run contrib/install-deps.sh";

  TestServerOptions options;
  options.extra =
      "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n\n"
      "[modules.websocket]\nplain_is_secure = true\n";
  TestServer server(options);
  server.addUser("alice", "wonderland");
  server.addUser("bob", "builder");
  server.start();

  const std::string room = "lobby@muc.localhost";
  XmppClient bob(server.jid("bob"), "builder", server.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.send("<presence to='" + room + "/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>");
  ASSERT_TRUE(bob.expect(isPresence().from(room + "/bob")));
  bob.send("<iq type='set' to='" + room +
           "' id='unlock'><query xmlns='http://jabber.org/protocol/muc#owner'>"
           "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
  ASSERT_TRUE(bob.expect(isIq().id("unlock").type("result")));

  const std::string fromWeb = "Hello room, from Converse.js";
  const std::string fromBob = "Welcome, says libstrophe";
  auto browser = std::async(std::launch::async, [&] {
    return runProgram(
        {"/usr/bin/env",
         "PARLEY_WS_URL=ws://127.0.0.1:" + std::to_string(server.httpPort()) + "/xmpp-websocket",
         "PARLEY_JID=alice@localhost", "PARLEY_PASSWORD=wonderland", "PARLEY_PEER=" + room,
         "PARLEY_ROOM=" + room, "PARLEY_NICK=alice-web", "PARLEY_SEND=" + fromWeb, "PARLEY_EXPECT=" + fromBob,
         "PARLEY_TIMEOUT_MS=90000", "CHROMIUM=" + chromium, "node", dir + "/converse_chat.mjs"},
        std::chrono::seconds(150));
  });
  EXPECT_TRUE(bob.expect(isPresence().from(room + "/alice-web"), std::chrono::seconds(120)))
      << "the browser user never appeared in the room";
  auto got = bob.expect(isMessage().type("groupchat").from(room + "/alice-web").body(fromWeb),
                        std::chrono::seconds(120));
  if (got)
    bob.send("<message to='" + room + "' type='groupchat' id='welcome'><body>" + fromBob +
             "</body></message>");
  auto [status, output] = browser.get();
  EXPECT_TRUE(got) << "the browser's groupchat message never reached bob; browser output:\n" << output;
  EXPECT_EQ(status, 0) << "the browser did not receive bob's groupchat message:\n" << output;
  EXPECT_NE(output.find("JOINED"), std::string::npos) << output;
}

}  // namespace
}  // namespace parley::test
