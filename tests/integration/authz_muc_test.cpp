// Issue 9 §10: the XEP-0045 authorisation rules as a generated matrix. Every actor state (affiliation ×
// role: owner, admin, member, none, outcast × moderator, participant, visitor, not in the room; only the
// combinations XEP-0045 allows) meets every action of the table in buildActions(), and the actions that
// have a target meet every target state. Each case builds a fresh room on one parleyd (the boss creates
// and configures it, gives the actor and the target their affiliations and roles), performs the action
// through the actor's real client, checks what the room answered and what changed (presence, lists,
// delivered messages), and compares it with what the XEP says: the section is cited per rule, in
// expectRole()/expectAffiliation() and in each action.
//
// Output: one line per action (cases, passes) and a summary line
//   [ measure  ] MUC authorisation matrix: N cases, P pass, M mismatches, …
// Any mismatch fails the test with actor, target, action, expected (and why) and what happened.
// PARLEY_AUTHZ_FILTER=text runs only the cases whose description contains `text`.
//
// Where XEP-0045 leaves a choice (MAY/SHOULD, or a condition it does not name), the rule says so and
// names Parley's choice; docs/SECURITY.md lists them.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "integration/muc_helpers.h"

namespace parley::test {
namespace {

using Clock = std::chrono::steady_clock;

// ---- states ---------------------------------------------------------------------------------------

enum class Aff { Outcast, None, Member, Admin, Owner };  // ordered by privilege (§5.2.1)
enum class Role { Absent, Visitor, Participant, Moderator };

const char* affName(Aff a) {
  switch (a) {
    case Aff::Outcast:
      return "outcast";
    case Aff::None:
      return "none";
    case Aff::Member:
      return "member";
    case Aff::Admin:
      return "admin";
    case Aff::Owner:
      return "owner";
  }
  return "?";
}

// The muc#admin 'role' value; an occupant leaving has role 'none'.
const char* roleAttr(Role r) {
  switch (r) {
    case Role::Absent:
      return "none";
    case Role::Visitor:
      return "visitor";
    case Role::Participant:
      return "participant";
    case Role::Moderator:
      return "moderator";
  }
  return "?";
}

struct State {
  Aff aff;
  Role role;
  bool present() const { return role != Role::Absent; }
  bool moderator() const { return role == Role::Moderator; }
  std::string str() const {
    return std::string(affName(aff)) + "/" + (role == Role::Absent ? "not-in-room" : roleAttr(role));
  }
};

// The states XEP-0045 allows: an outcast cannot be in the room (§7.2.7); owners and admins are
// moderators whenever present (§5.1.2), and that cannot be taken from them (§9.7, §9.8: "moderator status
// cannot be revoked from a room owner or room admin"); members and unaffiliated users may hold any role.
const std::vector<State> kStates = {
    {Aff::Owner, Role::Moderator},  {Aff::Owner, Role::Absent},     {Aff::Admin, Role::Moderator},
    {Aff::Admin, Role::Absent},     {Aff::Member, Role::Moderator}, {Aff::Member, Role::Participant},
    {Aff::Member, Role::Visitor},   {Aff::Member, Role::Absent},    {Aff::None, Role::Moderator},
    {Aff::None, Role::Participant}, {Aff::None, Role::Visitor},     {Aff::None, Role::Absent},
    {Aff::Outcast, Role::Absent},
};

// Targets of role changes: everyone who can be in a room.
const std::vector<State> kRoleTargets = {
    {Aff::Owner, Role::Moderator},    {Aff::Admin, Role::Moderator}, {Aff::Member, Role::Moderator},
    {Aff::Member, Role::Participant}, {Aff::Member, Role::Visitor},  {Aff::None, Role::Moderator},
    {Aff::None, Role::Participant},   {Aff::None, Role::Visitor},
};

// Targets of affiliation changes: one per affiliation, in the room with its default role (§5.1.2)
// unless banned.
const std::vector<State> kAffTargets = {
    {Aff::Owner, Role::Moderator}, {Aff::Admin, Role::Moderator}, {Aff::Member, Role::Participant},
    {Aff::None, Role::Visitor},    {Aff::Outcast, Role::Absent},
};

// §5.1.2, a moderated room.
Role defaultRole(Aff a) {
  switch (a) {
    case Aff::Owner:
    case Aff::Admin:
      return Role::Moderator;
    case Aff::Member:
      return Role::Participant;
    case Aff::None:
      return Role::Visitor;
    case Aff::Outcast:
      return Role::Absent;
  }
  return Role::Absent;
}

// ---- expectations ---------------------------------------------------------------------------------

struct Expect {
  std::string outcome;  // "success" (maybe with a detail such as "success role=visitor") or a condition
  std::string rule;     // why, citing the spec
};

Expect ok(std::string rule) {
  return {"success", std::move(rule)};
}
Expect err(std::string condition, std::string rule) {
  return {std::move(condition), std::move(rule)};
}

// A role change requested by `a` on `t` (XEP-0045 §8, §9.6–§9.8, §5.1.3). `to` Absent is a kick.
Expect expectRole(const State& a, const State& t, Role to) {
  if (!a.moderator())
    return err("forbidden",
               "§8: role changes MUST be denied to non-moderators (an absent owner or admin holds no role)");
  if (to == Role::Absent) {
    if (t.aff > a.aff)
      return err("not-allowed", "§8.2: a user cannot be kicked by a moderator with a lower affiliation");
    if (t.moderator() && a.aff < Aff::Admin)
      return err("forbidden", "§5.1.3: a moderator is kicked only by an admin or owner (§9.7)");
    return ok("§8.2: a moderator kicks anyone whose affiliation is not above its own");
  }
  if (to == Role::Visitor) {
    if (t.aff >= Aff::Admin)
      return err("not-allowed",
                 "§8.4: a service MUST NOT allow the voice of an admin or owner to be removed by anyone");
    if (t.aff > a.aff)
      return err("not-allowed", "§8.5, §5.1.3: not from a user with a higher affiliation than the moderator");
    if (t.moderator() && a.aff < Aff::Admin)
      return err("forbidden", "§9.7: revoking moderator status is an admin use case (§9: forbidden)");
    return ok("§8.4: a moderator revokes voice");
  }
  if (to == Role::Participant && t.role == Role::Visitor)
    return ok("§8.3: any moderator grants voice to a visitor");
  if (to == Role::Moderator) {
    if (a.aff < Aff::Admin)
      return err("forbidden", "§9.6: granting moderator status is an admin use case (§9: forbidden)");
    return ok("§9.6: an admin or owner grants moderator status");
  }
  // Participant on a moderator: revoking moderator status.
  if (a.aff < Aff::Admin)
    return err("forbidden", "§9.7: revoking moderator status is an admin use case (§9: forbidden)");
  if (t.aff >= Aff::Admin)
    return err("not-allowed",
               "§9.7, §9.8: moderator status cannot be revoked from a room owner or room admin");
  return ok("§9.7: an admin or owner revokes moderator status from a member or unaffiliated user");
}

// An affiliation change requested by `a` for a user whose affiliation is `current` (§9.1–§9.5, §10.3–
// §10.8, the state chart of §5.2.2). `self`: the actor changes its own affiliation.
Expect expectAffiliation(const State& a, Aff current, Aff to, bool self) {
  if (a.aff < Aff::Admin)
    return err("forbidden", "§9, §10: affiliation changes MUST be denied to anyone but admins and owners");
  if (self && to == Aff::Outcast)
    return err("conflict", "§9.1: an admin or owner who attempts to ban himself MUST get <conflict/>");
  if (a.aff == Aff::Admin) {
    if (to == Aff::Owner) return err("forbidden", "§10.3: only owners grant ownership");
    if (to == Aff::Admin) return err("forbidden", "§10.6: only owners grant admin status");
    if (current >= Aff::Admin) {
      if (to == Aff::Outcast)
        return err(
            "not-allowed",
            "§9.1, §9.2: a user cannot be banned by an admin with a lower (§5.2.2: or equal) affiliation");
      return err("forbidden", current == Aff::Owner ? "§10.4: only owners revoke ownership"
                                                    : "§10.7: only owners revoke admin status");
    }
    return ok("§9.1–§9.5: admins ban and manage members of users below admin");
  }
  if (self) return ok("§10.4: an owner may give up ownership while other owners remain (SHOULD)");
  return ok("§10.3–§10.8: owners change any affiliation (Parley allows revoking another owner, §10.4 MAY)");
}

// ---- rooms ----------------------------------------------------------------------------------------

struct Profile {
  const char* name;
  std::string fields;   // muc#roomconfig fields submitted at creation (§10.1.3)
  bool locked = false;  // never configured (§10.1.1)
  bool membersOnly = false;
  std::string password;
};

const std::string kModeratedField = field("muc#roomconfig_moderatedroom", "1");
const Profile kModerated{"moderated", kModeratedField, false, false, ""};
const Profile kSubjectByOccupants{"moderated, changesubject=1",
                                  kModeratedField + field("muc#roomconfig_changesubject", "1"), false, false,
                                  ""};
const Profile kPmModerators{"moderated, allowpm=moderators",
                            kModeratedField + field("muc#roomconfig_allowpm", "moderators"), false, false,
                            ""};
const Profile kNonAnonymous{"moderated, non-anonymous",
                            kModeratedField + field("muc#roomconfig_whois", "anyone"), false, false, ""};
const Profile kMembersOnly{"members-only", kModeratedField + field("muc#roomconfig_membersonly", "1"), false,
                           true, ""};
const Profile kMembersInvite{
    "members-only, allowinvites=1",
    kModeratedField + field("muc#roomconfig_membersonly", "1") + field("muc#roomconfig_allowinvites", "1"),
    false, true, ""};
const Profile kPassword{"password-protected",
                        kModeratedField + field("muc#roomconfig_passwordprotectedroom", "1") +
                            field("muc#roomconfig_roomsecret", "sesame"),
                        false, false, "sesame"};
const Profile kLocked{"locked (not configured yet)", "", true, false, ""};
const Profile kArchived{"persistent with archive",
                        kModeratedField + field("muc#roomconfig_persistentroom", "1"), false, false, ""};
const Profile kArchivedMembersOnly{
    "persistent with archive, members-only",
    kModeratedField + field("muc#roomconfig_persistentroom", "1") + field("muc#roomconfig_membersonly", "1"),
    false, true, ""};

enum class Target { None, Other, Self };

struct MucCase;

struct Action {
  std::string name;
  std::string section;  // the spec the rules come from
  const Profile* profile = &kModerated;
  Target target = Target::None;
  bool actorAbsent = false;   // the action is entering the room
  bool actorPresent = false;  // only an occupant can do it at all (a nick change)
  bool guestJoins = false;
  const std::vector<State>* targets = nullptr;  // Target::Other
  std::function<bool(const State& target)> targetApplies;
  std::function<Expect(const State& actor, const State* target)> expect;
  std::function<std::string(const MucCase&)> perform;
};

struct MucCase {
  const Action* action = nullptr;
  State actor{Aff::None, Role::Absent};
  std::optional<State> target;
  std::string room;
  std::string describe() const {
    std::string s = "actor=" + actor.str();
    if (action->target == Target::Other) s += " target=" + target->str();
    if (action->target == Target::Self) s += " target=self";
    return s + " action=\"" + action->name + "\" (" + action->profile->name + " room)";
  }
};

// "success", or the defined condition of a stanza error.
std::string outcomeOf(const xml::ElementPtr& reply) {
  if (!reply) return "no answer";
  if (reply->attr("type") != "error") return "success";
  const auto* e = reply->child("error", "jabber:client");
  if (!e) return "error without <error/>";
  for (const auto& c : e->children())
    if (c->xmlns() == kStanzasNs && c->name() != "text") return c->name();
  return "error without a condition";
}

bool isFormMessage(const xml::Element& m) {
  const auto* x = m.child("x", kForms);
  return x && x->attr("type") == "form";
}

class AuthzMucTest : public MucTestBase {
 protected:
  // The boss sends a lot: no rate limit in the way.
  AuthzMucTest() : MucTestBase("[limits]\nstanza_rate = 100000\nstanza_burst = 100000\n") {}

