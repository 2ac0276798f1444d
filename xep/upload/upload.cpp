// XEP-0363 HTTP File Upload: a component upload.<host> hands out slots over XMPP; the HTTP server
// (server/http) takes the PUT and serves the GET.
//
// DESIGN
// - A slot is a row in upload_files (UploadStore) with a random 128-bit id (32 hex characters). The PUT
//   URL is <public_url>/upload/<id>/<filename>?e=<expiry>&s=<signature>; the GET URL is the same without
//   the query. The signature is HMAC-SHA256 over the method, id, filename, size, content type and
//   expiry with a key from [modules.upload] secret or <data_dir>/upload-secret (generated once),
//   compared in constant time. The id is the capability for GET: unguessable, never listed.
// - Files live at <storage_dir>/<user>/<id>, where <user> is a hash of the bare JID (hex) and <id> the
//   validated random id: no client string ever becomes part of a file path, so traversal is impossible
//   by construction. The user directory lets account deletion remove every file of the account after
//   the account's rows are gone (AccountRemoved runs after the delete).
// - PUT streams: each body chunk (at most 64 KiB) is written on the blocking pool (keyed by the id, so
//   in order) before the next one is read from the socket. Memory per upload is one chunk. The file is
//   written as <id>.part and renamed when complete, size exact (the HTTP parser enforces the
//   Content-Length; the slot fixes it). GET/HEAD read with pread on the blocking pool, with one Range
//   (RFC 9110 §14): 206, or 416 when unsatisfiable.
// - Quota: the sum of a user's completed files. Checked at the slot request (XMPP resource-constraint),
//   before the PUT body is accepted (HTTP 507) and again when it completes (parallel uploads).
// - Expiry: unused slots are removed after slot_lifetime (plus a minute for uploads in progress);
//   files after file_lifetime when set. A sweep runs every cleanup_interval on the blocking pool.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>

#include <fmt/format.h>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/http/http_server.h"
#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/module/module.h"
#include "server/util/crypto.h"
#include "server/util/time.h"
#include "server/util/utf8.h"
#include "server/xml/namespaces.h"
#include "server/xmpp/errors.h"
#include "xep/upload/upload_http.h"
#include "xep/upload/upload_store.h"

