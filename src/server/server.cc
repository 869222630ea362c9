#include "server/server.h"

#include <fmt/compile.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <optional>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "admin/dashboard.h"
#include "admin/ops.h"
#include "clients/clients.h"
#include "common/names.h"
#include "common/usage_query.h"
#include "logging/log.h"
#include "proxy/anthropic.h"
#include "proxy/client_watch.h"
#include "proxy/idle_ping.h"
#include "proxy/native.h"
#include "proxy/openai.h"
#include "proxy/wait_queue.h"
#include "proxy/wire.h"
#include "server/client_io.h"
#include "translate/anthropic_error.h"
#include "translate/error.h"

namespace gkm {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

struct Server::Session {
  tcp::socket* socket;
  bool idle = true;
};

struct Server::Worker {
  // One thread runs this context and every socket on it is used from that thread only
  // (the acceptor registers new sockets, which keeps registration locked), so the
  // reactor's per-socket locks can go.
  asio::io_context ctx{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  std::unique_ptr<UpstreamPool> upstream;
  ClientWatchList watches{ctx.get_executor()};  // clients waiting for Google, swept
  PingList pings{ctx.get_executor()};           // streams that ping while Google is silent
  std::unordered_set<Session*> sessions;        // touched only on this worker's thread
  std::thread thread;
};

namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

// SHA-256 of text. OpenSSL 3's one-shot SHA256() looks the algorithm up in its provider
// store (a lock) and allocates a context on every call; here the algorithm is fetched once
// and each thread keeps its context.
Digest DigestOf(std::string_view text) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  Digest d{};
  unsigned int n = 0;
  if (!sha256 || !ctx || !EVP_DigestInit_ex2(ctx.get(), sha256, nullptr) ||
      !EVP_DigestUpdate(ctx.get(), text.data(), text.size()) ||
      !EVP_DigestFinal_ex(ctx.get(), d.data(), &n)) {
    // Cannot happen with a working libcrypto; fall back to the one-shot call.
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
  }
  return d;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  Digest da = DigestOf(a), db = DigestOf(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

// Compares digests, so that neither the content nor the length of a token leaks through
// timing; every configured token is compared (no early exit, no branch on a match). Returns
// the index of the matching token, or tokens.size().
size_t DigestMatch(std::string_view presented, const std::vector<ClientToken>& tokens) {
  Digest d = DigestOf(presented);
  size_t found = tokens.size();
  for (size_t i = 0; i < tokens.size(); ++i) {
    size_t mask = size_t{0} - static_cast<size_t>(
                                  CRYPTO_memcmp(d.data(), tokens[i].sha256.data(), d.size()) == 0);
    found = (found & ~mask) | (i & mask);
  }
  return found;
}

// A token as a fixed-width block: its bytes, zeros, its length. Tokens up to 120 bytes.
struct TokenBlock {
  static constexpr size_t kWords = 16;
  std::array<uint64_t, kWords> words{};
  static std::optional<TokenBlock> Of(std::string_view token) {
    constexpr size_t kRoom = (kWords - 1) * sizeof(uint64_t);
    if (token.size() > kRoom) return std::nullopt;
    TokenBlock b;
    std::memcpy(b.words.data(), token.data(), token.size());
    b.words[kWords - 1] = token.size();
    return b;
  }
  // Every word is compared, without branches: the time does not depend on where blocks differ.
  bool SameAs(const TokenBlock& other) const {
    uint64_t diff = 0;
    for (size_t i = 0; i < kWords; ++i) diff |= words[i] ^ other.words[i];
    return diff == 0;
  }
};

// Clients send the same token with every request, and hashing it was the largest part of a
// request's own work; each thread remembers the last token it was shown and the verdict.
// The memo is compared over its whole width whatever the token, so timing tells only
// whether a presented token equals the last one entirely — no more than the answer tells.
// Returns the matching token, or null.
const ClientToken* TokenMatch(std::string_view presented, const std::vector<ClientToken>& tokens) {
  struct Memo {
    TokenBlock token;
    const std::vector<ClientToken>* tokens = nullptr;  // whose tokens: one server's
    size_t match = 0;
  };
  thread_local Memo memo;
  std::optional<TokenBlock> block = TokenBlock::Of(presented);
  size_t i;
  if (!block) {
    i = DigestMatch(presented, tokens);
  } else if (memo.tokens == &tokens && memo.token.SameAs(*block)) {
    i = memo.match;
  } else {
    memo = Memo{*block, &tokens, DigestMatch(presented, tokens)};
    i = memo.match;
  }
  return i < tokens.size() ? &tokens[i] : nullptr;
}

std::string_view BearerOf(const RequestParser& msg) {
  std::string_view v = msg.Find("authorization").value_or("");
  if (v.size() > 7 && (v.starts_with("Bearer ") || v.starts_with("bearer "))) {
    return v.substr(7);
  }
  return {};
}

// The client token from x-goog-api-key, ?key= or Authorization: Bearer (and x-api-key, what
// Anthropic's clients send, where `x_api_key`): the first that matches, or null.
const ClientToken* ClientAuthorized(const Request& req, const std::vector<ClientToken>& tokens,
                                    bool x_api_key) {
  if (auto key = x_api_key ? req.msg.Find("x-api-key") : std::nullopt) {
    if (const ClientToken* t = TokenMatch(*key, tokens)) return t;
  }
  if (auto key = req.msg.Find("x-goog-api-key")) {
    if (const ClientToken* t = TokenMatch(*key, tokens)) return t;
  }
  if (auto k = QueryParam(req.query, "key")) {
    if (const ClientToken* t = TokenMatch(*k, tokens)) return t;
  }
  std::string_view bearer = BearerOf(req.msg);
  return bearer.empty() ? nullptr : TokenMatch(bearer, tokens);
}

bool IsNativePath(std::string_view path) {
  return path.starts_with("/v1/") || path.starts_with("/v1beta/") ||
         path.starts_with("/v1alpha/") || path.starts_with("/upload/");
}

// Half-closes and reads what the client still sends, for up to 2 s or 128 MiB, into one
// scratch buffer. Closing with unread bytes makes the kernel send a reset, and a reset can
// discard our answer before the client reads it: a client still uploading a body we did
// not want (a 50 MB POST to /healthz) must be let finish.
asio::awaitable<void> DrainInput(tcp::socket& socket, Deadline& deadline,
                                 beast::flat_buffer& buffer) {
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  buffer.consume(buffer.size());
  deadline.Arm(std::chrono::seconds(2));
  size_t total = 0;
  char scratch[16384];
  while (total < (128u << 20) && !deadline.expired()) {
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(scratch), as_tuple(use_awaitable));
    if (rec) break;
    total += n;
  }
}

}  // namespace

Server::Server(Services& services, std::shared_ptr<asio::ssl::context> upstream_tls)
    : svc_(services), upstream_tls_(std::move(upstream_tls)) {
  unsigned n = std::max(1u, svc_.config->threads);
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->upstream = std::make_unique<UpstreamPool>(w->ctx.get_executor(), svc_.config->upstream,
                                                 upstream_tls_, std::chrono::seconds(10));
    w->upstream->SetEgress(svc_.egress);
    workers_.push_back(std::move(w));
  }
}