  void SetUp() override {
    MucTestBase::SetUp();
    if (HasFatalFailure()) return;
    for (const char* u : {"boss", "actor", "target", "guest"}) server.addUser(u, std::string(u) + "-secret");
    boss_ = user("boss", "b");
    actor_ = user("actor", "a");
    target_ = user("target", "t");
    guest_ = user("guest", "g");
  }

  std::string occupant(const MucCase& c, const std::string& nick) const {
    return roomJid(c.room) + "/" + nick;
  }
  std::string next(const char* prefix) { return prefix + std::to_string(++seq_); }

  // ---- set-up -------------------------------------------------------------------------------------

  // Enters as `nick` with the room's password; false (with a test failure) if refused.
  bool enter(XmppClient& c, const MucCase& mc, const std::string& nick) {
    const std::string& pw = mc.action->profile->password;
    return join(c, mc.room, nick, pw.empty() ? std::string() : "<password>" + pw + "</password>") != nullptr;
  }

  // The room of a case: the boss creates and configures it (§10.1), gives the actor, the target and
  // the guest their affiliations, lets them in, then sets the roles that differ from the default ones.
  bool setUpRoom(const MucCase& c) {
    for (auto* cl : {boss_.get(), actor_.get(), target_.get(), guest_.get()}) cl->inbox().clear();
    const Profile& p = *c.action->profile;
    auto self = join(*boss_, c.room, "Boss", {}, false);
    if (!self || !hasStatus(*self, 201)) return false;
    if (!p.locked) {
      if (!isResult(configure(*boss_, c.room, p.fields))) return false;
      if (!boss_->expect(subjectMessage(roomJid(c.room)))) return false;
    }
    std::string items;
    auto affItem = [&](const std::string& user, Aff a) {
      if (a != Aff::None)
        items += "<item affiliation='" + std::string(affName(a)) + "' jid='" + server.jid(user) + "'/>";
    };
    affItem("actor", c.actor.aff);
    if (c.action->target == Target::Other) affItem("target", c.target->aff);
    if (!items.empty() && !isResult(admin(*boss_, c.room, items))) return false;
    if (c.actor.present() && !enter(*actor_, c, "Actor")) return false;
    if (c.action->target == Target::Other && c.target->present() && !enter(*target_, c, "Target"))
      return false;
    if (c.action->guestJoins && !enter(*guest_, c, "Guest")) return false;
    std::string roles;
    auto roleItem = [&](const char* nick, const State& s) {
      if (s.present() && s.role != defaultRole(s.aff))
        roles += "<item nick='" + std::string(nick) + "' role='" + roleAttr(s.role) + "'/>";
    };
    roleItem("Actor", c.actor);
    if (c.action->target == Target::Other) roleItem("Target", *c.target);
    if (!roles.empty() && !isResult(admin(*boss_, c.room, roles))) return false;
    return true;
  }