namespace parley::xep::upload {

namespace {

using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kNs = "urn:xmpp:http:upload:0";

struct Settings {
  std::string hostPattern = "upload.{domain}";
  std::string name = "HTTP File Upload";
  std::int64_t maxFileSize = 100ll << 20;
  std::int64_t quota = 1ll << 30;  // bytes per user; 0: none
  std::int64_t slotLifetime = 300;
  std::int64_t fileLifetime = 0;  // seconds; 0: keep until the account goes
  std::int64_t cleanupInterval = 3600;
  std::string secret;
  std::string storageDir;  // "" : <data_dir>/uploads
};

// One file descriptor shared by the reads of a GET; closed when the last read is done.
struct OpenFile {
  int fd = -1;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

// A PUT in progress.
struct PutState {
  UploadRecord rec;
  std::string dir, partPath, finalPath;
  int fd = -1;
  std::uint64_t written = 0;
  ~PutState() {
    if (fd >= 0) ::close(fd);
  }
};

std::string loadOrCreateSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (secret.size() >= 32) return secret;
  secret = util::randomBytes(32);
  const mode_t old = ::umask(077);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(secret.data(), static_cast<std::streamsize>(secret.size()));
  ::umask(old);
  if (!out) throw std::runtime_error("cannot write " + path);
  return secret;
}

class UploadModule final : public module::Module {
 public:
  void configure(core::ConfigSection& s) override {
    settings_.hostPattern = s.getString("host", settings_.hostPattern);
    settings_.name = s.getString("name", settings_.name);
    settings_.maxFileSize = s.getInt("max_file_size", settings_.maxFileSize, 1, 1ll << 40);
    settings_.quota = s.getInt("quota", settings_.quota, 0, 1ll << 50);
    settings_.slotLifetime = s.getInt("slot_lifetime", settings_.slotLifetime, 1, 86400);
    settings_.fileLifetime = s.getInt("file_lifetime", settings_.fileLifetime, 0, 100ll * 365 * 86400);
    settings_.cleanupInterval = s.getInt("cleanup_interval", settings_.cleanupInterval, 1, 86400 * 7);
    settings_.secret = s.getString("secret", "");
    if (!settings_.secret.empty() && settings_.secret.size() < 32)
      s.fail("secret", "must be at least 32 characters (or left out: a random key is kept in the data directory)");
    settings_.storageDir = s.getString("storage_dir", "");
    s.finish();
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& server = *server_;
    if (server.config().http.listeners.empty() && server.config().http.publicUrl.empty()) {
      log::warn("upload.disabled", "reason=\"no [[http.listeners]] and no [http] public_url\"");
      return;
    }
    dir_ = settings_.storageDir.empty() ? server.config().dataDir + "/uploads" : settings_.storageDir;
    std::filesystem::create_directories(dir_);
    ::chmod(dir_.c_str(), 0700);
    key_ = settings_.secret.empty() ? loadOrCreateSecret(server.config().dataDir + "/upload-secret") : settings_.secret;
    store_ = std::make_unique<UploadStore>(server.db());

    auto& m = server.metrics();
    slots_ = &m.counter("parley_upload_slots_total", "XEP-0363 upload slots handed out.");
    refusedSlots_ = &m.counter("parley_upload_slots_refused_total", "XEP-0363 slot requests refused (size, quota).");
    files_ = &m.counter("parley_upload_files_total", "XEP-0363 uploads completed.");
    bytesIn_ = &m.counter("parley_upload_bytes_total", "XEP-0363 file bytes uploaded and downloaded.",
                          {{"direction", "in"}});
    bytesOut_ = &m.counter("parley_upload_bytes_total", "XEP-0363 file bytes uploaded and downloaded.",
                           {{"direction", "out"}});
    refusedPuts_ = &m.counter("parley_upload_puts_refused_total", "XEP-0363 PUT requests refused.");

    for (const auto& host : server.config().hosts) {
      std::string domain = settings_.hostPattern;
      if (auto p = domain.find("{domain}"); p != std::string::npos) domain.replace(p, 8, host.domain);
      auto prepared = xmpp::Jid::prepDomain(domain);
      if (!prepared) throw core::ConfigError("[modules.upload] host: invalid domain \"" + domain + "\"");
      domain = *prepared;
      ctx.component(domain, [this, domain](StanzaPtr s) { onStanza(domain, std::move(s)); });
      ctx.keep(std::make_shared<router::IqHandle>(server.disco().addItem({domain, settings_.name, ""})));
      log::info("upload.service", "domain={} max_file_size={} quota={}", domain, settings_.maxFileSize,
                settings_.quota);
    }

    http::RouteOptions put;
    put.prefix = true;
    put.streamBody = true;
    ctx.keep(server.http().route({"PUT"}, std::string(kPathPrefix), put, [this](http::ExchangePtr ex) { onPut(ex); }));
    http::RouteOptions get;
    get.prefix = true;
    ctx.keep(server.http().route({"GET", "HEAD"}, std::string(kPathPrefix), get,
                                 [this](http::ExchangePtr ex) { onGet(ex); }));

    ctx.hook<hooks::AccountRemoved>([this](hooks::AccountRemoved::Context& c) {
      const std::string dir = userDir(c.user.domain(), c.user.local());
      server_->pool().submit([dir] {
        std::error_code ec;
        const auto n = std::filesystem::remove_all(dir, ec);
        log::info("upload.account_removed", "files={}{}", n > 0 ? n - 1 : 0, ec ? " error=" + ec.message() : "");
      });
      return hooks::Action::Continue;
    });

    scheduleCleanup();
  }

  void stop() override {
    stopped_ = true;
    if (!server_) return;
    // The timer belongs to network thread 0: drop it there (still running at module stop).
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    server_->io().executor(0).post([this, done] {
      cleanupTimer_.reset();
      done->set_value();
    });
    f.wait_for(std::chrono::seconds(2));
  }

 private:
  // ---------------------------------------------------------------------------------------------
  // XMPP side

