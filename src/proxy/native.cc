#include "proxy/native.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/span_body.hpp>

#include "proxy/wire.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::as_tuple;
using asio::use_awaitable;
using boost::system::error_code;
using UpstreamRequest = http::request<http::span_body<const char>>;
using UpstreamParser = http::response_parser<http::buffer_body>;

constexpr size_t kErrorBodyLimit = 1 << 20;        // error bodies are read whole to judge them
constexpr size_t kCreatedBodyLimit = 16 << 20;     // answers that name a created file or cache
constexpr size_t kChunk = 8192;                    // relay buffer per stream
constexpr size_t kTailKeep = 4096;                 // stream tail kept for usageMetadata

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

bool Retryable(Outcome o) {
  return o == Outcome::kDayExhausted || o == Outcome::kCooling || o == Outcome::kInvalid ||
         o == Outcome::kTransient;
}

template <class Stream>
asio::awaitable<error_code> SendAndReadHead(Stream& s, UpstreamConnection& conn,
                                            UpstreamRequest& ureq, UpstreamParser& p,
                                            std::chrono::seconds timeout) {
  conn.tcp().expires_after(timeout);
  auto [wec, wn] = co_await http::async_write(s, ureq, as_tuple(use_awaitable));
  (void)wn;
  if (wec) co_return wec;
  conn.tcp().expires_after(timeout);
  auto [rec, rn] = co_await http::async_read_header(s, conn.buffer(), p, as_tuple(use_awaitable));
  (void)rn;
  co_return rec;
}

// Reads what is available of the body into buf. Returns the error and the bytes got.
template <class Stream>
asio::awaitable<std::pair<error_code, size_t>> ReadSome(Stream& s, UpstreamConnection& conn,
                                                        UpstreamParser& p, char* buf, size_t cap,
                                                        std::chrono::seconds timeout) {
  p.get().body().data = buf;
  p.get().body().size = cap;
  conn.tcp().expires_after(timeout);
  auto [ec, n] = co_await http::async_read_some(s, conn.buffer(), p, as_tuple(use_awaitable));
  (void)n;
  if (ec == http::error::need_buffer) ec = {};
  co_return std::pair<error_code, size_t>{ec, cap - p.get().body().size};
}

asio::awaitable<std::pair<error_code, size_t>> ReadSomeOf(UpstreamConnection& conn,
                                                          UpstreamParser& p, char* buf,
                                                          size_t cap,
                                                          std::chrono::seconds timeout) {
  return conn.Visit(
      [&](auto& s) { return ReadSome(s, conn, p, buf, cap, timeout); });
}

// Reads the rest of the body into out, up to limit. False if it failed or was too long.
asio::awaitable<bool> ReadWhole(UpstreamConnection& conn, UpstreamParser& p, std::string& out,
                                size_t limit, std::chrono::seconds timeout) {
  char buf[kChunk];
  while (!p.is_done()) {
    auto [ec, got] = co_await ReadSomeOf(conn, p, buf, sizeof buf, timeout);
    if (ec) co_return false;
    out.append(buf, got);
    if (out.size() > limit) co_return false;
  }
  co_return true;
}

std::string DescribeTransport(const error_code& ec) {
  if (ec == beast::error::timeout) return "upstream timeout";
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::connection_reset || ec == http::error::end_of_stream ||
      ec == asio::error::eof) {
    return "connection reset";
  }
  if (ec.category() == asio::error::get_ssl_category() ||
      ec.category() == asio::ssl::error::get_stream_category()) {
    return "TLS failure: " + ec.message();
  }
  return "transport error: " + ec.message();
}