  // Destroys the room (§10.9) through whoever is still an owner.
  void tearDownRoom(const MucCase& c) {
    const std::string iq = "<iq type='set' id='gone' to='" + roomJid(c.room) + "'><query xmlns='" +
                           std::string(kMucOwner) + "'><destroy/></query></iq>";
    for (auto* cl : {boss_.get(), actor_.get(), target_.get()}) {
      auto r = cl->request(iq, "gone");
      if (isResult(r) || isError(r, "item-not-found")) return;
    }
    ADD_FAILURE() << c.describe() << ": nobody could destroy the room afterwards";
  }

  // ---- checks of what changed -----------------------------------------------------------------------

  // The room's list (muc#admin get, as the boss) of `attr` = `value` has an item with `key` = `wanted`.
  bool listHas(XmppClient& reader, const MucCase& c, const std::string& attr, const std::string& value,
               const std::string& key, const std::string& wanted) {
    auto r =
        reader.request("<iq type='get' id='chk' to='" + roomJid(c.room) + "'><query xmlns='" +
                           std::string(kMucAdmin) + "'><item " + attr + "='" + value + "'/></query></iq>",
                       "chk");
    if (!isResult(r)) {
      ADD_FAILURE() << c.describe() << ": " << reader.jid() << " could not read the " << value << " list";
      return false;
    }
    for (const auto& i : r->child("query", kMucAdmin)->childrenNamed("item", kMucAdmin))
      if (i->attr(key) == wanted) return true;
    return false;
  }
  Aff affiliationOf(const MucCase& c, const std::string& user, XmppClient* reader = nullptr) {
    for (Aff a : {Aff::Owner, Aff::Admin, Aff::Member, Aff::Outcast})
      if (listHas(reader ? *reader : *boss_, c, "affiliation", affName(a), "jid", server.jid(user))) return a;
    return Aff::None;
  }
  Role roleOf(const MucCase& c, const std::string& nick) {
    for (Role r : {Role::Moderator, Role::Participant, Role::Visitor})
      if (listHas(*boss_, c, "role", roleAttr(r), "nick", nick)) return r;
    return Role::Absent;
  }

  // ---- action helpers -------------------------------------------------------------------------------

  std::string iq(XmppClient& c, const MucCase& mc, const std::string& type, const std::string& payload) {
    const std::string id = next("iq");
    return outcomeOf(c.request(
        "<iq type='" + type + "' id='" + id + "' to='" + roomJid(mc.room) + "'>" + payload + "</iq>", id));
  }

  // A message to the room (or an occupant) answered either by `deliveredTo` receiving `delivered` or by
  // an error to the actor.
  std::string messageOutcome(const std::string& to, const std::string& attrs, const std::string& inner,
                             XmppClient& deliveredTo, Match delivered) {
    const std::string id = next("m");
    actor_->send("<message to='" + to + "' id='" + id + "'" + attrs + ">" + inner + "</message>");
    auto [who, m] = XmppClient::expectAny(
        {{&deliveredTo, std::move(delivered)}, {actor_.get(), isMessage().id(id).type("error")}});
    if (who < 0) return "no answer";
    return who == 0 ? "success" : outcomeOf(m);
  }

  // Presence to `nick` in the room: the self-presence (110) or the error that answers it.
  std::string presenceOutcome(const MucCase& c, const std::string& nick, const std::string& x,
                              bool withRole) {
    const std::string to = occupant(c, nick);
    actor_->send("<presence to='" + to + "' id='" + next("p") + "'>" + x + "</presence>");
    auto p = actor_->expect(isPresence().from(to).where(
        [](const xml::Element& e) { return e.attr("type") == "error" || hasStatus(e, 110); }));
    if (!p || p->attr("type") == "error") return outcomeOf(p);
    if (!withRole) return "success";
    const auto* item = mucItem(*p);
    return std::string("success role=") + (item ? std::string(item->attr("role")) : "?");
  }