  void onStanza(const std::string& domain, StanzaPtr s) {
    auto& router = server_->router();
    if (!s->isIq()) {
      if (s->isMessage() && !s->isError()) router.bounce(*s, StanzaError::ServiceUnavailable);
      return;
    }
    if (s->type() != "get" && s->type() != "set") return;
    const xml::Element* payload = s->element().firstChild();
    if (!payload) return router.bounce(*s, StanzaError::BadRequest);
    if (!s->to().local().empty()) return router.bounce(*s, StanzaError::ServiceUnavailable);
    const bool get = s->type() == "get";
    if (get && payload->is("query", xml::ns::kDiscoInfo) && payload->attr("node").empty())
      return router.route(xmpp::makeIqResult(*s, discoInfo()));
    if (get && payload->is("query", xml::ns::kDiscoItems) && payload->attr("node").empty())
      return router.route(xmpp::makeIqResult(*s, xml::make("query", std::string(xml::ns::kDiscoItems))));
    if (get && payload->is("request", kNs)) return requestSlot(domain, s, *payload);
    router.bounce(*s, StanzaError::ServiceUnavailable);
  }

  xml::ElementPtr discoInfo() const {
    auto q = xml::make("query", std::string(xml::ns::kDiscoInfo));
    auto id = xml::make("identity", std::string(xml::ns::kDiscoInfo));
    id->setAttr("category", "store");
    id->setAttr("type", "file");
    id->setAttr("name", settings_.name);
    q->addChild(id);
    for (std::string_view f : {xml::ns::kDiscoInfo, xml::ns::kDiscoItems, kNs}) {
      auto fe = xml::make("feature", std::string(xml::ns::kDiscoInfo));
      fe->setAttr("var", f);
      q->addChild(fe);
    }
    // XEP-0363 §3 with XEP-0128: the largest file a client may ask a slot for.
    auto x = xml::make("x", std::string(xml::ns::kDataForms));
    x->setAttr("type", "result");
    auto formType = xml::make("field", std::string(xml::ns::kDataForms));
    formType->setAttr("var", "FORM_TYPE");
    formType->setAttr("type", "hidden");
    formType->addTextChild("value", xml::ns::kDataForms, kNs);
    x->addChild(formType);
    auto max = xml::make("field", std::string(xml::ns::kDataForms));
    max->setAttr("var", "max-file-size");
    max->addTextChild("value", xml::ns::kDataForms, std::to_string(settings_.maxFileSize));
    x->addChild(max);
    q->addChild(x);
    return q;
  }

  void requestSlot(const std::string& domain, const StanzaPtr& s, const xml::Element& req) {
    auto& router = server_->router();
    const xmpp::Jid& from = s->from();
    // Only accounts of this server (the component serves upload.<host> for <host>'s users).
    if (from.local().empty() || !server_->config().host(from.domain()))
      return router.bounce(*s, StanzaError::Forbidden, "only local accounts may upload files");
    (void)domain;
    const std::string sizeText(req.attr("size"));
    const std::string filename(req.attr("filename"));
    if (filename.empty() || sizeText.empty() || sizeText.size() > 18 ||
        sizeText.find_first_not_of("0123456789") != std::string::npos)
      return router.bounce(*s, StanzaError::BadRequest, "filename and size (in bytes) are required");
    const std::int64_t size = std::stoll(sizeText);
    if (size > settings_.maxFileSize) {
      // XEP-0363 §5: not-acceptable with <file-too-large><max-file-size/></file-too-large>.
      refusedSlots_->inc();
      auto extra = xml::make("file-too-large", std::string(kNs));
      extra->addTextChild("max-file-size", kNs, std::to_string(settings_.maxFileSize));
      if (s->isError()) return;
      router.route(xmpp::makeErrorReply(
          *s, StanzaError::NotAcceptable,
          fmt::format("File too large. The maximum file size is {} bytes", settings_.maxFileSize), extra));
      return;
    }
    UploadRecord rec;
    rec.domain = from.domain();
    rec.username = from.local();
    rec.id = util::hexEncode(util::randomBytes(16));
    rec.filename = sanitizeFilename(filename);
    rec.size = size;
    rec.contentType = sanitizeContentType(req.attr("content-type"));
    rec.createdAt = util::unixNow();
    const std::int64_t quota = settings_.quota;
    auto exec = runtime::Executor::current();
    runtime::offload(
        server_->pool(), exec, from.bareStr(),
        [this, rec, quota] {
          std::int64_t used = 0;
          const bool ok = store_->createSlot(rec, quota, &used);
          return std::make_pair(ok, used);
        },
        [this, s, rec](runtime::Outcome<std::pair<bool, std::int64_t>> out) {
          auto& router = server_->router();
          if (!out.ok()) {
            log::error("upload.slot.failed", "user={}@{} error=\"{}\"", rec.username, rec.domain, out.error);
            return router.bounce(*s, StanzaError::InternalServerError);
          }
          if (!out.value->first) {
            refusedSlots_->inc();
            log::info("upload.quota", "user={}@{} used={} size={} quota={}", rec.username, rec.domain,
                      out.value->second, rec.size, settings_.quota);
            // XEP-0363 §5: a temporary error (files expire or can be deleted), type wait.
            router.route(xmpp::makeErrorReply(
                *s, StanzaError::ResourceConstraint,
                fmt::format("Quota exceeded: {} of your {} bytes are used; this file needs {} more", out.value->second,
                            settings_.quota, rec.size)));
            return;
          }
          slots_->inc();
          const std::int64_t expiry = rec.createdAt + settings_.slotLifetime;
          const std::string base = fmt::format("{}{}{}/{}", server_->http().publicUrl(), kPathPrefix, rec.id,
                                               http::percentEncode(rec.filename));
          auto slot = xml::make("slot", std::string(kNs));
          auto put = xml::make("put", std::string(kNs));
          put->setAttr("url", fmt::format("{}?e={}&s={}", base, expiry, sign(rec, expiry)));
          slot->addChild(put);
          auto getEl = xml::make("get", std::string(kNs));
          getEl->setAttr("url", base);
          slot->addChild(getEl);
          log::info("upload.slot", "user={}@{} id_prefix={} size={} type={}", rec.username, rec.domain,
                    rec.id.substr(0, 6), rec.size, rec.contentType);
          router.route(xmpp::makeIqResult(*s, slot));
        });
  }

