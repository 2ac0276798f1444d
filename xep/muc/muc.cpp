// XEP-0045 multi-user chat, as a component on its own domain per virtual host (muc.<host> by default).
//
// DESIGN: rooms are spread over the network threads by a hash of the room's bare JID; each thread
// has one Shard that owns its rooms and is touched only on that thread. The component handler (run
// on whatever thread routed the stanza) only picks the shard and posts the stanza there, so room
// state needs no locks and a room's stanzas are handled in arrival order. Storage (persistent rooms)
// goes to the blocking pool keyed by the room's JID, so writes of one room apply in order; nothing on
// a network thread waits for it. Persistent rooms are read once at start, before listeners open.
// When a session ends, every shard drops that device from its rooms (in case the client never sent
// unavailable presence to the room, e.g. without initial presence the core does not track it).
// Room archives (XEP-0313, room_archive.cpp): each shard queues its rooms' archive writes in order and
// keeps at most one job on the blocking pool, under the shard's archive key, that writes everything
// queued in one transaction (group commit); queries, moderation look-ups and vCard reads of the
// shard's rooms run under the same key, so they see every write queued before them. The job is queued
// from the room's handler itself, so Server::afterQueuedWork (XEP-0198 acks) covers the write.
#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/net/batched_writes.h"
#include "server/util/crypto.h"
#include "server/xml/namespaces.h"
#include "xep/mam/archive_id.h"
#include "xep/muc/muc_archive_store.h"
#include "xep/muc/muc_store.h"
#include "xep/muc/room.h"
#include "xep/muc/room_config.h"

namespace parley::xep::muc {

namespace {

using xmpp::Jid;
using xmpp::Stanza;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

class MucModule;

// What the shards share about room archives: the id clock and the codec of client-facing ids.
struct ArchiveIds {
  explicit ArchiveIds(std::string_view secret) : codec(secret) {}
  mam::ArchiveIdCodec codec;
  mam::ArchiveClock clock;
};

class Shard final : public RoomHost, public std::enable_shared_from_this<Shard> {
 public:
  Shard(core::Server& server, runtime::Executor exec, const ServiceSettings& settings, std::string_view idKey,
        std::shared_ptr<ArchiveIds> ids, std::size_t index)
      : server_(server),
        exec_(exec),
        settings_(settings),
        idKey_(util::HashAlg::Sha256, idKey),
        ids_(std::move(ids)),
        archiveKey_("muc-archive-" + std::to_string(index)) {}

  runtime::Executor executor() const { return exec_; }

  // On exec_.
  void dispatch(const StanzaPtr& s);
  void install(std::unique_ptr<Room> room) {
    const std::string key = room->jid().bareStr();
    rooms_[key] = std::move(room);
  }
  void deviceGone(const Jid& device) {
    auto it = devices_.find(device.str());
    if (it == devices_.end()) return;
    const auto rooms = it->second;  // leaving edits the index
    for (const auto& key : rooms) {
      auto r = rooms_.find(key);
      if (r == rooms_.end()) continue;
      r->second->removeDevice(device);
      reap(key);
    }
  }
  struct Listed {
    std::string jid, name;
  };
  void listPublic(const std::string& domain, std::vector<Listed>& out) const {
    for (const auto& [key, room] : rooms_)
      if (room->jid().domain() == domain && room->listed())
        out.push_back({key, room->config().name.empty() ? room->jid().local() : room->config().name});
  }