  std::string adminItems(const MucCase& c, const std::string& items) {
    return outcomeOf(admin(*actor_, c.room, items));
  }

  // A role change by the actor, then whether the target's role is what the outcome implies.
  std::string roleChange(const MucCase& c, const std::string& nick, XmppClient& targetClient, Role to) {
    const Role before = c.action->target == Target::Self ? c.actor.role : c.target->role;
    std::string got =
        adminItems(c, "<item nick='" + nick + "' role='" + roleAttr(to) + "'><reason>authz</reason></item>");
    const bool success = got == "success";
    if (success && to == Role::Absent) {
      // §8.2: the kicked occupant is told (307).
      if (!targetClient.expect(presenceWithStatus(occupant(c, nick), 307)))
        return got + ", but the occupant got no status 307";
      return got;
    }
    const Role now = roleOf(c, nick);
    const Role wanted = success ? to : before;
    if (now != wanted) return got + ", but the role is now " + (now == Role::Absent ? "none" : roleAttr(now));
    return got;
  }

  // An affiliation change by the actor, then whether the list shows what the outcome implies.
  // `reader`: who reads the lists afterwards (the boss, unless it is no owner any more).
  std::string affiliationChange(const MucCase& c, const std::string& user, Aff before, Aff to,
                                XmppClient* reader = nullptr) {
    std::string got = adminItems(c, "<item affiliation='" + std::string(affName(to)) + "' jid='" +
                                        server.jid(user) + "'><reason>authz</reason></item>");
    const Aff now = affiliationOf(c, user, reader);
    const Aff wanted = got == "success" ? to : before;
    if (now != wanted) return got + ", but the affiliation is now " + affName(now);
    return got;
  }

  std::string requestVoiceForm() const {
    return "<x xmlns='" + std::string(kForms) + "' type='submit'>" +
           field("FORM_TYPE", "http://jabber.org/protocol/muc#request") + field("muc#role", "participant") +
           "</x>";
  }

  // The table. Rules per action, each citing the spec.
  std::vector<Action> buildActions();

  void runMatrix();

