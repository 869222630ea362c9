#include "proxy/attempts.h"

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdio>

#include "clients/clients.h"
#include "proxy/client_watch.h"
#include "proxy/headers.h"
#include "proxy/queue_place.h"
#include "proxy/wire.h"
#include "translate/anthropic_error.h"
#include "translate/error.h"
#include "upstream/content_coding.h"
#include "upstream/http_io.h"
#include "upstream/tunnel.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::as_tuple;
using asio::use_awaitable;
using boost::system::error_code;

constexpr size_t kErrorBodyLimit = 1 << 20;  // error bodies are read whole to judge them

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

bool Retryable(Outcome o) {
  return o == Outcome::kDayExhausted || o == Outcome::kCooling || o == Outcome::kInvalid ||
         o == Outcome::kTransient;
}

template <class Stream>
asio::awaitable<error_code> SendAndReadHead(Stream& s, UpstreamConnection& conn,
                                            const std::string& head, std::string_view body,
                                            UpstreamParser& p, std::chrono::seconds timeout) {
  conn.deadline().Arm(timeout);
  std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(body.data(), body.size())};
  auto wec = co_await WriteAll(s, out);
  if (wec) co_return conn.deadline().Done(wec);
  co_return conn.deadline().Done(co_await ReadHead(s, conn.buffer(), p));
}

template <class Stream>
asio::awaitable<std::pair<error_code, size_t>> ReadSomeFrom(Stream& s, UpstreamConnection& conn,
                                                            UpstreamParser& p, char* buf,
                                                            size_t cap,
                                                            std::chrono::seconds timeout) {
  conn.deadline().Arm(timeout);
  auto [ec, got] = co_await ReadAnswerSome(s, conn.buffer(), p, buf, cap);
  co_return std::pair<error_code, size_t>{conn.deadline().Done(ec), got};
}

// The request head that goes upstream, as wire bytes: the client fields that cross
// (headers.h decides), the real key, a request for plain bodies. Written straight into one
// string (no per-field allocations); the body follows as a second buffer.
std::string BuildUpstreamHead(const UpstreamCall& call, const UpstreamPool& up, const ApiKey& key) {
  std::string h;
  h.reserve(512);
  h += http::to_string(call.method);
  h += ' ';
  h += up.url().base_path;
  h += call.target;
  h += " HTTP/1.1\r\nHost: ";
  h += up.host_header();
  h += "\r\n";
  if (call.client_headers) {
    ConnectionNamed named(*call.client_headers);
    for (const auto& f : *call.client_headers) {
      if (!Crosses(f.name, Direction::kToUpstream) || named.Contains(f.name)) continue;
      AppendField(h, f.name, f.value);
    }
  }
  if (!call.content_type.empty()) {
    AppendField(h, "Content-Type", call.content_type);
  }
  // Plain bodies only: errors are judged and every buffered body is masked and scanned as
  // text (a compressed 429 would read as "429 without details").
  h += "Accept-Encoding: identity\r\n";
  if (call.bearer) {
    h += "Authorization: Bearer ";
  } else {
    h += "x-goog-api-key: ";
  }
  h += key.reveal();
  h += "\r\n";
  if (!call.body.empty() || call.method == http::verb::post || call.method == http::verb::put ||
      call.method == http::verb::patch) {
    AppendField(h, "Content-Length", std::to_string(call.body.size()));
  }
  h += "\r\n";
  return h;
}

// Waits (at most 250 ms) until the store has written the state changes this request
// caused, so that a key found exhausted or dead stays so even if the process dies right
// after the client has its answer (SPEC 5: state changes are flushed at once).
asio::awaitable<void> AwaitDurable(Services& svc) {
  if (!svc.request_flush || !svc.flushed) co_return;
  uint64_t ticket = svc.request_flush();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 250 && !svc.flushed(ticket); ++i) {
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(use_awaitable);
  }
}

