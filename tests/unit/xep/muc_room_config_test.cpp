#include <string>

#include <gtest/gtest.h>

#include "server/xml/parse_fragment.h"
#include "xep/muc/room_config.h"

namespace parley::xep::muc {
namespace {

xml::ElementPtr form(const std::string& fields) {
  auto e = xml::parseElement(
      "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
      "http://jabber.org/protocol/muc#roomconfig</value></field>" +
      fields + "</x>");
  EXPECT_TRUE(e);
  return e;
}

std::string field(const std::string& var, const std::string& value) {
  return "<field var='" + var + "'><value>" + value + "</value></field>";
}

TEST(MucRoomConfigTest, FormRoundTripsEveryField) {
  ServiceSettings settings;
  RoomConfig c;
  c.name = "Room";
  c.persistent = true;
  c.password = "pw";
  c.whois = Whois::Anyone;
  c.allowPm = AllowPm::Moderators;
  auto f = configForm(c, settings);
  EXPECT_EQ(formValue(*f, "muc#roomconfig_roomname"), "Room");
  EXPECT_EQ(formValue(*f, "muc#roomconfig_persistentroom"), "1");
  EXPECT_EQ(formValue(*f, "muc#roomconfig_passwordprotectedroom"), "1");
  EXPECT_EQ(formValue(*f, "muc#roomconfig_whois"), "anyone");
  EXPECT_EQ(formValue(*f, "muc#roomconfig_allowpm"), "moderators");
  EXPECT_EQ(formType(*f), "http://jabber.org/protocol/muc#roomconfig");
}

TEST(MucRoomConfigTest, SubmittedValuesApply) {
  ServiceSettings settings;
  RoomConfig c;
  auto err = applyConfigForm(
      *form(field("muc#roomconfig_roomname", "Tea") + field("muc#roomconfig_membersonly", "true") +
            field("muc#roomconfig_maxusers", "50") + field("muc#maxhistoryfetch", "5") +
            field("muc#roomconfig_passwordprotectedroom", "1") + field("muc#roomconfig_roomsecret", "x") +
            field("x-unknown#field", "ignored")),
      c, settings);
  EXPECT_FALSE(err) << *err;
  EXPECT_EQ(c.name, "Tea");
  EXPECT_TRUE(c.membersOnly);
  EXPECT_EQ(c.maxOccupants, 50);
  EXPECT_EQ(c.historyLength, 5);
  EXPECT_EQ(c.password, "x");
  // Turning password protection off drops the password.
  EXPECT_FALSE(applyConfigForm(*form(field("muc#roomconfig_passwordprotectedroom", "0")), c, settings));
  EXPECT_TRUE(c.password.empty());
  EXPECT_EQ(c.name, "Tea") << "fields left out keep their values";
}

TEST(MucRoomConfigTest, BadValuesChangeNothing) {
  ServiceSettings settings;
  settings.maxOccupantsLimit = 100;
  RoomConfig c;
  const RoomConfig before = c;
  for (const auto& bad :
       {field("muc#roomconfig_maxusers", "0"), field("muc#roomconfig_maxusers", "101"),
        field("muc#roomconfig_maxusers", "ten"), field("muc#roomconfig_whois", "all"),
        field("muc#roomconfig_allowpm", "some"), field("muc#roomconfig_moderatedroom", "yes"),
        field("muc#maxhistoryfetch", "-1"), field("muc#roomconfig_passwordprotectedroom", "1"),
        field("muc#roomconfig_roomname", "n") + field("muc#roomconfig_publicroom", "2")}) {
    EXPECT_TRUE(applyConfigForm(*form(bad), c, settings)) << bad;
    EXPECT_EQ(c.name, before.name);
    EXPECT_EQ(c.maxOccupants, before.maxOccupants);
  }
  auto other = xml::parseElement(
      "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>");
  EXPECT_TRUE(applyConfigForm(*other, c, settings));
}

TEST(MucRoomConfigTest, Features) {
  RoomConfig c;
  auto f = roomFeatures(c, false);
  for (const char* v : {"http://jabber.org/protocol/muc", "muc_public", "muc_temporary", "muc_open",
                        "muc_unmoderated", "muc_unsecured", "muc_semianonymous"})
    EXPECT_NE(std::find(f.begin(), f.end(), v), f.end()) << v;
}

}  // namespace
}  // namespace parley::xep::muc