  std::unique_ptr<XmppClient> boss_, actor_, target_, guest_;
  int seq_ = 0;
};

std::vector<Action> AuthzMucTest::buildActions() {
  std::vector<Action> a;
  const std::string muc = kMuc;

  // -- Occupant use cases (§7) --------------------------------------------------------------------
  a.push_back({"send a groupchat message", "XEP-0045 §7.4", &kModerated, Target::None, false, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (!s.present())
                   return err("not-acceptable", "§7.4: a non-occupant SHOULD get <not-acceptable/>");
                 if (s.role == Role::Visitor)
                   return err("forbidden", "§7.4: a visitor MUST get <forbidden/>");
                 return ok("§7.4: participants and moderators have voice");
               },
               [this](const MucCase& c) {
                 return messageOutcome(
                     roomJid(c.room), " type='groupchat'", "<body>hello</body>", *actor_,
                     isMessage().from(occupant(c, "Actor")).type("groupchat").body("hello"));
               }});
  auto subject = [](bool byParticipants) {
    return [byParticipants](const State& s, const State*) {
      if (!s.present()) return err("not-acceptable", "§7.4: a message to the room from a non-occupant");
      if (s.moderator()) return ok("§8.1: moderators change the subject");
      if (byParticipants && s.role == Role::Participant)
        return ok("§8.1, muc#roomconfig_changesubject: participants may change it");
      return err(
          "forbidden",
          std::string("§8.1: someone without the privilege MUST get <forbidden/>") +
              (byParticipants ? " (Parley: changesubject lets participants, not visitors, §5.1.1 'No*')"
                              : ""));
    };
  };
  auto changeSubject = [this](const MucCase& c) {
    return messageOutcome(
        roomJid(c.room), " type='groupchat'", "<subject>new topic</subject>", *actor_,
        isMessage().from(occupant(c, "Actor")).type("groupchat").where([](const xml::Element& m) {
          return m.childText("subject", "jabber:client") == "new topic";
        }));
  };
  a.push_back({"change the subject", "XEP-0045 §8.1, §5.1.1", &kModerated, Target::None, false, false, false,
               nullptr, nullptr, subject(false), changeSubject});
  a.push_back({"change the subject", "XEP-0045 §8.1, §7.3", &kSubjectByOccupants, Target::None, false, false,
               false, nullptr, nullptr, subject(true), changeSubject});
  auto privateMessage = [this](const MucCase& c) {
    return messageOutcome(occupant(c, "Guest"), " type='chat'", "<body>psst</body>", *guest_,
                          isMessage().from(occupant(c, "Actor")).body("psst"));
  };
  a.push_back({"send a private message", "XEP-0045 §7.5", &kModerated, Target::None, false, false, true,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (!s.present())
                   return err("not-acceptable", "§7.5: a non-occupant MUST get <not-acceptable/>");
                 return ok("§7.5, §5.1.1: every occupant (visitors too) with allowpm=anyone");
               },
               privateMessage});
  a.push_back({"send a private message", "XEP-0045 §7.5, muc#roomconfig_allowpm", &kPmModerators,
               Target::None, false, false, true, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (!s.present())
                   return err("not-acceptable", "§7.5: a non-occupant MUST get <not-acceptable/>");
                 if (s.moderator()) return ok("allowpm=moderators");
                 return err("forbidden",
                            "allowpm=moderators (§7.5 names no condition: Parley says <forbidden/>)");
               },
               privateMessage});
  a.push_back({"change nick", "XEP-0045 §7.6, §5.1.1", &kModerated, Target::None, false, true, false, nullptr,
               nullptr,
               [](const State&, const State*) { return ok("§5.1.1: every occupant may change its nick"); },
               [this](const MucCase& c) { return presenceOutcome(c, "Actor2", {}, false); }});
  a.push_back({"change nick to an occupied one", "XEP-0045 §7.6", &kModerated, Target::None, false, true,
               false, nullptr, nullptr,
               [](const State&, const State*) {
                 return err("conflict", "§7.6: a nick in use MUST give <conflict/>");
               },
               [this](const MucCase& c) { return presenceOutcome(c, "Boss", {}, false); }});
  a.push_back({"request voice", "XEP-0045 §7.13, §8.6", &kModerated, Target::None, false, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (!s.present())
                   return err(
                       "not-acceptable",
                       "not an occupant (§7.13 names no condition: Parley says <not-acceptable/>, as §7.4)");
                 if (s.role == Role::Visitor)
                   return ok("§7.13: a visitor asks; §8.6: the moderators get the form");
                 return err("bad-request",
                            "has voice already (§7.13 names no condition: Parley says <bad-request/>)");
               },
               [this](const MucCase& c) {
                 return messageOutcome(roomJid(c.room), "", requestVoiceForm(), *boss_,
                                       isMessage().from(roomJid(c.room)).where(isFormMessage));
               }});
  auto invite = [this](bool membersOnly) {
    return [this, membersOnly](const MucCase& c) {
      std::string got = messageOutcome(
          roomJid(c.room), "",
          "<x xmlns='" + std::string(kMucUser) + "'><invite to='" + server.jid("guest") + "'/></x>", *guest_,
          isMessage().from(roomJid(c.room)).where([](const xml::Element& m) {
            const auto* x = m.child("x", kMucUser);
            return x && x->child("invite", kMucUser);
          }));
      const bool member = affiliationOf(c, "guest") == Aff::Member;
      if (got == "success" && membersOnly && !member)
        return got + ", but the invitee was not added to the member list";
      if (!membersOnly && member) return got + ", but the invitee became a member of an open room";
      if (got != "success" && member) return got + ", but the invitee became a member";
      return got;
    };
  };
  a.push_back(
      {"invite (mediated)", "XEP-0045 §7.8.2, §5.1.1, §9.5", &kModerated, Target::None, false, false, false,
       nullptr, nullptr,
       [](const State& s, const State*) {
         if (!s.present())
           return err("not-acceptable",
                      "§5.1.1: no role, no invitations (Parley: <not-acceptable/>, as §7.4)");
         if (s.moderator())
           return ok(
               "§5.1.1: moderators invite ('Yes', not configurable); §9.5: no membership in an open room");
         return err("forbidden",
                    "§5.1.1 'Yes*': muc#roomconfig_allowinvites=0 takes it from visitors and participants");
       },
       invite(false)});
  a.push_back(
      {"invite (mediated)", "XEP-0045 §7.8.2, §9.5", &kMembersOnly, Target::None, false, false, false,
       nullptr, nullptr,
       [](const State& s, const State*) {
         if (!s.present())
           return err("not-acceptable", "§5.1.1: no role, no invitations (Parley: <not-acceptable/>)");
         if (s.aff >= Aff::Admin)
           return ok("§7.8.2: admins invite; the invitee is added to the member list (MAY, Parley does)");
         return err("forbidden",
                    "§7.8.2, §9.5: in a members-only room a member without the right to edit the member list "
                    "MUST get <forbidden/>");
       },
       invite(true)});
  a.push_back({"invite (mediated)", "XEP-0045 §9.5, muc#roomconfig_allowinvites", &kMembersInvite,
               Target::None, false, false, false, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (!s.present())
                   return err("not-acceptable",
                              "§5.1.1: no role, no invitations (Parley: <not-acceptable/>)");
                 return ok(
                     "§9.5: with invitations open to members, an invitation SHOULD add the invitee to the "
                     "member list");
               },
               invite(true)});
  a.push_back({"approve a voice request", "XEP-0045 §8.6", &kModerated, Target::None, false, false, true,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (!s.present())
                   return err("not-acceptable", "not an occupant (Parley: <not-acceptable/>, as §7.4)");
                 if (s.moderator())
                   return ok("§8.6: a moderator approves; the visitor becomes a participant");
                 return err("forbidden", "§8.6, §8: only moderators grant voice");
               },
               [this](const MucCase& c) {
                 const std::string form = "<x xmlns='" + std::string(kForms) + "' type='submit'>" +
                                          field("FORM_TYPE", "http://jabber.org/protocol/muc#request") +
                                          field("muc#role", "participant") + field("muc#jid", guest_->jid()) +
                                          field("muc#roomnick", "Guest") +
                                          field("muc#request_allow", "true") + "</x>";
                 return messageOutcome(
                     roomJid(c.room), "", form, *guest_,
                     presenceWithStatus(occupant(c, "Guest"), 110).where([](const xml::Element& p) {
                       return mucItem(p) && mucItem(p)->attr("role") == "participant";
                     }));
               }});

  // -- Entering (§7.2) --------------------------------------------------------------------------------
  auto enterAs = [this, muc](bool withRole, bool password) {
    return [this, muc, withRole, password](const MucCase& c) {
      return presenceOutcome(
          c, "Actor", "<x xmlns='" + muc + "'>" + (password ? "<password>sesame</password>" : "") + "</x>",
          withRole);
    };
  };
  a.push_back({"enter", "XEP-0045 §7.2.1, §7.2.7, §5.1.2", &kModerated, Target::None, true, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Outcast)
                   return err("forbidden", "§7.2.7: a banned user MUST get <forbidden/>");
                 return Expect{std::string("success role=") + roleAttr(defaultRole(s.aff)),
                               "§5.1.2: default role in a moderated room"};
               },
               enterAs(true, false)});
  a.push_back(
      {"enter", "XEP-0045 §7.2.6, §7.2.7", &kMembersOnly, Target::None, true, false, false, nullptr, nullptr,
       [](const State& s, const State*) {
         if (s.aff == Aff::Outcast) return err("forbidden", "§7.2.7: a banned user MUST get <forbidden/>");
         if (s.aff == Aff::None)
           return err("registration-required", "§7.2.6: a non-member MUST get <registration-required/>");
         return ok("§7.2.6: members, admins and owners enter");
       },
       enterAs(false, false)});
  a.push_back({"enter without the password", "XEP-0045 §7.2.5, §7.2.7", &kPassword, Target::None, true, false,
               false, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Outcast)
                   return err("forbidden", "§7.2.7: a banned user MUST get <forbidden/>");
                 return err("not-authorized",
                            "§7.2.5: no password, <not-authorized/> (no exemption for owners)");
               },
               enterAs(false, false)});
  a.push_back({"enter with the password", "XEP-0045 §7.2.5, §7.2.7", &kPassword, Target::None, true, false,
               false, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Outcast)
                   return err("forbidden", "§7.2.7: a banned user MUST get <forbidden/>");
                 return ok("§7.2.5: the right password");
               },
               enterAs(false, true)});
  a.push_back({"enter", "XEP-0045 §7.2.10", &kLocked, Target::None, true, false, false, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Owner) return ok("§10.1.1: owners may enter a locked room");
                 return err("item-not-found",
                            "§7.2.10: a locked room MUST answer <item-not-found/> to anyone but owners");
               },
               enterAs(false, false)});

  // -- Lists (§8.5, §9.2, §9.5, §9.8, §10.5, §10.8) ----------------------------------------------------
  auto getList = [this](const std::string& attr, const std::string& value) {
    return [this, attr, value](const MucCase& c) {
      return iq(*actor_, c, "get",
                "<query xmlns='" + std::string(kMucAdmin) + "'><item " + attr + "='" + value + "'/></query>");
    };
  };
  a.push_back({"get the member list", "XEP-0045 §9.5, §5.2.1", &kModerated, Target::None, false, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff >= Aff::Admin) return ok("§9.5: admins and owners");
                 return err("forbidden",
                            s.aff == Aff::Member
                                ? "§5.2.1 note ***: in a semi-anonymous room members SHOULD NOT get it"
                                : "§5.2.1: only members and above");
               },
               getList("affiliation", "member")});
  a.push_back({"get the member list", "XEP-0045 §9.5, §5.2.1", &kNonAnonymous, Target::None, false, false,
               false, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff >= Aff::Member)
                   return ok("§5.2.1, §9.5: members may read it in a non-anonymous room");
                 return err("forbidden", "§5.2.1: only members and above");
               },
               getList("affiliation", "member")});
  a.push_back({"get the ban list", "XEP-0045 §9.2", &kModerated, Target::None, false, false, false, nullptr,
               nullptr,
               [](const State& s, const State*) {
                 if (s.aff >= Aff::Admin) return ok("§9.2: admins and owners");
                 return err("forbidden", "§9: admin use cases MUST be denied to others with <forbidden/>");
               },
               getList("affiliation", "outcast")});
  a.push_back({"get the admin list", "XEP-0045 §10.8", &kModerated, Target::None, false, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Owner) return ok("§10.8: owners");
                 return err("forbidden", "§10.8: a non-owner MUST get <forbidden/> in a semi-anonymous room");
               },
               getList("affiliation", "admin")});
  a.push_back({"get the owner list", "XEP-0045 §10.5", &kModerated, Target::None, false, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Owner) return ok("§10.5: owners");
                 return err("forbidden", "§10.5: a non-owner MUST get <forbidden/> in a semi-anonymous room");
               },
               getList("affiliation", "owner")});
  a.push_back({"get the moderator list", "XEP-0045 §9.8", &kModerated, Target::None, false, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff >= Aff::Admin) return ok("§9.8: admins and owners (in the room or not)");
                 return err("forbidden", "§9: admin use cases MUST be denied to others with <forbidden/>");
               },
               getList("role", "moderator")});
  a.push_back({"get the voice list", "XEP-0045 §8.5", &kModerated, Target::None, false, false, false, nullptr,
               nullptr,
               [](const State& s, const State*) {
                 if (s.moderator()) return ok("§8.5: moderators");
                 return err("forbidden",
                            "§8: moderator use cases MUST be denied to others with <forbidden/>");
               },
               getList("role", "participant")});

  // -- Owner use cases (§10) and room-level extensions ------------------------------------------------
  auto ownersOnly = [](const std::string& rule) {
    return [rule](const State& s, const State*) {
      if (s.aff == Aff::Owner) return ok(rule);
      return err("forbidden", rule + ": anyone else MUST get <forbidden/>");
    };
  };
  a.push_back({"get the room configuration", "XEP-0045 §10.2", &kModerated, Target::None, false, false, false,
               nullptr, nullptr, ownersOnly("§10.2: owners only"), [this](const MucCase& c) {
                 return iq(*actor_, c, "get", "<query xmlns='" + std::string(kMucOwner) + "'/>");
               }});
  a.push_back({"submit the room configuration", "XEP-0045 §10.2", &kModerated, Target::None, false, false,
               false, nullptr, nullptr, ownersOnly("§10.2: owners only"), [this](const MucCase& c) {
                 std::string got =
                     outcomeOf(configure(*actor_, c.room, field("muc#roomconfig_roomname", "Renamed")));
                 // Applied only when accepted, and then announced (§10.2.1: status 104).
                 auto form = boss_->request("<iq type='get' id='cf' to='" + roomJid(c.room) +
                                                "'><query xmlns='" + std::string(kMucOwner) + "'/></iq>",
                                            "cf");
                 std::string name;
                 const auto* x =
                     isResult(form) ? form->child("query", kMucOwner)->child("x", kForms) : nullptr;
                 for (const auto& f : x ? x->childrenNamed("field", kForms) : std::vector<xml::ElementPtr>{})
                   if (f->attr("var") == "muc#roomconfig_roomname") name = f->childText("value", kForms);
                 if ((got == "success") != (name == "Renamed"))
                   return got + ", but the room name is \"" + name + "\"";
                 if (got == "success" &&
                     !boss_->expect(isMessage().from(roomJid(c.room)).where([](const xml::Element& m) {
                       return hasStatus(m, 104);
                     })))
                   return got + ", but the occupants got no status 104";
                 return got;
               }});
  a.push_back({"destroy the room", "XEP-0045 §10.9", &kModerated, Target::None, false, false, false, nullptr,
               nullptr, ownersOnly("§10.9: owners only"), [this](const MucCase& c) {
                 std::string got = iq(*actor_, c, "set",
                                      "<query xmlns='" + std::string(kMucOwner) +
                                          "'><destroy><reason>authz</reason></destroy></query>");
                 if (got == "success" &&
                     !boss_->expect(unavailableFrom(occupant(c, "Boss")).where([](const xml::Element& p) {
                       const auto* x = p.child("x", kMucUser);
                       return x && x->child("destroy", kMucUser);
                     })))
                   return got + ", but the occupants got no <destroy/>";
                 return got;
               }});
  a.push_back({"set the room vCard", "XEP-0486 §3.2, §7", &kModerated, Target::None, false, false, false,
               nullptr, nullptr, ownersOnly("XEP-0486 §3.2: owners (and service admins)"),
               [this](const MucCase& c) {
                 return iq(*actor_, c, "set", "<vCard xmlns='vcard-temp'><FN>Authz</FN></vCard>");
               }});
  a.push_back({"get the room vCard", "XEP-0054 on the room, XEP-0486", &kModerated, Target::None, false,
               false, false, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Outcast)
                   return err("forbidden",
                              "Parley: outcasts may not see the room (XEP-0486 is silent; docs/muc.md)");
                 return ok("anyone who may see the room (a public one)");
               },
               [this](const MucCase& c) { return iq(*actor_, c, "get", "<vCard xmlns='vcard-temp'/>"); }});
  auto mamQuery = [this](const MucCase& c) {
    return iq(*actor_, c, "set", "<query xmlns='urn:xmpp:mam:2' queryid='authz'/>");
  };
  a.push_back({"query the room archive", "XEP-0313 §6.1.2", &kArchived, Target::None, false, false, false,
               nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff == Aff::Outcast)
                   return err("forbidden",
                              "XEP-0313 §6.1.2: only those who may enter; outcasts not (§10.3 <forbidden/>)");
                 return ok("XEP-0313 §6.1.2: an open room's archive is open to anyone not an outcast");
               },
               mamQuery});
  a.push_back({"query the room archive", "XEP-0313 §6.1.2", &kArchivedMembersOnly, Target::None, false, false,
               false, nullptr, nullptr,
               [](const State& s, const State*) {
                 if (s.aff >= Aff::Member) return ok("XEP-0313 §6.1.2: members, admins and owners");
                 return err("forbidden",
                            "XEP-0313 §6.1.2: in a members-only room only owners, admins or members");
               },
               mamQuery});
  a.push_back(
      {"moderate (retract) a message", "XEP-0425 §3, XEP-0045 §5.1.1", &kArchived, Target::None, false, false,
       false, nullptr, nullptr,
       [](const State& s, const State*) {
         if (s.moderator()) return ok("XEP-0425 §3: moderators retract messages");
         if (s.aff >= Aff::Admin)
           return ok("Parley: owners and admins also when not in the room (as §7.4 MAY lets them talk)");
         return err("forbidden", "XEP-0425 §3: only moderators (<forbidden/>)");
       },
       [this](const MucCase& c) {
         boss_->send("<message to='" + roomJid(c.room) + "' type='groupchat'><body>spam</body></message>");
         auto m = boss_->expect(isMessage().from(occupant(c, "Boss")).body("spam"));
         std::string sid;
         for (const auto& s :
              m ? m->childrenNamed("stanza-id", "urn:xmpp:sid:0") : std::vector<xml::ElementPtr>{})
           if (s->attr("by") == roomJid(c.room)) sid = s->attr("id");
         if (sid.empty()) return std::string("set-up failed: no stanza-id");
         std::string got =
             iq(*actor_, c, "set",
                "<moderate xmlns='urn:xmpp:message-moderate:1' id='" + sid +
                    "'><retract xmlns='urn:xmpp:message-retract:1'/><reason>authz</reason></moderate>");
         const bool announced =
             boss_->expect(isMessage().from(roomJid(c.room)).child("retract", "urn:xmpp:message-retract:1"),
                           got == "success" ? 5s : 0ms) != nullptr;
         if (got == "success" && !announced) return got + ", but no retraction was broadcast";
         return got;
       }});

  // -- Role changes (§8.2–§8.5, §9.6–§9.8) ---------------------------------------------------------------
  auto roleAction = [this](Role to) {
    return [this, to](const MucCase& c) {
      const bool self = c.action->target == Target::Self;
      return roleChange(c, self ? "Actor" : "Target", self ? *actor_ : *target_, to);
    };
  };
  auto roleExpect = [](Role to) {
    return [to](const State& s, const State* t) { return expectRole(s, *t, to); };
  };
  a.push_back({"kick", "XEP-0045 §8.2, §5.1.3", &kModerated, Target::Other, false, false, false,
               &kRoleTargets, nullptr, roleExpect(Role::Absent), roleAction(Role::Absent)});
  a.push_back({"kick", "XEP-0045 §8.2 (kicking oneself: MAY <conflict/>, Parley allows what the rules allow)",
               &kModerated, Target::Self, false, true, false, nullptr, nullptr, roleExpect(Role::Absent),
               roleAction(Role::Absent)});
  a.push_back({"grant voice", "XEP-0045 §8.3", &kModerated, Target::Other, false, false, false, &kRoleTargets,
               [](const State& t) { return t.role == Role::Visitor; }, roleExpect(Role::Participant),
               roleAction(Role::Participant)});
  a.push_back({"revoke voice", "XEP-0045 §8.4, §8.5", &kModerated, Target::Other, false, false, false,
               &kRoleTargets, [](const State& t) { return t.role != Role::Visitor; },
               roleExpect(Role::Visitor), roleAction(Role::Visitor)});
  a.push_back({"grant moderator status", "XEP-0045 §9.6", &kModerated, Target::Other, false, false, false,
               &kRoleTargets, [](const State& t) { return !t.moderator(); }, roleExpect(Role::Moderator),
               roleAction(Role::Moderator)});
  a.push_back({"revoke moderator status", "XEP-0045 §9.7, §9.8", &kModerated, Target::Other, false, false,
               false, &kRoleTargets, [](const State& t) { return t.moderator(); },
               roleExpect(Role::Participant), roleAction(Role::Participant)});

  // -- Affiliation changes (§9.1–§9.5, §10.3–§10.8) ------------------------------------------------------
  auto affAction = [this](Aff to) {
    return [this, to](const MucCase& c) {
      const bool self = c.action->target == Target::Self;
      return affiliationChange(c, self ? "actor" : "target", self ? c.actor.aff : c.target->aff, to);
    };
  };
  auto affExpect = [](Aff to, bool self) {
    return [to, self](const State& s, const State* t) { return expectAffiliation(s, t->aff, to, self); };
  };
  struct AffAction {
    const char* name;
    const char* section;
    Aff to;
  };
  for (const AffAction& x : {AffAction{"ban", "XEP-0045 §9.1, §9.2, §5.2.2", Aff::Outcast},
                             AffAction{"grant membership", "XEP-0045 §9.3, §9.5", Aff::Member},
                             AffAction{"remove affiliation (revoke membership, unban, demote)",
                                       "XEP-0045 §9.2, §9.4, §10.4, §10.7", Aff::None},
                             AffAction{"grant admin status", "XEP-0045 §10.6, §10.8", Aff::Admin},
                             AffAction{"grant ownership", "XEP-0045 §10.3, §10.5", Aff::Owner}}) {
    a.push_back({x.name, x.section, &kModerated, Target::Other, false, false, false, &kAffTargets, nullptr,
                 affExpect(x.to, false), affAction(x.to)});
    a.push_back({x.name, x.section, &kModerated, Target::Self, false, false, false, nullptr, nullptr,
                 affExpect(x.to, true), affAction(x.to)});
  }
  // §9.2/§9.5: a list modification is applied as a whole or not at all.
  a.push_back({"modify the member and ban lists in one request (guest→member, target→outcast)",
               "XEP-0045 §9.2, §9.5", &kModerated, Target::Other, false, false, false, &kAffTargets, nullptr,
               [](const State& s, const State* t) {
                 Expect e = expectAffiliation(s, Aff::None, Aff::Member, false);
                 if (e.outcome != "success") return e;
                 e = expectAffiliation(s, t->aff, Aff::Outcast, false);
                 if (e.outcome != "success") e.rule += "; §9.2: then none of the changes is applied";
                 return e;
               },
               [this](const MucCase& c) {
                 std::string got =
                     adminItems(c, "<item affiliation='member' jid='" + server.jid("guest") +
                                       "'/><item affiliation='outcast' jid='" + server.jid("target") + "'/>");
                 const Aff guest = affiliationOf(c, "guest"), target = affiliationOf(c, "target");
                 if (got == "success" && (guest != Aff::Member || target != Aff::Outcast))
                   return got + ", but guest is " + affName(guest) + " and target " + affName(target);
                 if (got != "success" && (guest != Aff::None || target != c.target->aff))
                   return got + ", but partly applied: guest is " + affName(guest) + " and target " +
                          affName(target);
                 return got;
               }});
  // §10.4: the last owner cannot step down. The boss hands the room to the actor and steps down first.
  a.push_back(
      {"give up ownership as the only owner", "XEP-0045 §10.4, §10.5", &kModerated, Target::None, false,
       false, false, nullptr, nullptr,
       [](const State& s, const State*) {
         if (s.aff != Aff::Owner) return Expect{"n/a", ""};
         return err(
             "conflict",
             "§10.4: an owner MUST NOT revoke its own ownership if there are no other owners (<conflict/>)");
       },
       [this](const MucCase& c) {
         if (!isResult(admin(*boss_, c.room, "<item affiliation='none' jid='" + server.jid("boss") + "'/>")))
           return std::string("set-up failed: the boss could not step down");
         return affiliationChange(c, "actor", Aff::Owner, Aff::Admin, actor_.get());
       }});
  return a;
}