// The credential the client presented (its token's SHA-256), to tell the sessions of
// different client tokens apart; "" when the request carried none (tests).
std::string ClientCredential(const Request& req) {
  if (!req.token_sha256) return {};
  return std::string(reinterpret_cast<const char*>(req.token_sha256->data()),
                     req.token_sha256->size());
}

// The client's own limits (SPEC 2.3), checked once per request with the model known and
// before any key is touched. Refused: the 429 or 403 to answer.
std::optional<NoAnswer> AdmitClient(Request& req, const std::string& model) {
  if (!req.client || req.client_admitted) return std::nullopt;
  Admission a = req.client->Admit(model, NowMs());
  if (a.ok()) {
    req.client_admitted = true;
    return std::nullopt;
  }
  const ClientSpec& spec = req.client->spec();
  const std::string who = "client '" + spec.name + "'";
  NoAnswer refused{NoKey{NoKey::Why::kTried, Millis(a.retry_after_s * 1000), ""}, ""};
  refused.status = 429;
  switch (a.refusal) {
    case Refusal::kModel: {
      std::string allowed;
      for (const std::string& m : spec.models) allowed += (allowed.empty() ? "" : ", ") + m;
      refused.status = 403;
      refused.why.message =
          who + " may not use model '" + model + "' (its models: " + allowed + ")";
      break;
    }
    case Refusal::kMinute:
      refused.why.message = who + " is over its limit of " + std::to_string(spec.rpm) +
                            " requests per minute; retry in " + std::to_string(a.retry_after_s) +
                            " s";
      break;
    case Refusal::kDay:
      refused.why.message = who + " has used its " + std::to_string(spec.rpd) +
                            " requests of this quota day; the day resets in " +
                            std::to_string(a.retry_after_s) + " s";
      break;
    case Refusal::kNone:
      break;
  }
  spdlog::debug("req={} refused: {}", req.id, refused.why.message);
  return refused;
}

// The outcome of a call whose client left: abandoned, nothing reported, nobody to answer.
NoAnswer ClientLeft(const Request& req, bool queued = false) {
  if (queued) {
    spdlog::info("req={} the client left while waiting for a key; it left the queue", req.id);
  } else {
    spdlog::info("req={} the client left while the upstream was answering; call abandoned", req.id);
  }
  NoAnswer gone{NoKey{NoKey::Why::kTried, Millis(0), "the client left"}, ""};
  gone.client_gone = true;
  return gone;
}

// Why a request that waited, or would have waited, for a key gets no key after all, with the
// pool's latest word on how long until one serves (its Retry-After).
NoKey AfterQueue(QueuePlace::Next next, std::optional<NoKey> latest, const QueuePlace& place,
                 const UpstreamCall& call, Services& svc) {
  if (!latest || (next != QueuePlace::Next::kNotQueued && next != QueuePlace::Next::kFull)) {
    // Time has passed since `latest`, or the request lined up without asking: ask (without
    // taking a key).
    if (auto now = svc.pool->Unavailable(call.model, NowMs())) latest = std::move(now);
  }
  NoKey nk = latest ? std::move(*latest)
                    : NoKey{NoKey::Why::kCooling, Millis(1000),
                            "requests for model " + call.model + " are waiting for a key"};
  char waited[32];
  std::snprintf(waited, sizeof waited, "%.1f", place.waited().count() / 1000.0);
  switch (next) {
    case QueuePlace::Next::kFull:
      nk.message += "; the queue of requests waiting for a key is full";
      break;
    case QueuePlace::Next::kTimeout:
    case QueuePlace::Next::kNoKey:
      nk.message += std::string("; waited ") + waited + " s for a key (--max-queue-wait " +
                    std::to_string(svc.config->max_queue_wait.count()) + ")";
      break;
    default:
      break;
  }
  return nk;
}

}  // namespace