  // RoomHost
  void send(StanzaPtr stanza) override { server_.router().route(std::move(stanza)); }
  void persist(const Room& room) override {
    const bool keep = room.config().persistent && !room.locked();
    StoredRoom snapshot = room.snapshot();
    auto& db = server_.db();
    const std::string key = room.jid().bareStr();
    runtime::offload(
        server_.pool(), exec_, key,
        [&db, keep, snapshot = std::move(snapshot)] {
          MucStore store(db);
          if (keep)
            store.save(snapshot);
          else
            store.remove(snapshot.domain, snapshot.room);
        },
        [key](runtime::Outcome<bool> out) {
          if (!out.ok()) log::error("muc.store.failed", "room={} error=\"{}\"", key, out.error);
        });
  }
  void destroyed(const Room& room) override {
    log::info("muc.room.destroyed", "room={}", room.jid().bareStr());
    if (room.mayHaveStoredData()) {
      // Its archive and vCard, after the writes queued before.
      archiveJob(
          room,
          [domain = room.jid().domain(), local = room.jid().local()](MucArchiveStore& store) {
            store.removeRoom(domain, local);
          },
          [](Room*, bool) {});
    }
    if (!room.config().persistent) return;  // never stored (or already removed when made temporary)
    auto& db = server_.db();
    const std::string key = room.jid().bareStr();
    runtime::offload(
        server_.pool(), exec_, key,
        [&db, domain = room.jid().domain(), local = room.jid().local()] {
          MucStore(db).remove(domain, local);
        },
        [key](runtime::Outcome<bool> out) {
          if (!out.ok()) log::error("muc.store.failed", "room={} error=\"{}\"", key, out.error);
        });
  }
  void deviceJoined(const Jid& device, const Room& room) override {
    auto& v = devices_[device.str()];
    const std::string key = room.jid().bareStr();
    if (std::find(v.begin(), v.end(), key) == v.end()) v.push_back(key);
  }
  void deviceLeft(const Jid& device, const Room& room) override {
    auto it = devices_.find(device.str());
    if (it == devices_.end()) return;
    std::erase(it->second, room.jid().bareStr());
    if (it->second.empty()) devices_.erase(it);
  }
  const ServiceSettings& settings() const override { return settings_; }
  bool isServerAdmin(const Jid& bare) const override { return server_.config().isAdmin(bare.bareStr()); }
  void groupchatSent(const StanzaPtr& message, const std::function<MemberList()>& members) override {
    if (server_.hooks().count<hooks::GroupchatBroadcast>() == 0) return;
    hooks::GroupchatBroadcast::Context ctx{message, message->from().bare(), members()};
    server_.hooks().run<hooks::GroupchatBroadcast>(ctx);
  }
  std::string occupantId(const Jid& room, const Jid& bare) const override {
    return util::base64Encode(idKey_.mac(room.bareStr() + "\n" + bare.bareStr()));
  }
  std::int64_t nextArchiveId(std::int64_t& stamp) override { return ids_->clock.next(stamp); }
  std::string encodeArchiveId(const Room& room, std::int64_t id) const override {
    return ids_->codec.encode(id, room.jid().bareStr());
  }
  std::optional<std::int64_t> decodeArchiveId(const Room& room, std::string_view text) const override {
    return ids_->codec.decode(text, room.jid().bareStr());
  }
  void archive(RoomArchiveWrite write, StanzaPtr stanza) override {
    std::lock_guard lock(archiveMu_);
    pending_.push_back(Pending{std::move(write), std::move(stanza)});
    if (!drainScheduled_) {
      drainScheduled_ = server_.pool().submit(archiveKey_, [self = shared_from_this()] { self->drain(); });
      if (!drainScheduled_)
        log::warn("muc.archive.queue_full", "pending={} (written with the next message of this shard)",
                  pending_.size());
    }
  }
  void archiveJob(const Room& room, ArchiveWork work, ArchiveDone done) override {
    auto& db = server_.db();
    const std::string key = room.jid().bareStr();
    runtime::offload(
        server_.pool(), exec_, archiveKey_,
        [self = shared_from_this(), &db, work = std::move(work)] {
          self->drain();  // writes still pending (a full queue) go first
          MucArchiveStore store(db);
          work(store);
        },
        [self = shared_from_this(), key, done = std::move(done)](runtime::Outcome<bool> out) {
          if (!out.ok()) log::error("muc.archive.failed", "room={} error=\"{}\"", key, out.error);
          auto it = self->rooms_.find(key);
          done(it == self->rooms_.end() || it->second->isDestroyed() ? nullptr : it->second.get(), out.ok());
        });
  }

 private:
  void reap(const std::string& key) {
    auto it = rooms_.find(key);
    if (it != rooms_.end() && it->second->isDestroyed()) rooms_.erase(it);
  }
  void noRoom(const StanzaPtr& s);

  // Pool thread, under archiveKey_: writes everything queued, in order, in one transaction.
  void drain() {
    std::vector<Pending> batch;
    {
      std::lock_guard lock(archiveMu_);
      batch.swap(pending_);
      drainScheduled_ = false;
    }
    if (batch.empty()) return;
    std::vector<RoomArchiveWrite> writes;
    writes.reserve(batch.size());
    for (auto& p : batch) {
      if (p.stanza) p.write.row.xml = p.stanza->serialized();
      writes.push_back(std::move(p.write));
    }
    try {
      MucArchiveStore(server_.db()).apply(writes);
    } catch (const std::exception& e) {
      log::error("muc.archive.write_failed", "messages={} error=\"{}\"", writes.size(), e.what());
    }
  }

