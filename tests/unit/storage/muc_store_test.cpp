// xep/muc/muc_store.cpp builds into parley_storage, so its conformance tests live here: persistent
// rooms round-trip every column, saving replaces the room and its whole affiliation list, services
// are kept apart.
#include "xep/muc/muc_store.h"

#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

using xep::muc::MucStore;
using xep::muc::StoredAffiliation;
using xep::muc::StoredRoom;

StoredRoom room(std::string name, std::string service = "muc.example.org") {
  StoredRoom r;
  r.domain = std::move(service);
  r.room = std::move(name);
  r.name = "Café 🦜 room";
  r.description = std::string(100'000, 'd');  // longer than MySQL's TEXT
  r.isPublic = false;
  r.membersOnly = true;
  r.moderated = true;
  r.password = "sécret";
  r.maxOccupants = 42;
  r.whois = "anyone";
  r.historyLength = 17;
  r.allowInvites = true;
  r.allowPm = "moderators";
  r.changeSubject = true;
  r.subject = "Today: 用户 and 🎉";
  r.subjectNick = "ålice";
  r.createdAt = 1'700'000'000;
  r.affiliations = {
      {"alice@example.org", "owner"}, {"bob@example.org", "member"}, {"eve@evil.example", "outcast"}};
  return r;
}

void expectSameRoom(const StoredRoom& a, const StoredRoom& b) {
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.room, b.room);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.isPublic, b.isPublic);
  EXPECT_EQ(a.membersOnly, b.membersOnly);
  EXPECT_EQ(a.moderated, b.moderated);
  EXPECT_EQ(a.password, b.password);
  EXPECT_EQ(a.maxOccupants, b.maxOccupants);
  EXPECT_EQ(a.whois, b.whois);
  EXPECT_EQ(a.historyLength, b.historyLength);
  EXPECT_EQ(a.allowInvites, b.allowInvites);
  EXPECT_EQ(a.allowPm, b.allowPm);
  EXPECT_EQ(a.changeSubject, b.changeSubject);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.subjectNick, b.subjectNick);
  EXPECT_EQ(a.createdAt, b.createdAt);
  EXPECT_EQ(a.affiliations, b.affiliations);  // loadAll sorts by JID; room() lists them sorted
}

TEST_P(StorageConformance, MucRoomRoundTripsEveryColumn) {
  MucStore store(db());
  StoredRoom r = room("lobby");
  store.save(r);
  auto rooms = store.loadAll("muc.example.org");
  ASSERT_EQ(rooms.size(), 1u);
  expectSameRoom(rooms[0], r);
}

TEST_P(StorageConformance, MucSaveReplacesConfigurationAndAffiliations) {
  MucStore store(db());
  StoredRoom r = room("lobby");
  store.save(r);
  r.name = "renamed";
  r.isPublic = true;
  r.subject.clear();
  r.affiliations = {{"carol@example.org", "admin"}};
  r.createdAt = 1'800'000'000;
  store.save(r);
  auto rooms = store.loadAll("muc.example.org");
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].name, "renamed");
  EXPECT_TRUE(rooms[0].isPublic);
  EXPECT_EQ(rooms[0].subject, "");
  EXPECT_EQ(rooms[0].affiliations, (std::vector<StoredAffiliation>{{"carol@example.org", "admin"}}));
  // The creation time is the first save's.
  EXPECT_EQ(rooms[0].createdAt, 1'700'000'000);
}

TEST_P(StorageConformance, MucRoomsAreSortedAndPerService) {
  MucStore store(db());
  store.save(room("zeta"));
  store.save(room("alpha"));
  store.save(room("ünïcode-🦜"));
  store.save(room("alpha", "muc.other.example"));
  auto rooms = store.loadAll("muc.example.org");
  ASSERT_EQ(rooms.size(), 3u);
  EXPECT_EQ(rooms[0].room, "alpha");
  EXPECT_EQ(rooms[1].room, "zeta");
  EXPECT_EQ(rooms[2].room, "ünïcode-🦜");  // byte order: UTF-8 sorts after ASCII
  EXPECT_EQ(store.loadAll("muc.other.example").size(), 1u);
  EXPECT_TRUE(store.loadAll("muc.nowhere.example").empty());
}

TEST_P(StorageConformance, MucRemoveDeletesRoomAndAffiliations) {
  MucStore store(db());
  store.save(room("lobby"));
  store.save(room("other"));
  store.remove("muc.example.org", "lobby");
  auto rooms = store.loadAll("muc.example.org");
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].room, "other");
  EXPECT_EQ(db().connection()
                .query("SELECT COUNT(*) FROM muc_affiliations WHERE room = ?", {std::string("lobby")})[0]
                .getInt(0),
            0);
  store.remove("muc.example.org", "lobby");  // removing again is harmless
}

TEST_P(StorageConformance, MucRefusesUnknownEnumerations) {
  MucStore store(db());
  StoredRoom r = room("lobby");
  r.whois = "nobody";  // a CHECK constraint on both engines
  EXPECT_THROW(store.save(r), StorageError);
  EXPECT_TRUE(store.loadAll("muc.example.org").empty());  // the transaction left nothing behind
}

}  // namespace
}  // namespace parley::storage::testing