Server::~Server() { Stop(); }

bool Server::Listen(std::string* error) {
  const auto& l = svc_.config->listen;
  std::string where = (l.host.find(':') != std::string::npos ? "[" + l.host + "]" : l.host) + ":" +
                      std::to_string(l.port);
  boost::system::error_code ec;
  tcp::resolver resolver(workers_[0]->ctx);
  auto results = resolver.resolve(l.host, std::to_string(l.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    *error = "--listen: cannot resolve " + where + ": " + ec.message();
    return false;
  }
  tcp::endpoint ep = results.begin()->endpoint();
  auto acc = std::make_unique<tcp::acceptor>(workers_[0]->ctx);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error =
        "--listen: cannot listen on " + where + ": " +
        (ec == asio::error::address_in_use ? std::string("address already in use") : ec.message());
    return false;
  }
  port_ = acc->local_endpoint().port();
  acceptor_ = std::move(acc);
  return true;
}

void Server::Start() {
  asio::co_spawn(workers_[0]->ctx, AcceptLoop(), asio::detached);
  for (auto& w : workers_) {
    w->thread = std::thread([ctx = &w->ctx] { ctx->run(); });
  }
  started_ = true;
}

asio::awaitable<void> Server::AcceptLoop() {
  size_t next = 0;
  asio::steady_timer pause(workers_[0]->ctx);
  while (acceptor_ && acceptor_->is_open()) {
    // At --max-connections, new connections wait in the kernel's backlog until one ends.
    if (open_.load() >= svc_.config->max_connections) {
      pause.expires_after(std::chrono::milliseconds(5));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    Worker& w = *workers_[next++ % workers_.size()];
    auto [ec, socket] =
        co_await acceptor_->async_accept(w.ctx.get_executor(), as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) break;
      // Out of descriptors or memory: pause instead of spinning on the same error.
      spdlog::warn("accept failed: {}; pausing 100 ms", ec.message());
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    open_.fetch_add(1);
    asio::co_spawn(w.ctx, RunSession(w, std::move(socket)), asio::detached);
  }
}

void Server::Drain() {
  svc_.draining.store(true);
  if (svc_.queue) svc_.queue->WakeAll();  // waiters for a key give up: nothing new goes out
  asio::post(workers_[0]->ctx, [this] {
    if (acceptor_) {
      boost::system::error_code ec;
      acceptor_->close(ec);
    }
  });
  for (auto& w : workers_) {
    asio::post(w->ctx, [wp = w.get()] {
      for (Session* s : wp->sessions) {
        if (s->idle) {
          boost::system::error_code ec;
          s->socket->shutdown(tcp::socket::shutdown_both, ec);
          s->socket->cancel(ec);
        }
      }
    });
  }
}

void Server::Stop() {
  if (!started_) return;
  started_ = false;
  for (auto& w : workers_) {
    asio::post(w->ctx, [wp = w.get()] { wp->upstream->CloseIdle(); });
    w->guard.reset();
    w->ctx.stop();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

// The request's phases, in order (STYLE.md's Pingora anchor): read the head (and
// AnswerToBadHead) → Describe → RouteOf → Admit (authenticate, limits) → read the body where
// the route uses one (and AnswerToBadBody) → Serve → Record. Each is one function below but
// the two reads, which RunSession does itself (a coroutine frame per phase showed in the cost
// of a request); RunSession strings them together and makes sure that whatever a phase
// throws ends this request alone, with its bookkeeping undone.

// A connection's place in its worker's session table and in the open count, for exactly
// as long as its coroutine lives.
struct Server::SessionScope {
  SessionScope(Worker& w, Session& s, std::atomic<size_t>& open)
      : worker(w), session(s), open_(open) {
    worker.sessions.insert(&session);
  }
  ~SessionScope() {
    worker.sessions.erase(&session);
    open_.fetch_sub(1);
  }
  SessionScope(const SessionScope&) = delete;
  SessionScope& operator=(const SessionScope&) = delete;
  Worker& worker;
  Session& session;
  std::atomic<size_t>& open_;
};

namespace {

// One request in the in-flight gauge, whatever way it ends.
class InflightScope {
 public:
  explicit InflightScope(Metrics& m) : metrics_(m) { metrics_.InflightAdd(1); }
  ~InflightScope() { metrics_.InflightAdd(-1); }
  InflightScope(const InflightScope&) = delete;
  InflightScope& operator=(const InflightScope&) = delete;

 private:
  Metrics& metrics_;
};

// Routes whose handlers read the request body. Every other route answers without reading
// it (and closes the connection when one was announced), so a body sent to /healthz costs
// no memory.
bool UsesBody(Server::Route kind) {
  return kind == Server::Route::kNative || kind == Server::Route::kOpenAi ||
         kind == Server::Route::kAnthropic;
}

// Sends a whole answer; returns PackResult(status, the connection stays open). Takes the
// answer by value: it lives in this coroutine's frame while it is sent.
asio::awaitable<int> SendAnswer(ClientConn& client, http::response<http::string_body> res,
                                bool keep_alive) {
  res.keep_alive(keep_alive);
  bool sent = co_await SendResponse(client, res);
  co_return PackResult(res.result_int(), sent && keep_alive);
}

// The key id of POST /admin/keys/{id}/check, else nullopt.
std::optional<std::string> KeyCheckId(const Request& req) {
  constexpr std::string_view kPrefix = "/admin/keys/", kSuffix = "/check";
  const std::string& p = req.path;
  if (req.msg.method() != http::verb::post || !p.starts_with(kPrefix) || !p.ends_with(kSuffix) ||
      p.size() <= kPrefix.size() + kSuffix.size()) {
    return std::nullopt;
  }
  return p.substr(kPrefix.size(), p.size() - kPrefix.size() - kSuffix.size());
}

// POST /admin/keys/{id}/check (SPEC 3.9): the probe runs on the key checker's thread; this
// request waits for it.
asio::awaitable<int> ServeKeyCheck(ClientConn& client, Services& svc, std::string id, bool keep) {
  if (!svc.check_key) {
    co_return co_await SendAnswer(
        client, JsonResponse(503, GeminiErrorBody(503, "key checks are not available"), keep),
        keep);
  }
  std::optional<std::string> answer = co_await svc.check_key(id);
  if (!answer) {
    co_return co_await SendAnswer(
        client, JsonResponse(404, GeminiErrorBody(404, "no key with id " + Printable(id)), keep),
        keep);
  }
  co_return co_await SendAnswer(client, JsonResponse(200, std::move(*answer), keep), keep);
}

// GET (or HEAD) of the dashboard's page or one of its assets, or of /admin (which sends the
// browser on to /admin/): public, as the page is a login form (admin/dashboard.h).
bool IsDashboardRequest(const Request& req) {
  const auto m = req.msg.method();
  return (m == http::verb::get || m == http::verb::head) &&
         (req.path == "/admin" || DashboardAsset(req.path) != nullptr);
}

// The dashboard's page or asset, revalidated by ETag (a 304 when the browser has it).
http::response<http::string_body> DashboardAnswer(const Request& req, bool keep) {
  http::response<http::string_body> res{http::status::ok, 11};
  res.keep_alive(keep);
  const EmbeddedAsset* asset = DashboardAsset(req.path);
  if (!asset) {  // "/admin"
    res.result(http::status::permanent_redirect);
    res.set(http::field::location, "/admin/");
    res.prepare_payload();
    return res;
  }
  res.set(http::field::content_type, asset->content_type);
  res.set(http::field::etag, asset->etag);
  // Revalidated on every load: a new binary's page is never mixed with an old script.
  res.set(http::field::cache_control, "no-cache");
  res.set("content-security-policy", kDashboardCsp);
  res.set("x-content-type-options", "nosniff");
  res.set("x-frame-options", "DENY");
  res.set("referrer-policy", "no-referrer");
  if (req.msg.Find("if-none-match") == asset->etag) {
    res.result(http::status::not_modified);
    return res;
  }
  res.content_length(asset->body.size());
  if (req.msg.method() != http::verb::head) res.body() = std::string(asset->body);
  return res;
}

// GET /admin/usage (SPEC 3.9): usage history from the state store, read on the history
// reader's thread; JSON or CSV.
asio::awaitable<int> ServeUsage(ClientConn& client, Services& svc, const Request& req, bool keep) {
  auto error = [keep](int code, const std::string& message) {
    return JsonResponse(code, GeminiErrorBody(code, message), keep);
  };
  if (!svc.usage_history || !svc.quota_day) {
    co_return co_await SendAnswer(client, error(503, "usage history is not available"), keep);
  }
  const std::string format = QueryParam(req.query, "format").value_or("json");
  if (format != "json" && format != "csv") {
    co_return co_await SendAnswer(
        client, error(400, "format: must be json or csv, not '" + Printable(format, 40) + "'"),
        keep);
  }
  auto parsed = ParseUsageQuery(QueryParam(req.query, "from"), QueryParam(req.query, "to"),
                                QueryParam(req.query, "group_by"), svc.quota_day());
  if (auto* bad = std::get_if<UsageQueryError>(&parsed)) {
    co_return co_await SendAnswer(client, error(400, bad->param + ": " + bad->message), keep);
  }
  const UsageQuery& q = std::get<UsageQuery>(parsed);
  UsageAnswer answer = co_await svc.usage_history(q);
  if (!answer.error.empty()) {
    co_return co_await SendAnswer(client, error(answer.too_many ? 400 : 500, answer.error), keep);
  }
  if (format == "json") {
    co_return co_await SendAnswer(client, JsonResponse(200, UsageJson(q, answer.rows), keep), keep);
  }
  http::response<http::string_body> res{http::status::ok, 11};
  res.set(http::field::content_type, "text/csv; charset=utf-8; header=present");
  res.body() = UsageCsv(q, answer.rows);
  res.prepare_payload();
  co_return co_await SendAnswer(client, std::move(res), keep);
}

}  // namespace

Server::Route Server::RouteOf(const Request& req, OpenAiRoute* openai) const {
  *openai = OpenAiRouteOf(req);
  if (req.path == "/healthz") return Route::kHealth;
  if (req.path == "/metrics") return Route::kMetrics;
  if (req.path.starts_with("/admin/") || req.path == "/admin") return Route::kAdmin;
  if (*openai != OpenAiRoute::kNone) return Route::kOpenAi;
  if (AnthropicShaped(req)) return Route::kAnthropic;
  if (IsNativePath(req.path)) return Route::kNative;
  return Route::kNotFound;
}

std::optional<Server::Response> Server::AnswerToBadHead(boost::system::error_code hec) const {
  const Config& cfg = *svc_.config;
  if (hec == http::error::end_of_stream || hec == beast::error::timeout ||
      hec == asio::error::operation_aborted || hec == asio::error::connection_reset ||
      hec == asio::error::eof) {
    return std::nullopt;  // gone, or idle too long: nobody to answer
  }
  int code = 400;
  std::string message = "malformed HTTP request: " + hec.message();
  if (hec == http::error::header_limit) {
    code = 431;
    message = "request header block larger than 64 KiB";
  } else if (hec == http::error::body_limit) {
    code = 413;
    message = "request body exceeds --max-body-bytes " + std::to_string(cfg.max_body_bytes);
  }
  return JsonResponse(code, GeminiErrorBody(code, message), false);
}

void Server::Describe(Request& req, const std::string& local) const {
  req.id = next_request_id_.fetch_add(1);
  req.started = std::chrono::steady_clock::now();
  std::string_view target = req.msg.target();
  size_t q = target.find('?');
  req.path = std::string(target.substr(0, q));
  req.query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
  std::optional<std::string_view> host = req.msg.Find("host");
  req.origin = req.msg.Find("x-forwarded-proto") == "https" ? "https://" : "http://";
  req.origin += host ? std::string(*host) : local + ":" + std::to_string(port_);
}

std::optional<http::response<http::string_body>> Server::Admit(Request& req, Route kind,
                                                               bool keep_alive) const {
  const Config& cfg = *svc_.config;
  const RequestParser& head = req.msg;
  const bool openai_shape = kind == Route::kOpenAi || req.path.starts_with("/openai/");
  // A body the route will not read is not waited for: the answer closes the connection.
  const bool keep = keep_alive && (!head.has_body() || UsesBody(kind));
  // Anthropic's clients (x-api-key, Anthropic's error shape) also list models.
  const bool anthropic =
      kind == Route::kAnthropic || (kind == Route::kOpenAi && AnthropicModelsRequest(req));
  auto error = [&](int code, const std::string& message, bool keep_conn) {
    return JsonResponse(code,
                        anthropic      ? AnthropicErrorBody(code, message)
                        : openai_shape ? OpenAiErrorBody(code, message)
                                       : GeminiErrorBody(code, message),
                        keep_conn);
  };
  const ClientToken* token = nullptr;
  if ((kind == Route::kNative || kind == Route::kOpenAi || anthropic) &&
      !(token = ClientAuthorized(req, svc_.client_tokens, anthropic))) {
    req.route = "auth";
    return error(401,
                 anthropic ? "missing or wrong client token: send it in x-api-key or "
                             "Authorization: Bearer"
                           : "missing or wrong client token: send it in x-goog-api-key, ?key= or "
                             "Authorization: Bearer",
                 keep_alive && !head.has_body());
  }
  if (token) {
    req.client = token->client;
    req.token_sha256 = &token->sha256;
  }
  if (kind == Route::kAdmin) {
    req.route = "admin";
    if (!cfg.admin_token) return error(404, "not found", keep);
    if (IsDashboardRequest(req)) return std::nullopt;  // the login form: public
    if (BearerOf(req.msg).empty() || !ConstantTimeEqual(BearerOf(req.msg), *cfg.admin_token)) {
      return error(401, "missing or wrong admin token", keep);
    }
  }
  if (kind == Route::kNotFound) {
    req.route = "other";
    return error(404, "no such route: " + Printable(req.path, 256), keep);
  }
  if (UsesBody(kind) && head.content_length() && *head.content_length() > cfg.max_body_bytes) {
    return error(413,
                 "request body of " + std::to_string(*head.content_length()) +
                     " bytes exceeds --max-body-bytes " + std::to_string(cfg.max_body_bytes),
                 false);
  }
  return std::nullopt;
}

std::optional<Server::Response> Server::AnswerToBadBody(boost::system::error_code bec) const {
  const Config& cfg = *svc_.config;
  if (!bec) return std::nullopt;
  if (bec == http::error::body_limit) {
    return JsonResponse(413,
                        GeminiErrorBody(413, "request body exceeds --max-body-bytes " +
                                                 std::to_string(cfg.max_body_bytes)),
                        false);
  }
  if (bec == beast::error::timeout) {
    return JsonResponse(
        408,
        GeminiErrorBody(408, "timed out waiting " + std::to_string(cfg.client_timeout.count()) +
                                 " s for more of the request body"),
        false);
  }
  return JsonResponse(400, GeminiErrorBody(400, "malformed request body: " + bec.message()), false);
}

asio::awaitable<int> Server::Serve(Worker& worker, Request& req, Route kind, OpenAiRoute openai,
                                   ClientConn& client, bool keep_alive) {
  // Not a coroutine itself: each branch hands back its route's, so a request pays for no
  // frame in between.
  const Config& cfg = *svc_.config;
  FaultPoint(svc_, req, "serve");
  // Routes that do not read the body close the connection when one was announced.
  const bool keep = keep_alive && (!req.msg.has_body() || UsesBody(kind));
  switch (kind) {
    case Route::kHealth: {
      req.route = "healthz";
      bool draining = svc_.draining.load();
      const char* body = R"({"status":"ok"})";
      if (draining) {
        body = R"({"status":"draining"})";
      } else if (svc_.redis_up != nullptr) {
        body = svc_.redis_up->load() ? R"({"status":"ok","redis":"up"})"
                                     : R"({"status":"ok","redis":"down"})";
      }
      return SendAnswer(client, JsonResponse(draining ? 503 : 200, body, keep), keep);
    }
    case Route::kMetrics: {
      req.route = "metrics";
      auto now = NowMs();
      PoolGauges gauges = svc_.pool->Gauges(now);
      std::optional<PoolView> view;
      if (cfg.metrics_per_key) view = svc_.pool->View(now);
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = svc_.metrics->Render(gauges, view ? &*view : nullptr);
      if (svc_.clients) AppendClientMetrics(res.body(), svc_.clients->View(now));
      res.prepare_payload();
      return SendAnswer(client, std::move(res), keep);
    }
    case Route::kAdmin:
      if (auto id = KeyCheckId(req)) return ServeKeyCheck(client, svc_, std::move(*id), keep);
      if (req.path == "/admin/usage" && req.msg.method() == http::verb::get) {
        return ServeUsage(client, svc_, req, keep);
      }
      if (IsDashboardRequest(req)) return SendAnswer(client, DashboardAnswer(req, keep), keep);
      return SendAnswer(client, AdminAnswer(req), keep);
    case Route::kOpenAi:
      return ServeOpenAi(req, openai, client, svc_, *worker.upstream, keep_alive);
    case Route::kAnthropic:
      return ServeAnthropic(req, client, svc_, *worker.upstream, keep_alive);
    case Route::kNative:
      return ServeNative(req, client, svc_, *worker.upstream, keep_alive, NativeOptions{});
    case Route::kNotFound:
      break;
  }
  return SendAnswer(
      client,
      JsonResponse(404, GeminiErrorBody(404, "no such route: " + Printable(req.path, 256)), false),
      false);
}

http::response<http::string_body> Server::AdminAnswer(const Request& req) {
  const bool get = req.msg.method() == http::verb::get;
  const bool post = req.msg.method() == http::verb::post;
  if (req.path == "/admin/keys" && get) {
    return JsonResponse(200, AdminKeysJson(svc_.pool->View(NowMs())), true);
  }
  if (req.path == "/admin/capacity" && get) {
    const TimePoint now = NowMs();
    return JsonResponse(200, AdminCapacityJson(svc_.pool->Capacity(now), now), true);
  }
  if (req.path == "/admin/clients" && get) {
    return JsonResponse(
        200,
        AdminClientsJson(svc_.clients ? svc_.clients->View(NowMs()) : std::vector<ClientView>{}),
        true);
  }
  if (req.path == "/admin/reload" && post) {
    std::string summary = svc_.reload ? svc_.reload() : "error: reload not available";
    bool failed = summary.starts_with("error: ");
    boost::json::object o;
    o[failed ? "error" : "status"] = failed ? summary.substr(7) : summary;
    return JsonResponse(failed ? 500 : 200, boost::json::serialize(o), true);
  }
  if (req.path.starts_with("/admin/keys/") && req.path.ends_with("/reset") && post) {
    std::string id = req.path.substr(12, req.path.size() - 12 - 6);
    return svc_.pool->ResetKey(id, NowMs())
               ? JsonResponse(200, R"({"status":"active"})", true)
               : JsonResponse(404, GeminiErrorBody(404, "no key with id " + Printable(id)), true);
  }
  return JsonResponse(404, GeminiErrorBody(404, "no such admin route"), true);
}

void Server::Record(const Request& req, int status) const {
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - req.started).count();
  svc_.metrics->RequestDone(req.route, status, secs);
  if (req.client) req.client->CountStatus(status);
  if (spdlog::should_log(spdlog::level::info)) {
    if (svc_.config->log_json) return LogRequestJson(req, status, secs);
    // The format is compiled: parsing it at run time for every request cost more than
    // writing the line.
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line),
                   FMT_COMPILE("req={} {} {} route={} client={} model={} key={} attempts={} "
                               "status={} ms={:.1f}"),
                   req.id, std::string_view(req.msg.method_string()), req.path, req.route,
                   req.client ? std::string_view(req.client->name()) : std::string_view("-"),
                   req.model, req.key_id, req.attempts, status, secs * 1000);
    if (req.queued_ms > 0) fmt::format_to(std::back_inserter(line), " queued_ms={}", req.queued_ms);
    spdlog::info(std::string_view(line.data(), line.size()));
  }
}