  struct Pending {
    RoomArchiveWrite write;
    StanzaPtr stanza;
  };

  core::Server& server_;
  runtime::Executor exec_;
  const ServiceSettings& settings_;
  util::HmacKey idKey_;  // XEP-0421 occupant ids: HMAC key derived from the server's persistent secret
  std::shared_ptr<ArchiveIds> ids_;
  std::string archiveKey_;  // blocking-pool key of this shard's archive work
  std::mutex archiveMu_;    // pending_ and drainScheduled_ (the shard's thread and the pool)
  std::vector<Pending> pending_;
  bool drainScheduled_ = false;
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;       // by room bare JID
  std::unordered_map<std::string, std::vector<std::string>> devices_;  // device full JID -> room keys
};

void Shard::dispatch(const StanzaPtr& s) {
  const std::string key = s->to().bareStr();
  auto it = rooms_.find(key);
  if (it == rooms_.end()) {
    noRoom(s);
    return;
  }
  Room& room = *it->second;
  if (s->isPresence())
    room.onPresence(s);
  else if (s->isMessage())
    room.onMessage(s);
  else
    room.onIq(s);
  reap(key);
}

// A stanza for a room that does not exist: available presence with a nick creates it (§10.1.1).
void Shard::noRoom(const StanzaPtr& s) {
  auto& router = server_.router();
  if (s->isPresence()) {
    if (!s->type().empty()) return;
    if (s->to().isBare()) {
      router.bounce(*s, StanzaError::JidMalformed, "a room nickname is required");
      return;
    }
    if (settings_.adminsOnlyCreate && !isServerAdmin(s->from().bare())) {
      router.bounce(*s, StanzaError::NotAllowed, "only administrators may create rooms");
      return;
    }
    auto room = std::make_unique<Room>(*this, s->to().bare(), settings_.defaults);
    Room& r = *room;
    rooms_[s->to().bareStr()] = std::move(room);
    log::info("muc.room.created", "room={} owner={}", s->to().bareStr(), s->from().bareStr());
    r.create(s);
    reap(s->to().bareStr());
    return;
  }
  if (s->isIq() && !(s->type() == "get" || s->type() == "set")) return;
  router.bounce(*s, StanzaError::ItemNotFound, "no such room");
}

class MucModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    auto& st = settings_;
    st.hostPattern = section.getString("host", "muc.{domain}");
    if (st.hostPattern.find("{domain}") == std::string::npos && st.hostPattern.empty())
      section.fail("host", "must not be empty");
    st.name = section.getString("name", "Chatrooms");
    const std::string create = section.getString("create_rooms", "everyone");
    if (create != "everyone" && create != "admins")
      section.fail("create_rooms", "must be \"everyone\" or \"admins\"");
    st.adminsOnlyCreate = create == "admins";
    st.maxOccupantsLimit = section.getInt("max_occupants", 1000, 1, 100000);
    st.maxHistoryLength = section.getInt("max_history", 100, 0, 10000);
    auto& d = st.defaults;
    d.maxOccupants = section.getInt("default_max_occupants", 200, 1, 100000);
    if (d.maxOccupants > st.maxOccupantsLimit) section.fail("default_max_occupants", "exceeds max_occupants");
    d.historyLength = section.getInt("default_history", 20, 0, 10000);
    if (d.historyLength > st.maxHistoryLength) section.fail("default_history", "exceeds max_history");
    d.persistent = section.getBool("default_persistent", false);
    d.isPublic = section.getBool("default_public", true);
    d.membersOnly = section.getBool("default_members_only", false);
    d.moderated = section.getBool("default_moderated", false);
    auto whois = parseWhois(section.getString("default_whois", "moderators"));
    if (!whois) section.fail("default_whois", "must be \"moderators\" or \"anyone\"");
    d.whois = *whois;
    auto pm = parseAllowPm(section.getString("default_allow_pm", "anyone"));
    if (!pm)
      section.fail("default_allow_pm", "must be \"anyone\", \"participants\", \"moderators\" or \"none\"");
    d.allowPm = *pm;
    d.allowInvites = section.getBool("default_allow_invites", false);
    d.changeSubject = section.getBool("default_change_subject", false);
    d.archiving = section.getBool("default_archiving", true);
    st.archiveMaxPageSize = section.getInt("archive_max_page_size", 250, 1, 10000);
    st.archivePageSize = section.getInt("archive_page_size", 50, 1, 10000);
    if (st.archivePageSize > st.archiveMaxPageSize)
      section.fail("archive_page_size", "must not exceed archive_max_page_size");
    st.maxVcardSize = section.getInt("max_vcard_size", 131072, 0, 16 * 1024 * 1024);
  }