std::string NoAnswer::Message() const {
  std::string m = why.message;
  if (!last_failure.empty()) m += "; last upstream answer: " + last_failure;
  return m;
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

asio::awaitable<error_code> SendAndReadHead(UpstreamConnection& conn, const std::string& head,
                                            std::string_view body, UpstreamParser& p,
                                            std::chrono::seconds timeout) {
  return conn.Visit([&](auto& s) { return SendAndReadHead(s, conn, head, body, p, timeout); });
}

int64_t RetryAfterSeconds(const NoKey& nk) {
  if (nk.retry_after.count() <= 0) return 0;
  return std::max<int64_t>(1, (nk.retry_after.count() + 999) / 1000);
}

http::response<http::string_body> NoAnswerResponse(const NoAnswer& none, ErrorShape shape,
                                                   bool keep_alive) {
  int64_t wait = RetryAfterSeconds(none.why);
  const int code = none.status;
  std::string body = shape == ErrorShape::kOpenAi      ? OpenAiErrorBody(code, none.Message())
                     : shape == ErrorShape::kAnthropic ? AnthropicErrorBody(code, none.Message())
                                                       : GeminiErrorBody(code, none.Message());
  auto res = JsonResponse(none.status, std::move(body), keep_alive);
  if (wait > 0) res.set(http::field::retry_after, std::to_string(wait));
  if (shape != ErrorShape::kGemini && (wait > 60 || wait == 0)) res.set("x-should-retry", "false");
  return res;
}

asio::awaitable<std::pair<error_code, size_t>> ReadSome(Answer& a, char* buf, size_t cap,
                                                        std::chrono::seconds timeout) {
  return a.conn->Visit(
      [&](auto& s) { return ReadSomeFrom(s, *a.conn, *a.parser, buf, cap, timeout); });
}

asio::awaitable<bool> ReadBody(Answer& a, std::string& out, size_t limit,
                               std::chrono::seconds timeout) {
  std::string raw;
  char buf[8192];
  while (!a.parser->is_done()) {
    auto [ec, got] = co_await ReadSome(a, buf, sizeof buf, timeout);
    if (ec) {
      a.body_error = "the upstream answer was cut off";
      co_return false;
    }
    raw.append(buf, got);
    if (raw.size() > limit) {
      a.body_error = "the upstream answer exceeds " + std::to_string(limit) + " bytes";
      co_return false;
    }
  }
  Coding coding = CodingOf(a.parser->fields());
  if (coding != Coding::kIdentity) {
    std::string why;
    if (!DecodeBody(coding, raw, limit, &why)) {
      a.body_error = "the upstream answer cannot be read: " + why;
      co_return false;
    }
    a.decoded = true;
  }
  const ApiKey& key = *a.picked.key;
  if (raw.find(key.reveal()) != std::string::npos) RedactSecret(raw, key.reveal(), key.masked());
  if (out.empty()) {
    out = std::move(raw);
  } else {
    out += raw;
  }
  co_return true;
}

void FinishAnswer(Answer& a, const Request& req, Services& svc, UpstreamPool& up,
                  const TokenUsage& tokens) {
  svc.pool->Report(a.picked.slot, req.model, a.status, a.verdict, tokens, NowMs());
  if (a.conn && a.parser && a.parser->is_done() && a.parser->keep_alive()) {
    up.Release(std::move(a.conn));
  }
}

asio::awaitable<std::variant<Answer, NoAnswer>> CallUpstream(Request& req, const UpstreamCall& call,
                                                             Services& svc, UpstreamPool& up) {
  const Config& cfg = *svc.config;
  if (std::optional<NoAnswer> refused = AdmitClient(req, call.model)) co_return std::move(*refused);
  uint64_t request_no = svc.pool->NewRequest();
  const size_t max_attempts =
      cfg.max_attempts ? cfg.max_attempts : std::max<size_t>(1, svc.pool->size());
  std::string last_failure;
  bool state_changed = false;
  // Attempts are bounded per upstream call, not per client request: a request that makes
  // several calls (embeddings in batches, model list pages) gets the full budget for each.
  size_t attempts = 0;
  ClientWatch watch(req.client_watch, req.client_socket);
  // Waiting for a key instead of failing (SPEC 4.7); never for a key bound by affinity.
  QueuePlace place(call.bound_key ? nullptr : svc.queue, svc.metrics, watch, call.model,
                   &svc.draining, &req.queued_ms);
  // Soft session affinity: the key that served this session last, tried first.
  std::optional<SessionId> session;
  std::optional<std::string> preferred;
  if (!call.session.empty() && svc.sessions && !call.bound_key) {
    session = SessionIdOf(ClientCredential(req), call.session, call.model);
    preferred = svc.sessions->Find(*session, NowMs());
  }

  for (;;) {
    // Phase: pick.
    PickResult pick;
    if (attempts >= max_attempts) {
      pick = NoKey{NoKey::Why::kTried, Millis(1000),
                   "gave up after " + std::to_string(attempts) + " attempts"};
    } else if (call.bound_key) {
      pick = svc.pool->PickById(*call.bound_key, call.model, request_no, NowMs());
    } else if (std::optional<PickedKey> p;
               preferred && attempts == 0 &&
               (p = svc.pool->PickPreferred(*preferred, call.model, request_no, NowMs()))) {
      pick = std::move(*p);
    } else {
      if (place.ShouldJoin()) {
        // Others wait for this model: line up behind them rather than overtake them.
        QueuePlace::Next next = co_await place.Wait(nullptr);
        if (next == QueuePlace::Next::kGone) co_return ClientLeft(req, true);
        if (next != QueuePlace::Next::kPick) {
          if (state_changed) co_await AwaitDurable(svc);
          co_return NoAnswer{AfterQueue(next, std::nullopt, place, call, svc), last_failure};
        }
        request_no = svc.pool->NewRequest();
      }
      // Also when the session's key cannot serve: a preference never fails a request.
      pick = svc.pool->Pick(call.model, request_no, NowMs());
    }
    if (auto* nk = std::get_if<NoKey>(&pick)) {
      if (nk->why == NoKey::Why::kTried) {
        // The attempts ran out; if the pool has nothing left either, say why and for how
        // long (the day's reset, not "retry in a second").
        if (auto none = svc.pool->Unavailable(call.model, NowMs())) *nk = std::move(*none);
      }
      if (nk->why == NoKey::Why::kAffinityUnusable) {
        nk->message = call.bound_name + " belongs to key " + *call.bound_key + ": " + nk->message;
      }
      if (attempts < max_attempts) {
        // Phase: wait, when a key will serve within the request's --max-queue-wait. A request
        // whose attempts ran out does not wait. After a wait the keys this request tried may
        // be tried again: their window has passed (a new request number for the pool).
        QueuePlace::Next next = co_await place.Wait(nk);
        if (next == QueuePlace::Next::kPick) {
          request_no = svc.pool->NewRequest();
          continue;
        }
        if (next == QueuePlace::Next::kGone) co_return ClientLeft(req, true);
        *nk = AfterQueue(next, std::move(*nk), place, call, svc);
      }
      if (state_changed) co_await AwaitDurable(svc);
      co_return NoAnswer{std::move(*nk), last_failure};
    }
    place.Served();
    Answer a;
    a.picked = std::get<PickedKey>(std::move(pick));
    const ApiKey& key = *a.picked.key;
    ++attempts;
    ++req.attempts;
    req.key_id = key.id();

    // Phase: forward. A reused idle connection may have been closed by the server; such a
    // failure is retried once on a fresh connection with the same key.
    const std::string head = BuildUpstreamHead(call, up, key);
    auto t0 = std::chrono::steady_clock::now();
    error_code ec;
    std::string egress_failure;  // the egress proxy's failure, in words (EgressError)
    for (int round = 0; round < 2; ++round) {
      try {
        a.conn = co_await up.Acquire(key.id(), round > 0);
      } catch (const EgressError& e) {
        ec = e.code();
        egress_failure = e.reason();
        a.conn.reset();
        break;
      } catch (const boost::system::system_error& e) {
        ec = e.code();
        a.conn.reset();
        break;
      }
      a.parser = std::make_unique<UpstreamParser>();
      if (call.method == http::verb::head) a.parser->SetNoBody();
      watch.Watch(a.conn.get());
      bool reused = a.conn->reused;
      ec = co_await a.conn->Visit([&](auto& s) {
        return SendAndReadHead(s, *a.conn, head, call.body, *a.parser, cfg.upstream_timeout);
      });
      if (!ec || !reused || ec == beast::error::timeout) break;
      watch.Unbind();
      a.conn.reset();
    }
    if (watch.gone()) co_return ClientLeft(req);
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
      // The proxy's own limit, not the key's fault: no verdict, no retry on other keys.
      spdlog::error("req={} cannot open an upstream connection: {} (raise the open-file limit)",
                    req.id, ec.message());
      co_return NoAnswer{NoKey{NoKey::Why::kTried, Millis(1000),
                               "the proxy cannot open more connections right now"},
                         ec.message()};
    }
    if (ec) {
      watch.Unbind();
      // A failing egress proxy is the proxy's fault, never the key's: transient, like any
      // transport failure (docs/DECISIONS.md, egress proxies).
      if (egress_failure.empty()) {
        egress_failure = DescribeTransport(ec);
        if (std::string route = up.RouteOf(key.id()); route != "direct") {
          egress_failure += " (through egress proxy " + route + ")";
        }
      }
      Verdict v = TransportFailure(egress_failure);
      svc.metrics->UpstreamAttempt(v.outcome, SecondsSince(t0));
      state_changed |= svc.pool->Report(a.picked.slot, call.model, 0, v, {}, NowMs());
      spdlog::debug("req={} attempt={} key={} model={} failed: {}", req.id, req.attempts, key.id(),
                    call.model, v.reason);
      last_failure = v.reason;
      continue;
    }

    // Phase: judge, by the status line and, for errors, the whole error body.
    a.status = a.parser->status();
    if (a.status >= 400) {
      a.error_body_whole =
          co_await ReadBody(a, a.error_body, kErrorBodyLimit, cfg.upstream_timeout);
      if (a.error_body_whole) {
        a.verdict = Classify(a.status, a.error_body,
                             cfg.bare_429_cooling ? Bare429::kCooling : Bare429::kDay);
      } else {
        // Nothing of an unreadable body is judged or passed on (it may hold the key in a
        // coding the proxy cannot undo). A 429 without a readable reason cools the key:
        // retiring it for the day on no evidence would cost far more than a short wait.
        a.verdict = a.status == 429
                        ? Verdict{Outcome::kCooling, Millis(0), "429, body unreadable", false, {}}
                        : Classify(a.status, "", Bare429::kCooling);
        a.error_body = GeminiErrorBody(a.status, a.body_error);
        a.decoded = true;
      }
    } else {
      a.verdict = Verdict{};
    }
    if (watch.gone()) co_return ClientLeft(req);
    svc.metrics->UpstreamAttempt(a.verdict.outcome, SecondsSince(t0));
    if (!Retryable(a.verdict.outcome)) {
      watch.Stop();
      if (session && a.status < 400) {
        // The session goes on with the key that served it (the same one, or a new one when
        // the last could not serve).
        svc.metrics->SessionServed(!preferred               ? SessionResult::kMiss
                                   : *preferred == key.id() ? SessionResult::kHit
                                                            : SessionResult::kMoved);
        svc.sessions->Bind(*session, key.id(), NowMs());
      }
      if (state_changed) co_await AwaitDurable(svc);
      co_return std::move(a);
    }

    state_changed |= svc.pool->Report(a.picked.slot, call.model, a.status, a.verdict, {}, NowMs());
    spdlog::debug("req={} attempt={} key={} model={} status={} verdict={} ({})", req.id,
                  req.attempts, key.id(), call.model, a.status, OutcomeName(a.verdict.outcome),
                  a.verdict.reason);
    watch.Unbind();
    if (a.error_body_whole && a.parser->is_done() && a.parser->keep_alive()) {
      up.Release(std::move(a.conn));
    }
    last_failure = std::to_string(a.status) + " " + a.verdict.reason;
  }
}

}  // namespace gkm