  std::string sign(const UploadRecord& r, std::int64_t expiry) const {
    const std::string data = fmt::format("PUT\n{}\n{}\n{}\n{}\n{}", r.id, r.filename, r.size, r.contentType, expiry);
    return util::hexEncode(util::hmac(util::HashAlg::Sha256, key_, data));
  }

  std::string userDir(std::string_view domain, std::string_view user) const {
    const std::string bare = fmt::format("{}@{}", user, domain);
    return dir_ + "/" + util::hexEncode(util::hash(util::HashAlg::Sha256, bare)).substr(0, 32);
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP side

  void refuse(const http::ExchangePtr& ex, int status, std::string why) {
    refusedPuts_->inc();
    log::info("upload.put.refused", "peer={} status={} reason=\"{}\"", ex->request().remoteIp, status, why);
    ex->respond(http::Response::text(status, why + "\n"));
  }

  void onPut(const http::ExchangePtr& ex) {
    const http::Request& req = ex->request();
    std::string id, filename;
    if (!splitUploadPath(req.path, id, filename)) return refuse(ex, 404, "no such upload slot");
    auto e = req.queryParam("e");
    auto sig = req.queryParam("s");
    if (!e || !sig || e->empty() || e->size() > 18 || e->find_first_not_of("0123456789") != std::string::npos)
      return refuse(ex, 403, "the upload URL is not signed");
    const std::int64_t expiry = std::stoll(*e);
    if (util::unixNow() > expiry) return refuse(ex, 403, "the upload URL has expired");
    if (!req.contentLength) return refuse(ex, 411, "Content-Length is required");
    const std::int64_t length = static_cast<std::int64_t>(*req.contentLength);
    const std::string contentType(req.header("content-type"));

    auto exec = ex->executor();
    runtime::offload(
        server_->pool(), exec, id,
        [this, id] {
          auto rec = store_->find(id);
          std::int64_t used = rec ? store_->usedBytes(rec->domain, rec->username) : 0;
          return std::make_pair(rec, used);
        },
        [this, ex, id, filename, expiry, length, contentType, sig = *sig](
            runtime::Outcome<std::pair<std::optional<UploadRecord>, std::int64_t>> out) {
          if (!out.ok()) return refuse(ex, 500, "storage error");
          const auto& rec = out.value->first;
          if (!rec || rec->filename != filename) return refuse(ex, 404, "no such upload slot");
          // Constant-time: the signature must not be guessable byte by byte from response times.
          if (!util::constantTimeEqual(sign(*rec, expiry), sig)) return refuse(ex, 403, "bad signature");
          if (rec->completedAt != 0) return refuse(ex, 409, "this slot was already used");
          if (length > rec->size) return refuse(ex, 413, fmt::format("the slot is for {} bytes", rec->size));
          if (length != rec->size) return refuse(ex, 400, fmt::format("the slot is for {} bytes", rec->size));
          // XEP-0363 §6: the Content-Type must be the one of the slot request (none: octet-stream).
          const std::string sent = contentType.empty() ? std::string("application/octet-stream")
                                                       : sanitizeContentType(contentType);
          if (sent != rec->contentType)
            return refuse(ex, 415, fmt::format("the slot is for Content-Type {}", rec->contentType));
          if (settings_.quota > 0 && out.value->second + rec->size > settings_.quota)
            return refuse(ex, 507, "upload quota exceeded");
          auto st = std::make_shared<PutState>();
          st->rec = *rec;
          st->dir = userDir(rec->domain, rec->username);
          st->finalPath = st->dir + "/" + rec->id;
          st->partPath = st->finalPath + ".part";
          log::debug("upload.put.start", "id_prefix={} size={}", id.substr(0, 6), rec->size);
          readChunk(ex, st);
        });
  }

  void readChunk(const http::ExchangePtr& ex, const std::shared_ptr<PutState>& st) {
    ex->readBody([this, ex, st](bool ok, std::string_view chunk, bool last) {
      if (!ok) return discard(st);  // client gone or too slow: the connection closes
      if (st->written + chunk.size() > static_cast<std::uint64_t>(st->rec.size)) {
        discard(st);
        return refuse(ex, 413, "more data than the slot allows");
      }
      bytesIn_->inc(chunk.size());
      runtime::offload(
          server_->pool(), ex->executor(), st->rec.id,
          [st, data = std::string(chunk)] {
            if (st->fd < 0) {
              std::filesystem::create_directories(st->dir);
              // O_EXCL: two PUTs to the same slot cannot write one file.
              st->fd = ::open(st->partPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
              if (st->fd < 0) throw std::runtime_error(std::string("open: ") + std::strerror(errno));
            }
            std::size_t off = 0;
            while (off < data.size()) {
              ssize_t n = ::write(st->fd, data.data() + off, data.size() - off);
              if (n < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error(std::string("write: ") + std::strerror(errno));
              }
              off += static_cast<std::size_t>(n);
            }
            st->written += data.size();
          },
          [this, ex, st, last](runtime::Outcome<bool> out) {
            if (!out.ok()) {
              log::error("upload.put.write_failed", "id_prefix={} error=\"{}\"", st->rec.id.substr(0, 6), out.error);
              const bool busy = out.error.find("File exists") != std::string::npos;
              if (!busy) discard(st);
              return refuse(ex, busy ? 409 : 500, busy ? "an upload to this slot is in progress" : "cannot store the file");
            }
            if (!last) return readChunk(ex, st);
            finish(ex, st);
          });
    });
  }

  void finish(const http::ExchangePtr& ex, const std::shared_ptr<PutState>& st) {
    if (st->written != static_cast<std::uint64_t>(st->rec.size)) {
      discard(st);
      return refuse(ex, 400, fmt::format("the slot is for {} bytes", st->rec.size));
    }
    const std::int64_t quota = settings_.quota;
    runtime::offload(
        server_->pool(), ex->executor(), st->rec.id,
        [this, st, quota] {
          if (st->fd < 0) {  // an empty file: nothing was written yet
            std::filesystem::create_directories(st->dir);
            st->fd = ::open(st->partPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (st->fd < 0) throw std::runtime_error(std::string("open: ") + std::strerror(errno));
          }
          if (::fsync(st->fd) != 0) throw std::runtime_error(std::string("fsync: ") + std::strerror(errno));
          ::close(st->fd);
          st->fd = -1;
          const CompleteResult r = store_->complete(st->rec.id, util::unixNow(), quota);
          if (r != CompleteResult::Ok) {
            ::unlink(st->partPath.c_str());
            return r;
          }
          if (::rename(st->partPath.c_str(), st->finalPath.c_str()) != 0) {
            const int err = errno;
            store_->remove(st->rec.id);
            ::unlink(st->partPath.c_str());
            throw std::runtime_error(std::string("rename: ") + std::strerror(err));
          }
          return r;
        },
        [this, ex, st](runtime::Outcome<CompleteResult> out) {
          if (!out.ok()) {
            log::error("upload.put.failed", "id_prefix={} error=\"{}\"", st->rec.id.substr(0, 6), out.error);
            return refuse(ex, 500, "cannot store the file");
          }
          if (*out.value == CompleteResult::OverQuota) return refuse(ex, 507, "upload quota exceeded");
          if (*out.value == CompleteResult::Gone) return refuse(ex, 404, "the upload slot expired");
          files_->inc();
          log::info("upload.put.done", "user={}@{} id_prefix={} size={}", st->rec.username, st->rec.domain,
                    st->rec.id.substr(0, 6), st->rec.size);
          // XEP-0363 §6: 201 means the file is now served at the GET URL.
          ex->respond(http::Response::text(201, "created\n"));
        });
  }

  // Removes a partial file (on the pool, after the writes queued before it: same key).
  void discard(const std::shared_ptr<PutState>& st) {
    server_->pool().submit(st->rec.id, [st] {
      if (st->fd >= 0) {
        ::close(st->fd);
        st->fd = -1;
        ::unlink(st->partPath.c_str());
      }
    });
  }

  void onGet(const http::ExchangePtr& ex) {
    const http::Request& req = ex->request();
    std::string id, filename;
    if (!splitUploadPath(req.path, id, filename)) return ex->respond(http::Response::text(404, "not found\n"));
    auto exec = ex->executor();
    struct Found {
      UploadRecord rec;
      std::shared_ptr<OpenFile> file;
      std::int64_t size = 0;
    };
    runtime::offload(
        server_->pool(), exec, "",
        [this, id, filename]() -> std::optional<Found> {
          auto rec = store_->find(id);
          if (!rec || rec->completedAt == 0 || rec->filename != filename) return std::nullopt;
          Found f;
          f.file = std::make_shared<OpenFile>();
          const std::string path = userDir(rec->domain, rec->username) + "/" + rec->id;
          f.file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
          if (f.file->fd < 0) return std::nullopt;
          struct stat stbuf {};
          if (::fstat(f.file->fd, &stbuf) != 0) return std::nullopt;
          f.size = stbuf.st_size;
          f.rec = std::move(*rec);
          return f;
        },
        [this, ex](runtime::Outcome<std::optional<Found>> out) {
          if (!out.ok()) return ex->respond(http::Response::text(500, "storage error\n"));
          if (!*out.value) return ex->respond(http::Response::text(404, "not found\n"));
          serve(ex, std::move(**out.value).rec, (*out.value)->file, (*out.value)->size);
        });
  }

  void serve(const http::ExchangePtr& ex, UploadRecord rec, std::shared_ptr<OpenFile> file, std::int64_t size) {
    const http::Request& req = ex->request();
    http::Response r;
    r.header("Content-Type", rec.contentType);
    r.header("Content-Disposition", contentDisposition(rec.contentType, rec.filename));
    r.header("X-Content-Type-Options", "nosniff");
    // XEP-0363 §9: uploaded files must not run as active content in the server's origin.
    r.header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    r.header("Accept-Ranges", "bytes");
    r.header("Cache-Control", "private, max-age=86400");
    std::int64_t from = 0, to = size - 1;
    const std::string_view range = req.header("range");
    if (!range.empty()) {
      auto rg = parseRange(range, size);
      if (rg && rg->first < 0) {
        http::Response bad = http::Response::text(416, "range not satisfiable\n");
        bad.header("Content-Range", fmt::format("bytes */{}", size));
        return ex->respond(std::move(bad));
      }
      if (rg) {
        from = rg->first;
        to = rg->second;
        r.status = 206;
        r.header("Content-Range", fmt::format("bytes {}-{}/{}", from, to, size));
      }
    }
    const std::uint64_t length = size > 0 ? static_cast<std::uint64_t>(to - from + 1) : 0;
    r.bodyLength = length;
    if (req.method == "HEAD") {
      r.headOnly = true;
      r.source = [](std::size_t, std::function<void(std::optional<std::string>)> done) { done(std::nullopt); };
      return ex->respond(std::move(r));
    }
    auto offset = std::make_shared<std::int64_t>(from);
    auto exec = ex->executor();
    r.source = [this, file, offset, exec](std::size_t max, std::function<void(std::optional<std::string>)> done) {
      runtime::offload(
          server_->pool(), exec, "",
          [file, offset, max] {
            std::string buf(max, '\0');
            ssize_t n;
            do n = ::pread(file->fd, buf.data(), max, *offset);
            while (n < 0 && errno == EINTR);
            if (n <= 0) throw std::runtime_error("short read");
            buf.resize(static_cast<std::size_t>(n));
            return buf;
          },
          [this, offset, done = std::move(done)](runtime::Outcome<std::string> out) {
            if (!out.ok()) return done(std::nullopt);
            *offset += static_cast<std::int64_t>(out.value->size());
            bytesOut_->inc(out.value->size());
            done(std::move(*out.value));
          });
    };
    ex->respond(std::move(r));
  }

  // ---------------------------------------------------------------------------------------------
  // Expiry

  void scheduleCleanup() {
    auto exec = server_->io().executor(0);
    exec.post([this, exec] {
      if (stopped_) return;
      cleanupTimer_ = std::make_unique<runtime::Timer>(exec, std::chrono::seconds(settings_.cleanupInterval), [this] {
        if (stopped_) return;
        cleanup();
        scheduleCleanup();
      });
    });
  }

  void cleanup() {
    const std::int64_t now = util::unixNow();
    // A slot may be used until it expires; an upload started just before gets another minute.
    const std::int64_t pendingBefore = now - settings_.slotLifetime - 60;
    const std::int64_t completedBefore = settings_.fileLifetime > 0 ? now - settings_.fileLifetime : 0;
    server_->pool().submit([this, pendingBefore, completedBefore] {
      try {
        std::size_t n = 0;
        for (;;) {
          auto batch = store_->expired(pendingBefore, completedBefore, 500);
          for (const auto& r : batch) {
            const std::string path = userDir(r.domain, r.username) + "/" + r.id;
            ::unlink(path.c_str());
            ::unlink((path + ".part").c_str());
            store_->remove(r.id);
          }
          n += batch.size();
          if (batch.size() < 500) break;
        }
        n += removeOrphans();
        if (n) log::info("upload.cleanup", "removed={}", n);
      } catch (const std::exception& e) {
        log::error("upload.cleanup.failed", "error=\"{}\"", e.what());
      }
    });
  }

  // Files whose row is gone: the account was deleted by another process (parleyctl user del), so
  // AccountRemoved did not run here. Blocking.
  std::size_t removeOrphans() {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& userDir : std::filesystem::directory_iterator(dir_, ec)) {
      if (!userDir.is_directory()) continue;
      bool empty = true;
      std::error_code ec2;
      for (const auto& f : std::filesystem::directory_iterator(userDir.path(), ec2)) {
        std::string name = f.path().filename().string();
        const bool part = name.size() > 5 && name.ends_with(".part");
        if (part) name.resize(name.size() - 5);
        if (validId(name) && !store_->find(name)) {
          std::filesystem::remove(f.path(), ec2);
          ++n;
        } else {
          empty = false;
        }
      }
      if (empty) std::filesystem::remove(userDir.path(), ec2);  // only if still empty
    }
    return n;
  }

  Settings settings_;
  core::Server* server_ = nullptr;
  std::string dir_;
  std::string key_;
  std::unique_ptr<UploadStore> store_;
  runtime::TimerPtr cleanupTimer_;
  std::atomic<bool> stopped_{false};
  metrics::Counter* slots_ = nullptr;
  metrics::Counter* refusedSlots_ = nullptr;
  metrics::Counter* files_ = nullptr;
  metrics::Counter* bytesIn_ = nullptr;
  metrics::Counter* bytesOut_ = nullptr;
  metrics::Counter* refusedPuts_ = nullptr;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"upload", "XEP-0363 HTTP file upload (component upload.<host>)", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new UploadModule);
                                 }};

}  // namespace parley::xep::upload