  void start(module::ModuleContext& ctx) override {
    auto& server = ctx.server();
    server_ = &server;
    // Occupant ids stay the same across restarts: the key comes from the secret kept in the data
    // directory, separated from its other use by the label.
    const std::string idKey =
        util::hmac(util::HashAlg::Sha256, server.fakeSaltSecret(), "parley muc occupant-id");
    // Room archive ids: the codec's key comes from the same persistent secret (ids decode after a
    // restart), the clock continues above the largest stored id.
    archiveIds_ = std::make_shared<ArchiveIds>(server.fakeSaltSecret());
    archiveIds_->clock.raiseFloor(runtime::runAtStart(
        server.pool(), "muc", [&db = server.db()] { return MucArchiveStore(db).maxId(); }));
    for (std::size_t i = 0; i < server.io().size(); ++i)
      shards_.push_back(
          std::make_shared<Shard>(server, server.io().executor(i), settings_, idKey, archiveIds_, i));

    for (const auto& host : server.config().hosts) {
      std::string domain = settings_.hostPattern;
      if (auto p = domain.find("{domain}"); p != std::string::npos) domain.replace(p, 8, host.domain);
      auto prepared = Jid::prepDomain(domain);
      if (!prepared) throw core::ConfigError("[modules.muc] host: invalid domain \"" + domain + "\"");
      domain = *prepared;
      loadRooms(domain);
      ctx.component(domain, [this, domain](StanzaPtr s) { route(domain, std::move(s)); });
      ctx.keep(std::make_shared<router::IqHandle>(server.disco().addItem({domain, settings_.name, ""})));
      domains_.push_back(domain);
      log::info("muc.service", "domain={}", domain);
    }
    // When a session ends, its devices leave every room (the directed unavailable presence normally
    // does it first; this catches sessions without tracked directed presence).
    ctx.hook<hooks::SessionClosed>([this](hooks::SessionClosed::Context& c) {
      const Jid device = c.session.jid();
      for (const auto& shard : shards_)
        shard->executor().post([shard, device] { shard->deviceGone(device); });
      return hooks::Action::Continue;
    });
  }

 private:
  // Reads the persistent rooms of a service, and the newest archived messages of each as its history
  // (§7.2.14: the history survives a restart).
  void loadRooms(const std::string& domain) {
    struct Loaded {
      StoredRoom room;
      std::vector<mam::ArchivedMessage> history;
    };
    const std::int64_t maxHistory = settings_.maxHistoryLength;
    auto rooms = runtime::runAtStart(server_->pool(), "muc", [&db = server_->db(), &domain, maxHistory] {
      std::vector<Loaded> out;
      MucArchiveStore archive(db);
      for (auto& r : MucStore(db).loadAll(domain)) {
        Loaded l{std::move(r), {}};
        if (l.room.archiving)
          l.history = archive.latest(domain, l.room.room,
                                     std::clamp<std::int64_t>(l.room.historyLength, 0, maxHistory));
        out.push_back(std::move(l));
      }
      return out;
    });
    for (auto& loaded : rooms) {
      const auto& stored = loaded.room;
      auto jid = Jid::fromParts(stored.room, domain);
      if (!jid) {
        log::warn("muc.room.invalid", "domain={} room={}", domain, stored.room);
        continue;
      }
      auto& shard = shardFor(jid->bareStr());
      auto room = std::make_shared<std::unique_ptr<Room>>(Room::fromStored(shard, *jid, stored, settings_));
      (*room)->restoreHistory(loaded.history);
      shard.executor().post([s = shard.shared_from_this(), room] { s->install(std::move(*room)); });
    }
    if (!rooms.empty()) log::info("muc.rooms.loaded", "domain={} rooms={}", domain, rooms.size());
  }