void AuthzMucTest::runMatrix() {
  const auto actions = buildActions();
  const char* filterEnv = std::getenv("PARLEY_AUTHZ_FILTER");
  const std::string filter = filterEnv ? filterEnv : "";
  struct Row {
    int cases = 0, pass = 0;
  };
  std::vector<std::pair<std::string, Row>> rows;
  int cases = 0, pass = 0, roomNo = 0;
  std::vector<std::string> mismatches;
  const auto start = Clock::now();
  for (const auto& action : actions) {
    Row row;
    for (const State& actor : kStates) {
      if (action.actorAbsent && actor.present()) continue;
      if (action.actorPresent && !actor.present()) continue;
      if (action.target == Target::Self && action.actorPresent && !actor.present()) continue;
      if (action.profile->membersOnly && actor.present() && actor.aff < Aff::Member) continue;  // §7.2.6
      std::vector<std::optional<State>> targets;
      if (action.target == Target::Other) {
        for (const State& t : *action.targets)
          if (!action.targetApplies || action.targetApplies(t)) targets.emplace_back(t);
      } else if (action.target == Target::Self) {
        targets.emplace_back(actor);
      } else {
        targets.emplace_back(std::nullopt);
      }
      for (const auto& target : targets) {
        MucCase c;
        c.action = &action;
        c.actor = actor;
        c.target = target;
        const Expect want = action.expect(actor, target ? &*target : nullptr);
        if (want.outcome == "n/a") continue;
        const std::string what = c.describe();
        if (!filter.empty() && what.find(filter) == std::string::npos) continue;
        c.room = "authz" + std::to_string(++roomNo);
        std::string got = setUpRoom(c) ? action.perform(c) : "set-up failed";
        tearDownRoom(c);
        ++cases;
        ++row.cases;
        if (got == want.outcome) {
          ++pass;
          ++row.pass;
        } else {
          mismatches.push_back(what + ": expected " + want.outcome + " [" + action.section + "; " +
                               want.rule + "], got " + got);
          ADD_FAILURE() << "MUC authorisation mismatch: " << mismatches.back();
        }
      }
    }
    if (row.cases)
      rows.emplace_back(action.name + (action.target == Target::Self ? " on oneself" : "") + " (" +
                            action.profile->name + ")",
                        row);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& [name, row] : rows)
    std::printf("  %-90s %4d cases %4d pass\n", name.c_str(), row.cases, row.pass);
  std::printf(
      "[ measure  ] MUC authorisation matrix: %d cases (%zu actions × %zu actor states × targets), %d pass, "
      "%zu mismatches, %.1f s\n",
      cases, actions.size(), kStates.size(), pass, mismatches.size(), seconds);
  std::fflush(stdout);
  EXPECT_TRUE(mismatches.empty());
  EXPECT_GT(cases, 0);
}

TEST_F(AuthzMucTest, GeneratedMatrixMatchesXep0045) {
  runMatrix();
}

}  // namespace
}  // namespace parley::test