// The lower-cased value of a message's Connection header: ",token,token,".
template <class Fields>
std::string ConnectionTokens(const Fields& fields) {
  std::string out = ",";
  for (auto it = fields.find(http::field::connection); it != fields.end() &&
                                                       it->name() == http::field::connection;
       ++it) {
    for (char c : it->value()) {
      if (c == ' ' || c == '\t') continue;
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    out += ',';
  }
  return out;
}

bool NamedIn(const std::string& tokens, const std::string& name) {
  return tokens.size() > 1 && tokens.find("," + name + ",") != std::string::npos;
}

// The request that goes upstream: same method, path and query (minus the client's key),
// end-to-end headers, the body as raw bytes, and the real key.
UpstreamRequest BuildUpstreamRequest(const Request& req, const std::string& target,
                                     const UpstreamPool& up, const ApiKey& key) {
  UpstreamRequest u{req.msg.method(), target, 11};
  std::string connection_tokens = ConnectionTokens(req.msg);
  for (const auto& f : req.msg) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(c));
    if (IsHopByHop(name) || name == "host" || name == "authorization" ||
        name == "x-goog-api-key" || name == "content-length" || name == "expect" ||
        name == "cookie") {
      continue;
    }
    if (NamedIn(connection_tokens, name)) continue;
    u.insert(f.name_string(), f.value());
  }
  u.set(http::field::host, up.host_header());
  if (req.path.find("/openai/") != std::string::npos) {
    u.set(http::field::authorization, "Bearer " + std::string(key.reveal()));
  } else {
    u.set("x-goog-api-key", key.reveal());
  }
  u.body() = http::span_body<const char>::value_type(req.msg.body().data(),
                                                     req.msg.body().size());
  if (!req.msg.body().empty() || req.msg.method() == http::verb::post ||
      req.msg.method() == http::verb::put || req.msg.method() == http::verb::patch) {
    u.content_length(req.msg.body().size());
  }
  u.keep_alive(true);
  return u;
}

// Copies the upstream response's end-to-end headers, rewriting the upload URL (and
// binding its session to the key) and never letting the key through.
template <class From, class To>
void CopyResponseHeaders(const From& from, To& to, const Request& req, const ApiKey& key,
                         Services& svc) {
  std::string connection_tokens = ConnectionTokens(from);
  for (const auto& f : from) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(c));
    if (IsHopByHop(name) || name == "content-length" || NamedIn(connection_tokens, name)) {
      continue;
    }
    std::string value(f.value());
    if (name == "x-goog-upload-url") {
      std::string upload_id;
      if (auto rewritten = RewriteUploadUrl(value, req.origin, &upload_id)) {
        svc.affinity->Bind("upload", upload_id, key.id(), NowMs());
        value = *rewritten;
      }
    }
    if (RedactSecret(value, key.reveal(), key.masked())) {
      spdlog::warn("req={} upstream header {} carried the key {}; masked", req.id, name,
                   key.id());
    }
    to.insert(f.name_string(), value);
  }
}

// Responses that name a created file or cache are read whole to bind them to the key.
bool CreatesResources(const Request& req) {
  if (req.msg.method() != http::verb::post) return false;
  return req.path.starts_with("/upload/") || req.path.ends_with("/cachedContents") ||
         req.path.ends_with("/files");
}

http::response<http::string_body> NoKeyResponse(const NoKey& nk, const std::string& last,
                                                bool keep_alive) {
  std::string message = nk.message;
  if (!last.empty()) message += "; last upstream answer: " + last;
  auto res = JsonResponse(503, GeminiErrorBody(503, message), keep_alive);
  if (nk.retry_after.count() > 0) {
    auto secs = (nk.retry_after.count() + 999) / 1000;
    res.set(http::field::retry_after, std::to_string(std::max<int64_t>(1, secs)));
  }
  return res;
}

}  // namespace