// The request line of --log-format json: the text line's fields, as members of the line's
// object, written as text (strings escaped) with a compiled format.
void Server::LogRequestJson(const Request& req, int status, double secs) const {
  spdlog::memory_buf_t line;
  auto out = std::back_inserter(line);
  auto str = [&](std::string_view name, std::string_view value) {
    fmt::format_to(out, FMT_COMPILE(",\"{}\":"), name);
    AppendJsonString(line, value);
  };
  fmt::format_to(out, FMT_COMPILE(R"("msg":"request","id":{})"), req.id);
  str("method", std::string_view(req.msg.method_string()));
  str("path", req.path);
  str("route", req.route);
  str("client", req.client ? std::string_view(req.client->name()) : std::string_view("-"));
  str("model", req.model);
  str("key", req.key_id);
  fmt::format_to(out, FMT_COMPILE(R"(,"attempts":{},"status":{},"latency_ms":{:.1f})"),
                 req.attempts, status, secs * 1000);
  if (req.queued_ms > 0) fmt::format_to(out, FMT_COMPILE(R"(,"queued_ms":{})"), req.queued_ms);
  LogFields(spdlog::level::info, std::string_view(line.data(), line.size()));
}

asio::awaitable<void> Server::RunSession(Worker& worker, tcp::socket socket) {
  const Config& cfg = *svc_.config;
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  // A client's deadline cancels the wait instead of closing, so that a 408 can go out.
  Deadline deadline(socket.get_executor(), socket, Deadline::OnExpiry::kCancel);
  Session session{&socket};
  SessionScope scope(worker, session, open_);
  ClientConn client{socket, deadline, cfg.client_timeout};
  beast::flat_buffer buffer;
  std::string local = socket.local_endpoint(ec).address().to_string();

  for (;;) {
    session.idle = true;
    // While draining, a request already received (pipelined) is still answered.
    if (svc_.draining.load() && buffer.size() == 0 && socket.available(ec) == 0) break;
    // One parser for the head and, once the request is admitted, the body; the Request
    // refers to it instead of copying the fields.
    RequestParser head(cfg.max_body_bytes);
    deadline.Arm(cfg.client_timeout);
    // Done() lifts the time limit: none on the client while the upstream answers.
    if (auto hec = deadline.Done(co_await ReadHead(socket, buffer, head))) {
      if (std::optional<Response> res = AnswerToBadHead(hec)) {
        co_await SendResponse(client, *res);
        if (res->result_int() == 413) co_await DrainInput(socket, deadline, buffer);
      }
      break;
    }
    session.idle = false;
    InflightScope inflight(*svc_.metrics);
    Request req(head);
    Describe(req, local);
    req.client_socket = &socket;
    req.client_watch = &worker.watches;
    req.ping_list = &worker.pings;
    client.answer_begun = false;
    const bool keep_alive = req.msg.keep_alive() && !svc_.draining.load();
    int status = 0;
    bool keep = false;
    bool body_unread = head.has_body();
    std::string failure;
    try {
      OpenAiRoute openai = OpenAiRoute::kNone;
      Route kind = RouteOf(req, &openai);
      std::optional<http::response<http::string_body>> early = Admit(req, kind, keep_alive);
      if (!early && UsesBody(kind) && head.has_body()) {
        if (beast::iequals(head.Find("expect").value_or(""), "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          deadline.Arm(cfg.client_timeout);
          deadline.Done(co_await WriteAll(socket, std::array{asio::buffer(kContinue)}));
        }
        // --client-timeout bounds each wait for the client, not the whole upload (SPEC 8).
        early = AnswerToBadBody(deadline.Done(co_await ReadRequestBody(
            socket, buffer, head, [&] { deadline.Arm(cfg.client_timeout); })));
        body_unread = false;
      }
      // The request is in: an empty read buffer is given back, so that a connection
      // waiting for its answer (a stream may take minutes) or for its next request holds
      // none.
      if (buffer.size() == 0) buffer.shrink_to_fit();
      if (early) {
        status = early->result_int();
        keep = co_await SendResponse(client, *early) && early->keep_alive();
      } else {
        int packed = co_await Serve(worker, req, kind, openai, client, keep_alive);
        status = StatusOf(packed);
        keep = KeepAliveOf(packed);
      }
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (!failure.empty()) {
      // This request alone ends: a 500 if nothing of an answer went out yet, else the
      // connection closes under a half-sent answer. (No co_await inside a handler.)
      spdlog::error("req={} {} failed: {}", req.id, req.path, failure);
      status = 500;
      keep = false;
      if (!client.answer_begun) {
        auto res =
            JsonResponse(500, GeminiErrorBody(500, "internal error serving this request"), false);
        co_await SendResponse(client, res);
      }
    }
    Record(req, status);
    if (!keep && body_unread) {
      // Lingering close: the client may still be sending the body it announced; reading
      // it away for a moment lets it see our answer instead of a connection reset.
      co_await DrainInput(socket, deadline, buffer);
    }
    if (!keep) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

}  // namespace gkm
