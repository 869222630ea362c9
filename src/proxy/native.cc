#include "proxy/native.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/http_io.h"
#include "proxy/attempts.h"
#include "proxy/headers.h"
#include "proxy/relay.h"
#include "proxy/stream_writer.h"
#include "proxy/wire.h"
#include "translate/error.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

constexpr size_t kCreatedBodyLimit = 16 << 20;   // answers that name a created file or cache
constexpr size_t kWholeAnswerLimit = 256 << 10;  // answers up to this size go in one write
constexpr size_t kTailKeep = 4096;               // stream tail kept for usageMetadata

// Calls emit(name, value) for each field of the upstream answer that crosses to the client
// (headers.h), rewriting the upload URLs (and binding the session to the key) and never
// letting the key through. Content-Encoding is dropped when the body was decoded.
template <class Emit>
void ForEachResponseHeader(const Answer& a, const Request& req, Services& svc, Emit&& emit) {
  const AnswerParser& from = *a.parser;
  const ApiKey& key = *a.picked.key;
  ConnectionNamed named(from.fields());
  for (const auto& f : from.fields()) {
    std::string_view name = f.name;
    std::string_view value = f.value;
    if (!Crosses(name, Direction::kToClient) || named.Contains(name)) continue;
    if (a.decoded && NameIs(name, "content-encoding")) continue;
    std::string changed;
    if (NameIs(name, "x-goog-upload-url") || NameIs(name, "x-goog-upload-control-url")) {
      std::string upload_id;
      if (auto rewritten = RewriteUploadUrl(value, req.origin, &upload_id)) {
        svc.affinity->Bind("upload", upload_id, key.id(), NowMs());
        changed = std::move(*rewritten);
        value = changed;
      }
    }
    if (value.find(key.reveal()) != std::string_view::npos) {
      changed = std::string(value);
      RedactSecret(changed, key.reveal(), key.masked());
      value = changed;
      spdlog::warn("req={} upstream header {} carried the key {}; masked", req.id,
                   std::string(name), key.id());
    }
    emit(name, value);
  }
}

template <class To>
void CopyResponseHeaders(const Answer& a, To& to, const Request& req, Services& svc) {
  ForEachResponseHeader(
      a, req, svc, [&](std::string_view name, std::string_view value) { to.insert(name, value); });
}

// The response head for a whole body, as wire bytes (no per-field allocations).
std::string ResponseHead(const Answer& a, const Request& req, Services& svc,
                         std::optional<size_t> length, bool keep_alive) {
  std::string h;
  h.reserve(1024);
  AppendStatusLine(h, 11, a.status, http::obsolete_reason(static_cast<http::status>(a.status)));
  bool has_date = false;
  ForEachResponseHeader(a, req, svc, [&](std::string_view name, std::string_view value) {
    has_date = has_date || NameIs(name, "date");
    AppendField(h, name, value);
  });
  if (!has_date) AppendField(h, "Date", HttpDateNow());
  if (length) AppendField(h, "Content-Length", std::to_string(*length));
  if (!keep_alive) h += "Connection: close\r\n";
  h += "\r\n";
  return h;
}

// Responses that name a created file or cache are read whole to bind them to the key.
bool CreatesResources(const Request& req) {
  if (req.msg.method() != http::verb::post) return false;
  return req.path.starts_with("/upload/") || req.path.ends_with("/cachedContents") ||
         req.path.ends_with("/files");
}

// The native stream: the bytes as they are, their tail kept for the usage they report.
struct PassThrough {
  std::string tail;
  std::string_view Piece(std::string_view raw) {
    tail.append(raw);
    if (tail.size() > 2 * kTailKeep) tail.erase(0, tail.size() - kTailKeep);
    return raw;
  }
  bool Done() const { return false; }
  TokenUsage Usage() const { return ScanUsage(tail); }
  std::string End() { return {}; }
  std::optional<std::string> Broken() { return std::nullopt; }  // close: the answer is cut
};

}  // namespace

