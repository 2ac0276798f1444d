// XEP-0045 §7.13 (a visitor asks for voice) and §8.6 (a moderator approves or denies). The request and
// the decision are both a message to the room carrying a muc#request data form: the room forwards a
// request to every moderator's devices as a form to fill, and a moderator's submitted form with
// muc#request_allow=true makes the requester a participant, announced like any role change (§8.3).
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "xep/muc/room.h"
#include "xep/muc/room_config.h"

namespace parley::xep::muc {

namespace {

using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kForms = xml::ns::kDataForms;
constexpr std::string_view kRequestType = "http://jabber.org/protocol/muc#request";
// A visitor may ask again after this long; until then a repeated request is refused, so a visitor
// cannot flood the moderators.
constexpr std::int64_t kVoiceRequestInterval = 60;

xml::MutableElementPtr formField(std::string_view var, std::string_view type, std::string_view label,
                                 std::string_view value) {
  auto f = xml::make("field", std::string(kForms));
  f->setAttr("var", var);
  if (!type.empty()) f->setAttr("type", type);
  if (!label.empty()) f->setAttr("label", label);
  f->addTextChild("value", kForms, value);
  return f;
}

}  // namespace

bool Room::voiceForm(const StanzaPtr& s) {
  const xml::Element* form = nullptr;
  for (const auto& x : s->element().childrenNamed("x", kForms))
    if (formType(*x) == kRequestType) form = x.get();
  if (!form) return false;
  Occupant* o = occupantOf(s->from());
  if (!o) {
    error(s, StanzaError::NotAcceptable, "only occupants may ask for voice");
    return true;
  }
  if (form->attr("type") != "submit") {
    error(s, StanzaError::BadRequest, "a voice request is a submitted muc#request form");
    return true;
  }
  if (formValue(*form, "muc#request_allow")) {
    decideVoice(s, *o, *form);
  } else {
    requestVoice(s, *o);
  }
  return true;
}

void Room::requestVoice(const StanzaPtr& s, Occupant& requester) {
  if (requester.role != Role::Visitor) {
    error(s, StanzaError::BadRequest, "you have voice already");
    return;
  }
  const std::int64_t now = util::unixNow();
  if (requester.lastVoiceRequest != 0 && now - requester.lastVoiceRequest < kVoiceRequestInterval) {
    error(s, StanzaError::ResourceConstraint, "your voice request is with the moderators already");
    return;
  }
  requester.lastVoiceRequest = now;
  // §8.6: the approval form, with the requester's JID (moderators see real JIDs in every room).
  auto x = xml::make("x", std::string(kForms));
  x->setAttr("type", "form");
  x->addTextChild("title", kForms, "Voice request");
  x->addTextChild("instructions", kForms,
                  "To approve this request for voice, select the \"Grant voice to this person?\" checkbox "
                  "and submit the form.");
  x->addChild(formField("FORM_TYPE", "hidden", "", kRequestType));
  x->addChild(formField("muc#role", "list-single", "Requested role", "participant"));
  x->addChild(formField("muc#jid", "jid-single", "User ID", s->from().str()));
  x->addChild(formField("muc#roomnick", "text-single", "Room Nickname", requester.nick));
  x->addChild(formField("muc#request_allow", "boolean", "Grant voice to this person?", "false"));
  auto m = xml::make("message", std::string(xml::ns::kClient));
  m->addChild(x);
  auto request = xmpp::Stanza::make(std::move(m), jid_, xmpp::Jid());
  for (const auto& [nick, o] : occupants_)
    if (o.role == Role::Moderator)
      for (const auto& d : o.devices) send(request->withTo(d));
}

void Room::decideVoice(const StanzaPtr& s, Occupant& moderator, const xml::Element& form) {
  if (moderator.role != Role::Moderator) {
    error(s, StanzaError::Forbidden, "only moderators grant voice");  // §8.6
    return;
  }
  const std::string value = formValue(form, "muc#request_allow").value_or("");
  if (value != "1" && value != "true" && value != "0" && value != "false") {
    error(s, StanzaError::BadRequest, "muc#request_allow is a boolean");
    return;
  }
  if (value == "0" || value == "false") return;  // denied: nothing changes, and nobody is told
  const std::string nick = formValue(form, "muc#roomnick").value_or("");
  Occupant* target = occupantByNick(nick);
  if (!target) {
    error(s, StanzaError::ItemNotFound, "no occupant with that nick");
    return;
  }
  if (target->role != Role::Visitor) return;  // voiced meanwhile (another moderator was quicker)
  target->role = Role::Participant;
  broadcastPresence(*target, {110}, {}, {}, {}, moderator.nick, {});
}

}  // namespace parley::xep::muc