asio::awaitable<int> ServeNative(Request& req, ClientConn& client, Services& svc,
                                 UpstreamPool& up, bool keep_alive) {
  const Config& cfg = *svc.config;
  req.model = ModelOfPath(req.path);
  req.route = RouteOfPath(req.path);
  std::string query = StripKeyParam(req.query);
  std::string target = up.url().base_path + req.path + (query.empty() ? "" : "?" + query);

  // Key affinity: a request that names a file, cache or upload session goes with its key.
  std::optional<std::string> bound_key;
  std::string bound_name;
  for (const auto& ref : ReferencedResources(req.path, req.query, req.msg.body())) {
    if (auto k = svc.affinity->Find(ref.kind, ref.name)) {
      bound_key = std::move(k);
      bound_name = ref.name;
      break;
    }
  }

  const uint64_t request_no = svc.pool->NewRequest();
  const size_t max_attempts =
      cfg.max_attempts ? cfg.max_attempts : std::max<size_t>(1, svc.pool->size());
  std::string last_failure;

  for (;;) {
    // Phase: pick.
    PickResult pick;
    if (static_cast<size_t>(req.attempts) >= max_attempts) {
      pick = NoKey{NoKey::Why::kTried, Millis(1000),
                   "gave up after " + std::to_string(req.attempts) + " attempts"};
    } else if (bound_key) {
      pick = svc.pool->PickById(*bound_key, req.model, request_no, NowMs());
    } else {
      pick = svc.pool->Pick(req.model, request_no, NowMs());
    }
    if (auto* nk = std::get_if<NoKey>(&pick)) {
      if (nk->why == NoKey::Why::kAffinityUnusable) {
        nk->message = bound_name + " belongs to key " + *bound_key + ": " + nk->message;
      }
      auto res = NoKeyResponse(*nk, last_failure, keep_alive);
      bool sent = co_await SendResponse(client, res);
      co_return PackResult(503, sent && keep_alive);
    }
    PickedKey picked = std::get<PickedKey>(std::move(pick));
    const ApiKey& key = *picked.key;
    ++req.attempts;
    req.key_id = key.id();

    // Phase: forward. A reused idle connection may have been closed by the server; such a
    // failure is retried once on a fresh connection with the same key.
    UpstreamRequest ureq = BuildUpstreamRequest(req, target, up, key);
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<UpstreamConnection> conn;
    std::unique_ptr<UpstreamParser> parser;
    error_code ec;
    for (int round = 0; round < 2; ++round) {
      try {
        conn = co_await up.Acquire(round > 0);
      } catch (const boost::system::system_error& e) {
        ec = e.code();
        conn.reset();
        break;
      }
      parser = std::make_unique<UpstreamParser>();
      parser->header_limit(64 * 1024);
      parser->body_limit(boost::none);
      if (req.msg.method() == http::verb::head) parser->skip(true);
      bool reused = conn->reused;
      ec = co_await conn->Visit([&](auto& s) {
        return SendAndReadHead(s, *conn, ureq, *parser, cfg.upstream_timeout);
      });
      if (!ec || !reused || ec == beast::error::timeout) break;
      conn.reset();
    }
    if (ec) {
      Verdict v = TransportFailure(DescribeTransport(ec));
      svc.metrics->UpstreamAttempt(v.outcome, SecondsSince(t0));
      svc.pool->Report(picked.slot, req.model, 0, v, {}, NowMs());
      spdlog::debug("req={} attempt={} key={} model={} failed: {}", req.id, req.attempts,
                    key.id(), req.model, v.reason);
      last_failure = v.reason;
      continue;
    }

    // Phase: judge.
    const int status = parser->get().result_int();
    std::string buffered;
    bool body_whole = true;
    if (status >= 400) {
      body_whole = co_await ReadWhole(*conn, *parser, buffered, kErrorBodyLimit,
                                      cfg.upstream_timeout);
    }
    Verdict verdict = status >= 400 ? Classify(status, buffered,
                                               cfg.bare_429_cooling ? Bare429::kCooling
                                                                    : Bare429::kDay)
                                    : Verdict{Outcome::kSuccess, Millis(0), ""};
    svc.metrics->UpstreamAttempt(verdict.outcome, SecondsSince(t0));
    if (Retryable(verdict.outcome)) {
      svc.pool->Report(picked.slot, req.model, status, verdict, {}, NowMs());
      spdlog::debug("req={} attempt={} key={} model={} status={} verdict={} ({})", req.id,
                    req.attempts, key.id(), req.model, status, OutcomeName(verdict.outcome),
                    verdict.reason);
      if (body_whole && parser->is_done() && parser->keep_alive()) up.Release(std::move(conn));
      last_failure = std::to_string(status) + " " + verdict.reason;
      continue;
    }

    // Phase: stream back. From here on the client gets this answer, whatever happens.
    if (status >= 400 || CreatesResources(req)) {
      if (status < 400) {
        body_whole = co_await ReadWhole(*conn, *parser, buffered, kCreatedBodyLimit,
                                        cfg.upstream_timeout);
      }
      if (!body_whole) {
        svc.pool->Report(picked.slot, req.model, status, verdict, {}, NowMs());
        auto res = JsonResponse(502, GeminiErrorBody(502, "the upstream answer was cut off"),
                                false);
        co_await SendResponse(client, res);
        co_return PackResult(502, false);
      }
      if (status < 300) {
        for (const auto& ref : CreatedResources(buffered)) {
          svc.affinity->Bind(ref.kind, ref.name, key.id(), NowMs());
        }
      }
      RedactSecret(buffered, key.reveal(), key.masked());
      http::response<http::string_body> res{static_cast<http::status>(status), 11};
      CopyResponseHeaders(parser->get(), res, req, key, svc);
      res.body() = std::move(buffered);
      res.keep_alive(keep_alive);
      res.prepare_payload();
      svc.pool->Report(picked.slot, req.model, status, verdict, ScanUsage(res.body()), NowMs());
      if (parser->is_done() && parser->keep_alive()) up.Release(std::move(conn));
      bool sent = co_await SendResponse(client, res);
      co_return PackResult(status, sent && keep_alive);
    }

    http::response<http::buffer_body> res{static_cast<http::status>(status), 11};
    CopyResponseHeaders(parser->get(), res, req, key, svc);
    if (res.find(http::field::date) == res.end()) res.set(http::field::date, HttpDateNow());
    if (status == 204 || status == 304 || req.msg.method() == http::verb::head) {
      // no body
    } else if (auto len = parser->content_length()) {
      res.content_length(*len);
    } else {
      res.chunked(true);
    }
    res.keep_alive(keep_alive);
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = !parser->is_done();
    http::response_serializer<http::buffer_body> sr{res};
    client.stream.expires_after(client.timeout);
    auto [hec, hn] = co_await http::async_write_header(client.stream, sr, as_tuple(use_awaitable));
    (void)hn;
    bool client_ok = !hec;
    bool upstream_ok = true;
    std::string tail;
    bool reported = false;
    auto buf = std::make_unique<char[]>(kChunk);
    while (client_ok && !parser->is_done()) {
      auto [rec, got] = co_await ReadSomeOf(*conn, *parser, buf.get(), kChunk, cfg.upstream_timeout);
      if (rec) {
        upstream_ok = false;
        break;
      }
      if (got == 0 && !parser->is_done()) continue;
      tail.append(buf.get(), got);
      if (tail.size() > 2 * kTailKeep) tail.erase(0, tail.size() - kTailKeep);
      if (parser->is_done()) {
        // Counted before the client can see the end of the answer.
        svc.pool->Report(picked.slot, req.model, status, verdict, ScanUsage(tail), NowMs());
        reported = true;
        if (got == 0) break;
      }
      res.body().data = buf.get();
      res.body().size = got;
      res.body().more = true;
      client.stream.expires_after(client.timeout);
      auto [wec, wn] = co_await http::async_write(client.stream, sr, as_tuple(use_awaitable));
      (void)wn;
      if (wec && wec != http::error::need_buffer) client_ok = false;
    }
    if (!reported) {
      svc.pool->Report(picked.slot, req.model, status, verdict, ScanUsage(tail), NowMs());
    }
    if (client_ok && upstream_ok) {
      res.body().data = nullptr;
      res.body().size = 0;
      res.body().more = false;
      client.stream.expires_after(client.timeout);
      auto [wec, wn] = co_await http::async_write(client.stream, sr, as_tuple(use_awaitable));
      (void)wn;
      if (wec && wec != http::error::need_buffer) client_ok = false;
    }
    if (!upstream_ok) {
      spdlog::warn("req={} key={} model={}: upstream stream broke after the answer began; "
                   "closing the client connection",
                   req.id, key.id(), req.model);
      co_return PackResult(status, false);
    }
    if (client_ok && parser->keep_alive()) up.Release(std::move(conn));
    co_return PackResult(status, client_ok && keep_alive);
  }
}

}  // namespace gkm