asio::awaitable<int> ServeNative(Request& req, ClientConn& client, Services& svc, UpstreamPool& up,
                                 bool keep_alive, NativeOptions options) {
  const Config& cfg = *svc.config;
  if (options.model.empty()) {
    PathModel model = ModelOfPath(req.path);
    req.route = RouteOfPath(req.path);
    if (!model.ok()) {  // never reaches the pool nor Google (SPEC 8)
      auto res = JsonResponse(400, GeminiErrorBody(400, model.problem), keep_alive);
      bool sent = co_await SendResponse(client, res);
      co_return PackResult(400, sent && keep_alive);
    }
    // --model-alias: the path names the Gemini model upstream; another vendor's model that
    // no alias maps is refused before any key is used.
    if (model.name != "-" && !model.name.starts_with("tunedModels/")) {
      ModelChoice choice = cfg.model_aliases.Resolve(model.name);
      if (!choice.ok()) {
        auto res = JsonResponse(404, GeminiErrorBody(404, choice.refusal), keep_alive);
        bool sent = co_await SendResponse(client, res);
        co_return PackResult(404, sent && keep_alive);
      }
      if (choice.model != model.name && options.target_path.empty()) {
        options.target_path = WithPathModel(req.path, choice.model);
        model.name = std::move(choice.model);
      }
    }
    req.model = std::move(model.name);
  } else {
    req.model = options.model;
  }
  const std::string& path = options.target_path.empty() ? req.path : options.target_path;
  std::string query = StripKeyParam(req.query);

  UpstreamCall call;
  call.method = req.msg.method();
  call.target = path + (query.empty() ? "" : "?" + query);
  call.client_headers = &req.msg.fields();
  call.body = options.body ? std::string_view(*options.body) : req.msg.body();
  call.model = req.model;
  call.bearer = path.find("/openai/") != std::string::npos;
  // Key affinity: a request that names a file, cache or upload session goes with its key.
  for (const auto& ref : ReferencedResources(req.path, req.query, req.msg.body())) {
    if (auto k = svc.affinity->Find(ref.kind, ref.name)) {
      call.bound_key = std::move(k);
      call.bound_name = ref.name;
      break;
    }
  }

  auto outcome = co_await CallUpstream(req, call, svc, up);
  if (auto* none = std::get_if<NoAnswer>(&outcome)) {
    if (none->client_gone) co_return PackResult(kClientGone, false);
    auto res = NoAnswerResponse(*none, options.openai_errors, keep_alive);
    bool sent = co_await SendResponse(client, res);
    co_return PackResult(none->status, sent && keep_alive);
  }
  Answer& a = std::get<Answer>(outcome);
  const ApiKey& key = *a.picked.key;
  const int status = a.status;

  // Phase: stream back. From here on the client gets this answer, whatever happens.
  if (status >= 400 || CreatesResources(req)) {
    std::string buffered = std::move(a.error_body);
    bool whole = a.error_body_whole;
    if (status < 400)
      whole = co_await ReadBody(a, buffered, kCreatedBodyLimit, cfg.upstream_timeout);
    if (!whole) {
      FinishAnswer(a, req, svc, up, {});
      auto res = JsonResponse(502, GeminiErrorBody(502, a.body_error), false);
      co_await SendResponse(client, res);
      co_return PackResult(502, false);
    }
    if (status < 300) {
      for (const auto& ref : CreatedResources(buffered)) {
        svc.affinity->Bind(ref.kind, ref.name, key.id(), NowMs(),
                           Affinity::ExpiryInAnswer(buffered));
      }
    }
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    CopyResponseHeaders(a, res, req, svc);
    if (options.openai_errors && status >= 400) {
      // Google's OpenAI layer wraps some errors in an array; clients expect OpenAI's shape.
      buffered = TranslateGeminiError(status, buffered);
      res.set(http::field::content_type, "application/json");
    }
    res.body() = std::move(buffered);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    FinishAnswer(a, req, svc, up, ScanUsage(res.body()));
    bool sent = co_await SendResponse(client, res);
    co_return PackResult(status, sent && keep_alive);
  }

  // A small answer of known length is read whole and sent in one write; anything else
  // (streams, large downloads) is relayed piece by piece as it arrives.
  std::optional<uint64_t> length;
  if (auto declared = a.parser->content_length()) length = *declared;
  bool no_body = status == 204 || status == 304 || req.msg.method() == http::verb::head;
  if (no_body || (length && *length <= kWholeAnswerLimit)) {
    std::string body;
    if (!no_body && !co_await ReadBody(a, body, kWholeAnswerLimit, cfg.upstream_timeout)) {
      a.conn.reset();
      FinishAnswer(a, req, svc, up, {});
      auto res = JsonResponse(502, GeminiErrorBody(502, a.body_error), false);
      co_await SendResponse(client, res);
      co_return PackResult(502, false);
    }
    FinishAnswer(a, req, svc, up, ScanUsage(body));
    std::optional<size_t> out_length;
    if (!no_body) out_length = body.size();
    const std::string head = ResponseHead(a, req, svc, out_length, keep_alive);
    std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(body)};
    bool sent = !client.deadline.Done(co_await WriteToClient(client, out));
    co_return PackResult(status, sent && keep_alive);
  }

  // Relayed as it comes (in its content coding, if Google used one after all: a stream is
  // not buffered, so it is neither decoded nor scanned then).
  http::response<http::buffer_body> res{static_cast<http::status>(status), 11};
  CopyResponseHeaders(a, res, req, svc);
  res.keep_alive(keep_alive);
  StreamWriter out(client, res, length);
  PassThrough relay;
  RelayEnd end = co_await RelayStream(a, req, svc, up, out, relay);
  co_return PackResult(status, end.upstream_ok && end.client_ok && keep_alive);
}

}  // namespace gkm