  Shard& shardFor(const std::string& roomKey) {
    return *shards_[std::hash<std::string>{}(roomKey) % shards_.size()];
  }

  // On the routing thread: find the room's shard and hand the stanza over.
  void route(const std::string& domain, StanzaPtr s) {
    if (s->to().local().empty()) {
      service(domain, std::move(s));
      return;
    }
    auto shard = shardFor(s->to().bareStr()).shared_from_this();
    shard->executor().post([shard, s = std::move(s)] {
      net::BatchedWrites batch;  // the room's fan-out leaves in one system call
      shard->dispatch(s);
    });
  }

  // Stanzas to the service itself (muc.example.org).
  void service(const std::string& domain, StanzaPtr s) {
    auto& router = server_->router();
    if (!s->isIq()) {
      if (s->isMessage()) router.bounce(*s, StanzaError::ServiceUnavailable);
      return;
    }
    if (s->type() != "get" && s->type() != "set") return;
    const xml::Element* payload = s->element().firstChild();
    if (!payload) {
      router.bounce(*s, StanzaError::BadRequest);
      return;
    }
    const bool get = s->type() == "get";
    if (get && payload->is("query", xml::ns::kDiscoInfo) && payload->attr("node").empty()) {
      auto q = xml::make("query", std::string(xml::ns::kDiscoInfo));
      auto id = xml::make("identity", std::string(xml::ns::kDiscoInfo));
      id->setAttr("category", "conference");
      id->setAttr("type", "text");
      id->setAttr("name", settings_.name);
      q->addChild(id);
      for (std::string_view f : {xml::ns::kDiscoInfo, xml::ns::kDiscoItems, xml::ns::kMuc, xml::ns::kPing,
                                 std::string_view("http://jabber.org/protocol/muc#stable_id"),
                                 std::string_view("urn:xmpp:occupant-id:0"),
                                 // XEP-0486 §3.1: clients look for room avatar support on the service.
                                 xml::ns::kVcard}) {
        auto fe = xml::make("feature", std::string(xml::ns::kDiscoInfo));
        fe->setAttr("var", f);
        q->addChild(fe);
      }
      router.route(xmpp::makeIqResult(*s, q));
      return;
    }
    if (get && payload->is("query", xml::ns::kDiscoItems) && payload->attr("node").empty()) {
      listRooms(domain, std::move(s));
      return;
    }
    if (get && payload->is("ping", xml::ns::kPing)) {
      router.route(xmpp::makeIqResult(*s));
      return;
    }
    router.bounce(*s, StanzaError::ServiceUnavailable);
  }

  // §6.3: the public rooms, collected shard by shard on each shard's own thread, then answered.
  struct Walk {
    core::Server* server;
    std::vector<std::shared_ptr<Shard>> shards;
    std::string domain;
    StanzaPtr request;
    std::vector<Shard::Listed> rooms;
    std::size_t next = 0;
  };
  void listRooms(const std::string& domain, StanzaPtr request) {
    collect(std::make_shared<Walk>(Walk{server_, shards_, domain, std::move(request), {}, 0}));
  }
  static void collect(std::shared_ptr<Walk> walk) {
    if (walk->next < walk->shards.size()) {
      auto shard = walk->shards[walk->next++];
      shard->executor().post([walk, shard] {
        shard->listPublic(walk->domain, walk->rooms);
        collect(walk);
      });
      return;
    }
    auto q = xml::make("query", std::string(xml::ns::kDiscoItems));
    std::sort(walk->rooms.begin(), walk->rooms.end(),
              [](const auto& a, const auto& b) { return a.jid < b.jid; });
    for (const auto& r : walk->rooms) {
      auto i = xml::make("item", std::string(xml::ns::kDiscoItems));
      i->setAttr("jid", r.jid);
      i->setAttr("name", r.name);
      q->addChild(i);
    }
    walk->server->router().route(xmpp::makeIqResult(*walk->request, q));
  }

  core::Server* server_ = nullptr;
  ServiceSettings settings_;
  std::vector<std::shared_ptr<Shard>> shards_;
  std::vector<std::string> domains_;
  std::shared_ptr<ArchiveIds> archiveIds_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"muc", "XEP-0045 multi-user chat", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new MucModule);
                                 }};

}  // namespace parley::xep::muc
