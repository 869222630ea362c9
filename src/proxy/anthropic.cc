#include "proxy/anthropic.h"

#include <openssl/sha.h>

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

#include "proxy/attempts.h"
#include "proxy/native.h"
#include "proxy/relay.h"
#include "proxy/stream_writer.h"
#include "proxy/translated_route.h"
#include "translate/anthropic_error.h"
#include "translate/anthropic_request.h"
#include "translate/anthropic_response.h"
#include "translate/anthropic_stream.h"
#include "upstream/content_coding.h"

namespace gkm {
namespace {

namespace asio = boost::asio;

constexpr size_t kAnswerLimit = 64u << 20;  // a whole (non-stream) answer read to translate

enum class Kind { kNone, kMessages, kCountTokens };

Kind KindOf(const Request& req) {
  if (req.msg.method() != http::verb::post) return Kind::kNone;
  std::string_view path = req.path;
  if (path.starts_with("/anthropic/")) path.remove_prefix(10);
  if (path == "/v1/messages") return Kind::kMessages;
  if (path == "/v1/messages/count_tokens") return Kind::kCountTokens;
  return Kind::kNone;
}

std::string RequestId(const Request& req) { return "req_gkm_" + std::to_string(req.id); }

asio::awaitable<int> SendError(ClientConn& client, const Request& req, int status,
                               std::string_view message, bool keep_alive) {
  auto res = JsonResponse(status, AnthropicErrorBody(status, message, RequestId(req)), keep_alive);
  co_return co_await SendAnswer(client, res, keep_alive);
}

// Records an upstream error answer and passes it on in Anthropic's shape.
asio::awaitable<int> SendUpstreamError(Answer& a, Request& req, ClientConn& client, Services& svc,
                                       UpstreamPool& up, bool keep_alive) {
  FinishAnswer(a, req, svc, up, {});
  if (!a.error_body_whole) co_return co_await SendError(client, req, 502, a.body_error, false);
  auto res = JsonResponse(a.status,
                          TranslateGeminiErrorToAnthropic(a.status, a.error_body, RequestId(req)),
                          keep_alive);
  co_return co_await SendAnswer(client, res, keep_alive);
}

// A messages stream: Gemini's SSE events translated to Anthropic's as they come.
struct AnthropicRelay : TranslatedRelay<AnthropicStreamTranslator> {
  // Sent while Gemini is silent (thinking before its first chunk, or between chunks).
  std::string Ping() const { return AnthropicPingEvent(); }
};

AnthropicContext MakeContext(const std::string& model) {
  AnthropicContext ctx;
  ctx.id = RandomId("msg_", 24);
  ctx.model = model;
  ctx.new_tool_use_id = [] { return RandomId("toolu_", 24); };
  return ctx;
}

asio::awaitable<int> ServeMessages(Request& req, ClientConn& client, Services& svc,
                                   UpstreamPool& up, bool keep_alive) {
  req.route = "anthropic.messages";
  AnthropicRequestResult translated =
      TranslateAnthropicRequest(req.msg.body(), &svc.config->model_aliases);
  if (auto* err = std::get_if<TranslateError>(&translated)) {
    co_return co_await SendError(client, req, err->status, err->message, keep_alive);
  }
  AnthropicRequest& ar = std::get<AnthropicRequest>(translated);
  req.model = ar.model;

  UpstreamCall call = ModelPost(
      ar.model, ar.stream ? ":streamGenerateContent?alt=sse" : ":generateContent", ar.body);
  // Claude Code names its session in a header (and inside metadata.user_id too); other
  // clients may set only metadata.user_id.
  std::string_view session_header = req.msg.Find("x-claude-code-session-id").value_or("");
  call.session = session_header.empty() ? std::string_view(ar.session) : session_header;
  auto outcome = co_await CallUpstream(req, call, svc, up);
  if (auto* none = std::get_if<NoAnswer>(&outcome)) {
    co_return co_await SendNoAnswer(client, *none, ErrorShape::kAnthropic, keep_alive);
  }
  Answer& a = std::get<Answer>(outcome);
  if (a.status >= 400) co_return co_await SendUpstreamError(a, req, client, svc, up, keep_alive);

  AnthropicContext ctx = MakeContext(ar.client_model);
  if (!ar.stream) {
    std::string body;
    if (!co_await ReadBody(a, body, kAnswerLimit, svc.config->upstream_timeout)) {
      a.conn.reset();
      FinishAnswer(a, req, svc, up, {});
      co_return co_await SendError(client, req, 502, a.body_error, false);
    }
    auto response = TranslateAnthropicResponse(body, ctx);
    if (auto* err = std::get_if<TranslateError>(&response)) {
      FinishAnswer(a, req, svc, up, {});
      co_return co_await SendError(client, req, err->status, err->message, keep_alive);
    }
    AnthropicResponse& r = std::get<AnthropicResponse>(response);
    FinishAnswer(a, req, svc, up, TokensOf(r.usage));
    auto res = JsonResponse(200, std::move(r.body), keep_alive);
    res.set(http::field::content_type, "application/json");
    co_return co_await SendAnswer(client, res, keep_alive);
  }

  // A stream in a content coding cannot be translated piece by piece; Google sends none
  // when asked for identity.
  if (CodingOf(a.parser->fields()) != Coding::kIdentity) {
    a.conn.reset();
    FinishAnswer(a, req, svc, up, {});
    co_return co_await SendError(client, req, 502, "the upstream stream came in a content coding",
                                 false);
  }
  AnthropicStreamTranslator translator(ctx);
  StreamWriter out(client, SseHead(keep_alive));
  AnthropicRelay relay{{translator, *a.parser, {}}};
  RelayEnd end = co_await RelayStream(a, req, svc, up, out, relay);
  co_return PackResult(200, end.client_ok && end.upstream_ok && keep_alive);
}

// count_tokens answers by the SHA-256 of the translated request, for a minute: Claude Code
// asks the same count many times in a row (about 45 calls as an editor starts), and the
// count is Gemini's either way. Bounded; thread-safe (one mutex).
class CountCache {
 public:
  static CountCache& Get() {
    static CountCache cache;
    return cache;
  }
  static std::string KeyOf(std::string_view body) {
    std::string key(SHA256_DIGEST_LENGTH, '\0');
    SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(),
           reinterpret_cast<unsigned char*>(key.data()));
    return key;
  }
  std::optional<std::string> Find(const std::string& key, TimePoint now) {
    std::lock_guard lock(mu_);
    auto it = answers_.find(key);
    if (it == answers_.end() || it->second.until <= now) return std::nullopt;
    return it->second.body;
  }
  void Put(const std::string& key, std::string body, TimePoint now) {
    std::lock_guard lock(mu_);
    auto [it, fresh] = answers_.insert_or_assign(key, Entry{std::move(body), now + kTtl});
    if (fresh) order_.push_back(key);
    while (order_.size() > kCapacity) {
      answers_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  static constexpr Millis kTtl{60000};
  static constexpr size_t kCapacity = 4096;
  struct Entry {
    std::string body;
    TimePoint until;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> answers_;
  std::deque<std::string> order_;  // insertion order, oldest first
};

asio::awaitable<int> ServeCountTokens(Request& req, ClientConn& client, Services& svc,
                                      UpstreamPool& up, bool keep_alive) {
  req.route = "anthropic.count_tokens";
  AnthropicRequestResult translated =
      TranslateAnthropicCountTokens(req.msg.body(), &svc.config->model_aliases);
  if (auto* err = std::get_if<TranslateError>(&translated)) {
    co_return co_await SendError(client, req, err->status, err->message, keep_alive);
  }
  AnthropicRequest& ar = std::get<AnthropicRequest>(translated);
  req.model = ar.model;
  const std::string cache_key = CountCache::KeyOf(ar.body);
  if (std::optional<std::string> cached = CountCache::Get().Find(cache_key, NowMs())) {
    auto res = JsonResponse(200, std::move(*cached), keep_alive);
    res.set(http::field::content_type, "application/json");
    co_return co_await SendAnswer(client, res, keep_alive);
  }
  UpstreamCall call = ModelPost(ar.model, ":countTokens", ar.body);
  auto outcome = co_await CallUpstream(req, call, svc, up);
  if (auto* none = std::get_if<NoAnswer>(&outcome)) {
    co_return co_await SendNoAnswer(client, *none, ErrorShape::kAnthropic, keep_alive);
  }
  Answer& a = std::get<Answer>(outcome);
  if (a.status >= 400) co_return co_await SendUpstreamError(a, req, client, svc, up, keep_alive);
  std::string body;
  bool whole = co_await ReadBody(a, body, kAnswerLimit, svc.config->upstream_timeout);
  if (!whole) a.conn.reset();
  FinishAnswer(a, req, svc, up, {});
  if (!whole) co_return co_await SendError(client, req, 502, a.body_error, false);
  auto count = TranslateAnthropicCountTokensResponse(body);
  if (auto* err = std::get_if<TranslateError>(&count)) {
    co_return co_await SendError(client, req, err->status, err->message, keep_alive);
  }
  CountCache::Get().Put(cache_key, std::get<std::string>(count), NowMs());
  auto res = JsonResponse(200, std::move(std::get<std::string>(count)), keep_alive);
  res.set(http::field::content_type, "application/json");
  co_return co_await SendAnswer(client, res, keep_alive);
}

}  // namespace

bool IsAnthropicRoute(const Request& req) { return KindOf(req) != Kind::kNone; }

bool AnthropicShaped(const Request& req) {
  return IsAnthropicRoute(req) || req.path.starts_with("/anthropic/");
}

asio::awaitable<int> ServeAnthropic(Request& req, ClientConn& client, Services& svc,
                                    UpstreamPool& up, bool keep_alive) {
  switch (KindOf(req)) {
    case Kind::kMessages:
      co_return co_await ServeMessages(req, client, svc, up, keep_alive);
    case Kind::kCountTokens:
      co_return co_await ServeCountTokens(req, client, svc, up, keep_alive);
    case Kind::kNone:
      break;
  }
  req.route = "anthropic";
  co_return co_await SendError(client, req, 404, "no such route", keep_alive);
}

}  // namespace gkm
