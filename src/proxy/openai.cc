#include "proxy/openai.h"

#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>

#include "proxy/attempts.h"
#include "proxy/native.h"
#include "proxy/relay.h"
#include "proxy/responses.h"
#include "proxy/signature_cache.h"
#include "proxy/stream_writer.h"
#include "proxy/translated_route.h"
#include "proxy/wire.h"
#include "translate/anthropic_error.h"
#include "translate/chat_request.h"
#include "translate/chat_response.h"
#include "translate/chat_stream.h"
#include "translate/embeddings.h"
#include "translate/error.h"
#include "translate/images.h"
#include "translate/models.h"
#include "upstream/content_coding.h"
#include "upstream/fetch.h"

namespace gkm {
namespace {

namespace asio = boost::asio;

constexpr size_t kAnswerLimit = 64u << 20;  // a whole (non-stream) answer read to translate
constexpr int kMaxModelPages = 20;

std::string_view StripOpenAiPrefix(std::string_view path) {
  if (path.starts_with("/openai/")) path.remove_prefix(7);
  return path;
}

http::response<http::string_body> JsonAnswer(int status, std::string body, bool keep_alive) {
  auto res = JsonResponse(status, std::move(body), keep_alive);
  res.set(http::field::content_type, "application/json");
  return res;
}

// Records an upstream error answer and passes it on to the client in OpenAI's shape.
asio::awaitable<int> SendUpstreamError(Answer& a, Request& req, ClientConn& client, Services& svc,
                                       UpstreamPool& up, bool keep_alive) {
  FinishAnswer(a, req, svc, up, {});
  if (!a.error_body_whole) {
    auto answer = JsonAnswer(502, OpenAiErrorBody(502, a.body_error), false);
    co_return co_await SendAnswer(client, answer, false);
  }
  auto answer = JsonAnswer(a.status, TranslateGeminiError(a.status, a.error_body), keep_alive);
  co_return co_await SendAnswer(client, answer, keep_alive);
}

// A chat stream: Gemini's SSE events translated to OpenAI's chunks as they come.
using ChatRelay = TranslatedRelay<ChatStreamTranslator>;

ResponseContext MakeContext(const std::string& model, Services& svc) {
  ResponseContext ctx;
  ctx.id = RandomId("chatcmpl-", 24);
  ctx.created = ToUnixMs(NowMs()) / 1000;
  ctx.model = model;
  ctx.new_tool_call_id = [] { return RandomId("call_", 24); };
  SignatureCache* cache = svc.signatures;
  if (cache) {
    ctx.remember_signature = [cache](std::string_view id, std::string_view sig) {
      cache->Put(id, sig);
    };
  }
  return ctx;
}

// Fetches the remote images a chat request names (--fetch-image-urls).
asio::awaitable<void> FetchImages(const std::vector<std::string>& urls, ChatOptions& options,
                                  Services& svc) {
  auto ex = co_await asio::this_coro::executor;
  FetchLimits limits;
  limits.allow_private = svc.config->fetch_allow_private;
  for (const auto& url : urls) {
    auto got = co_await FetchUrl(ex, url, svc.fetch_tls, limits);
    FetchedImage img;
    if (auto* f = std::get_if<Fetched>(&got)) {
      img.mime_type = f->mime;
      img.base64_data.resize(boost::beast::detail::base64::encoded_size(f->bytes.size()));
      img.base64_data.resize(boost::beast::detail::base64::encode(
          img.base64_data.data(), f->bytes.data(), f->bytes.size()));
    } else {
      img.error = std::get<std::string>(got);
    }
    options.fetched_images.emplace(url, std::move(img));
  }
}

asio::awaitable<int> ServeChat(Request& req, ClientConn& client, Services& svc, UpstreamPool& up,
                               bool keep_alive) {
  const Config& cfg = *svc.config;
  ChatOptions options;
  options.fetch_image_urls = cfg.fetch_image_urls;
  options.aliases = &cfg.model_aliases;
  if (SignatureCache* cache = svc.signatures) {
    options.signature_lookup = [cache](std::string_view id) { return cache->Get(id); };
  }
  ChatRequestResult translated = TranslateChatRequest(req.msg.body(), options);
  if (auto* need = std::get_if<ImageFetchNeeded>(&translated)) {
    co_await FetchImages(need->urls, options, svc);
    translated = TranslateChatRequest(req.msg.body(), options);
  }
  if (auto* err = std::get_if<TranslateError>(&translated)) {
    {
      auto answer = JsonAnswer(err->status, OpenAiErrorBody(*err), keep_alive);
      co_return co_await SendAnswer(client, answer, keep_alive);
    };
  }
  if (!std::holds_alternative<ChatRequest>(translated)) {
    {
      auto answer =
          JsonAnswer(400, OpenAiErrorBody(400, "remote images could not be prepared"), keep_alive);
      co_return co_await SendAnswer(client, answer, keep_alive);
    };
  }
  ChatRequest& chat = std::get<ChatRequest>(translated);
  req.model = chat.model;

  UpstreamCall call = ModelPost(
      chat.model, chat.stream ? ":streamGenerateContent?alt=sse" : ":generateContent", chat.body);
  call.session = chat.session;
  auto outcome = co_await CallUpstream(req, call, svc, up);
  if (auto* none = std::get_if<NoAnswer>(&outcome)) {
    co_return co_await SendNoAnswer(client, *none, ErrorShape::kOpenAi, keep_alive);
  }
  Answer& a = std::get<Answer>(outcome);
  if (a.status >= 400) co_return co_await SendUpstreamError(a, req, client, svc, up, keep_alive);

  ResponseContext ctx = MakeContext(chat.client_model, svc);
  if (!chat.stream) {
    std::string body;
    if (!co_await ReadBody(a, body, kAnswerLimit, cfg.upstream_timeout)) {
      a.conn.reset();
      FinishAnswer(a, req, svc, up, {});
      auto answer = JsonAnswer(502, OpenAiErrorBody(502, a.body_error), false);
      co_return co_await SendAnswer(client, answer, false);
    }
    auto response = TranslateChatResponse(body, ctx);
    if (auto* err = std::get_if<TranslateError>(&response)) {
      FinishAnswer(a, req, svc, up, {});
      {
        auto answer = JsonAnswer(err->status, OpenAiErrorBody(*err), keep_alive);
        co_return co_await SendAnswer(client, answer, keep_alive);
      };
    }
    ChatResponse& cr = std::get<ChatResponse>(response);
    FinishAnswer(a, req, svc, up, TokensOf(cr.usage));
    {
      auto answer = JsonAnswer(200, std::move(cr.body), keep_alive);
      co_return co_await SendAnswer(client, answer, keep_alive);
    };
  }

  // Streaming: translate each upstream event as it arrives. A stream in a content coding
  // cannot be translated piece by piece; Google sends none when asked for identity.
  if (CodingOf(a.parser->fields()) != Coding::kIdentity) {
    a.conn.reset();
    FinishAnswer(a, req, svc, up, {});
    auto answer = JsonAnswer(
        502, OpenAiErrorBody(502, "the upstream stream came in a content coding"), false);
    co_return co_await SendAnswer(client, answer, false);
  }
  ChatStreamTranslator translator(ctx, chat.include_usage);
  StreamWriter out(client, SseHead(keep_alive));
  ChatRelay relay{translator, *a.parser, {}};
  RelayEnd end = co_await RelayStream(a, req, svc, up, out, relay);
  co_return PackResult(200, end.client_ok && end.upstream_ok && keep_alive);
}

// Sends `call` through the attempt loop and reads its whole answer (at most `limit` bytes)
// into `body`. When that fails — no key could serve, Google refused, the body broke off —
// the client has been answered and the packed result is returned; else nullopt, with the
// answer in `a` for the caller's FinishAnswer.
asio::awaitable<std::optional<int>> CallWhole(Request& req, const UpstreamCall& call,
                                              ClientConn& client, Services& svc, UpstreamPool& up,
                                              bool keep_alive, size_t limit,
                                              std::optional<Answer>& a, std::string& body) {
  auto outcome = co_await CallUpstream(req, call, svc, up);
  if (auto* none = std::get_if<NoAnswer>(&outcome)) {
    co_return co_await SendNoAnswer(client, *none, ErrorShape::kOpenAi, keep_alive);
  }
  a.emplace(std::move(std::get<Answer>(outcome)));
  if (a->status >= 400) co_return co_await SendUpstreamError(*a, req, client, svc, up, keep_alive);
  if (!co_await ReadBody(*a, body, limit, svc.config->upstream_timeout)) {
    a->conn.reset();
    FinishAnswer(*a, req, svc, up, {});
    auto error = JsonAnswer(502, OpenAiErrorBody(502, a->body_error), false);
    co_return co_await SendAnswer(client, error, false);
  }
  co_return std::nullopt;
}

asio::awaitable<int> ServeEmbeddings(Request& req, ClientConn& client, Services& svc,
                                     UpstreamPool& up, bool keep_alive) {
  const Config& cfg = *svc.config;
  auto translated = TranslateEmbeddingsRequest(req.msg.body(), &cfg.model_aliases);
  if (auto* err = std::get_if<TranslateError>(&translated)) {
    {
      auto answer = JsonAnswer(err->status, OpenAiErrorBody(*err), keep_alive);
      co_return co_await SendAnswer(client, answer, keep_alive);
    };
  }
  EmbeddingsRequest& er = std::get<EmbeddingsRequest>(translated);
  req.model = er.model;
  std::vector<std::string> answers;
  for (const std::string& body : er.bodies) {
    UpstreamCall call = ModelPost(er.model, ":batchEmbedContents", body);
    std::string answer;
    std::optional<Answer> a;
    if (auto sent =
            co_await CallWhole(req, call, client, svc, up, keep_alive, kAnswerLimit, a, answer)) {
      co_return *sent;
    }
    FinishAnswer(*a, req, svc, up, {});
    answers.push_back(std::move(answer));
  }
  auto response = TranslateEmbeddingsResponse(answers, er.client_model, er.encoding_format,
                                              er.prompt_tokens_estimate, er.count);
  if (auto* err = std::get_if<TranslateError>(&response)) {
    {
      auto answer = JsonAnswer(err->status, OpenAiErrorBody(*err), keep_alive);
      co_return co_await SendAnswer(client, answer, keep_alive);
    };
  }
  {
    auto answer = JsonAnswer(200, std::move(std::get<std::string>(response)), keep_alive);
    co_return co_await SendAnswer(client, answer, keep_alive);
  };
}

// Images (SPEC 3.8): Imagen makes all n images in one :predict call; a Gemini image model
// makes one per :generateContent call, so those are sent one after the other, each through
// the attempt loop. All the answers of a request together are bounded by kImagesAnswerLimit.
asio::awaitable<int> ServeImages(Request& req, ClientConn& client, Services& svc, UpstreamPool& up,
                                 bool keep_alive) {
  auto translated = TranslateImagesRequest(req.msg.body(), &svc.config->model_aliases);
  if (auto* err = std::get_if<TranslateError>(&translated)) {
    auto answer = JsonAnswer(err->status, OpenAiErrorBody(*err), keep_alive);
    co_return co_await SendAnswer(client, answer, keep_alive);
  }
  ImagesRequest& ir = std::get<ImagesRequest>(translated);
  req.model = ir.model;
  ImagesAnswer got;
  size_t budget = kImagesAnswerLimit;
  for (int i = 0; i < ir.calls; ++i) {
    UpstreamCall call = ModelPost(ir.model, ir.method, ir.body);
    std::string body;
    std::optional<Answer> a;
    if (auto sent = co_await CallWhole(req, call, client, svc, up, keep_alive, budget, a, body)) {
      co_return *sent;
    }
    budget -= std::min(budget, body.size());
    const GeminiUsage before = got.usage;
    std::optional<TranslateError> bad = ReadImagesAnswer(body, ir.kind, got);
    FinishAnswer(*a, req, svc, up,
                 TokenUsage{got.usage.prompt_tokens - before.prompt_tokens,
                            got.usage.candidates_tokens - before.candidates_tokens,
                            got.usage.thoughts_tokens - before.thoughts_tokens});
    if (bad) {
      auto answer = JsonAnswer(bad->status, OpenAiErrorBody(*bad), keep_alive);
      co_return co_await SendAnswer(client, answer, keep_alive);
    }
  }
  ImagesReply reply = BuildImagesReply(got, ir, ToUnixMs(NowMs()) / 1000);
  auto answer = JsonAnswer(reply.status, std::move(reply.body), keep_alive);
  co_return co_await SendAnswer(client, answer, keep_alive);
}

// GET one upstream JSON document through the pool (models list pages, a model).
struct Fetch {
  std::optional<NoAnswer> none;
  int status = 0;
  std::string body;
};

asio::awaitable<Fetch> GetThroughPool(Request& req, const std::string& target, Services& svc,
                                      UpstreamPool& up) {
  UpstreamCall call;
  call.method = http::verb::get;
  call.target = target;
  call.model = "-";
  Fetch f;
  auto outcome = co_await CallUpstream(req, call, svc, up);
  if (auto* none = std::get_if<NoAnswer>(&outcome)) {
    f.none = std::move(*none);
    co_return f;
  }
  Answer& a = std::get<Answer>(outcome);
  f.status = a.status;
  if (a.status >= 400 && a.error_body_whole) {
    f.body = std::move(a.error_body);
  } else if (a.status >= 400 ||
             !co_await ReadBody(a, f.body, kAnswerLimit, svc.config->upstream_timeout)) {
    a.conn.reset();
    f.status = 502;
    f.body.clear();
  }
  FinishAnswer(a, req, svc, up, {});
  co_return f;
}

// What a models route answers: a status and a JSON body in the route's shape, or no answer
// from the pool.
struct ModelsReply {
  int status = 200;
  std::string body;
  std::optional<NoAnswer> none;
};

// The models routes answer in Anthropic's shape, errors too, for a client that sends
// anthropic-version (Anthropic's SDK, Claude Code's model discovery).
struct ModelsShaper {
  ModelsShape shape;
  bool anthropic() const { return shape == ModelsShape::kAnthropic; }
  ModelsReply Error(int status, std::string_view message) const {
    return {status,
            anthropic() ? AnthropicErrorBody(status, message) : OpenAiErrorBody(status, message),
            {}};
  }
  ModelsReply Error(const TranslateError& e) const {
    return {e.status, anthropic() ? AnthropicErrorBody(e) : OpenAiErrorBody(e), {}};
  }
  ModelsReply Upstream(const Fetch& f) const {
    return {f.status,
            anthropic() ? TranslateGeminiErrorToAnthropic(f.status, f.body)
                        : TranslateGeminiError(f.status, f.body),
            {}};
  }
  ModelsReply Translated(std::variant<std::string, TranslateError> t) const {
    if (auto* err = std::get_if<TranslateError>(&t)) return Error(*err);
    return {200, std::move(std::get<std::string>(t)), {}};
  }
};

asio::awaitable<ModelsReply> ModelsAnswer(Request& req, OpenAiRoute route, Services& svc,
                                          UpstreamPool& up, ModelsShaper shaped) {
  const ModelAliases& aliases = svc.config->model_aliases;
  if (route == OpenAiRoute::kModel) {
    std::string_view path = StripOpenAiPrefix(req.path);
    std::string id(path.substr(std::string_view("/v1/models/").size()));
    if (id.starts_with("models/")) id.erase(0, 7);
    bool safe = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
    if (!safe) co_return shaped.Error(404, "no such model");
    // An alias is answered as listed, without asking Google; another vendor's name that
    // no alias maps is refused as a request naming it would be.
    if (std::optional<std::string> to = aliases.Map(id)) {
      co_return ModelsReply{200, AliasModel(ModelAlias{id, *to}, shaped.shape), {}};
    }
    if (ModelChoice choice = aliases.Resolve(id); !choice.ok()) {
      co_return shaped.Error(TranslateError{404, choice.refusal, "model"});
    }
    const std::string target = "/v1beta/models/" + id;
    Fetch f = co_await GetThroughPool(req, target, svc, up);
    if (f.none) co_return ModelsReply{0, {}, std::move(f.none)};
    if (f.status >= 400) co_return shaped.Upstream(f);
    co_return shaped.Translated(TranslateModel(f.body, shaped.shape));
  }
  std::vector<std::string> pages;
  std::string token;
  for (int page = 0; page < kMaxModelPages; ++page) {
    std::string target = "/v1beta/models?pageSize=1000";
    if (!token.empty()) target += "&pageToken=" + token;
    Fetch f = co_await GetThroughPool(req, target, svc, up);
    if (f.none) co_return ModelsReply{0, {}, std::move(f.none)};
    if (f.status >= 400) co_return shaped.Upstream(f);
    token = NextPageToken(f.body);
    pages.push_back(std::move(f.body));
    if (token.empty()) break;
    // Page tokens go into the query: keep only URL-safe characters.
    bool safe = std::all_of(token.begin(), token.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
             c == '~' || c == '=';
    });
    if (!safe) break;
  }
  co_return shaped.Translated(TranslateModelsList(pages, aliases.Literals(), shaped.shape));
}

asio::awaitable<int> ServeModels(Request& req, OpenAiRoute route, ClientConn& client, Services& svc,
                                 UpstreamPool& up, bool keep_alive) {
  const ModelsShaper shaped{AnthropicModelsRequest(req) ? ModelsShape::kAnthropic
                                                        : ModelsShape::kOpenAi};
  ModelsReply reply = co_await ModelsAnswer(req, route, svc, up, shaped);
  if (reply.none) {
    if (reply.none->client_gone) co_return PackResult(kClientGone, false);
    auto answer = NoAnswerResponse(
        *reply.none, shaped.anthropic() ? ErrorShape::kAnthropic : ErrorShape::kOpenAi, keep_alive);
    co_return co_await SendAnswer(client, answer, keep_alive);
  }
  auto answer = JsonAnswer(reply.status, std::move(reply.body), keep_alive);
  co_return co_await SendAnswer(client, answer, keep_alive);
}

// --openai-mode google: Google's own OpenAI layer, as it is, with a pool key as Bearer.
asio::awaitable<int> ServeGoogleMode(Request& req, ClientConn& client, Services& svc,
                                     UpstreamPool& up, bool keep_alive) {
  std::string_view rest = StripOpenAiPrefix(req.path);
  rest.remove_prefix(3);  // "/v1"
  std::string model = "-";
  NativeOptions options;
  if (!req.msg.body().empty()) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(req.msg.body(), ec);
    if (!ec && v.is_object()) {
      if (const auto* m = v.as_object().if_contains("model"); m && m->is_string()) {
        PathModel checked = ModelOfBody(m->as_string());  // the pool sees only valid names
        if (!checked.ok()) {
          auto answer = JsonAnswer(400, OpenAiErrorBody(400, checked.problem, "model"), keep_alive);
          co_return co_await SendAnswer(client, answer, keep_alive);
        }
        ModelChoice choice = svc.config->model_aliases.Resolve(checked.name);
        if (!choice.ok()) {
          auto answer = JsonAnswer(
              404, OpenAiErrorBody(TranslateError{404, std::move(choice.refusal), "model"}),
              keep_alive);
          co_return co_await SendAnswer(client, answer, keep_alive);
        }
        if (choice.model != checked.name) {  // an alias: Google gets the Gemini name
          v.as_object()["model"] = choice.model;
          options.body = boost::json::serialize(v);
        }
        model = std::move(choice.model);
      }
    }
  }
  options.target_path = "/v1beta/openai" + std::string(rest);
  options.model = model;
  options.openai_errors = true;
  co_return co_await ServeNative(req, client, svc, up, keep_alive, options);
}

}  // namespace

bool AnthropicModelsRequest(const Request& req) {
  if (!req.msg.Find("anthropic-version")) return false;
  std::string_view path = req.path;
  return req.msg.method() == http::verb::get &&
         (path == "/v1/models" || (path.starts_with("/v1/models/") && path.size() > 11 &&
                                   path.find(':') == std::string_view::npos));
}

OpenAiRoute OpenAiRouteOf(const Request& req) {
  std::string_view path = req.path;
  bool prefixed = path.starts_with("/openai/");
  path = StripOpenAiPrefix(path);
  http::verb m = req.msg.method();
  if (path == "/v1/chat/completions" && m == http::verb::post) return OpenAiRoute::kChat;
  if (path == "/v1/embeddings" && m == http::verb::post) return OpenAiRoute::kEmbeddings;
  if (path == "/v1/images/generations" && m == http::verb::post) return OpenAiRoute::kImages;
  if (path == "/v1/responses" && m == http::verb::post) return OpenAiRoute::kResponses;
  if (path.starts_with("/v1/responses/") && path.size() > 14 &&
      path.find('/', 14) == std::string_view::npos &&
      (m == http::verb::get || m == http::verb::delete_)) {
    return OpenAiRoute::kResponse;
  }
  bool models = path == "/v1/models";
  bool model = path.starts_with("/v1/models/") && path.size() > 11 &&
               path.find(':') == std::string_view::npos;
  if ((models || model) && m == http::verb::get) {
    // The native Gemini list carries its key in x-goog-api-key or ?key=.
    bool native = !prefixed && (req.msg.Find("x-goog-api-key").has_value() ||
                                QueryParam(req.query, "key").has_value());
    if (native) return OpenAiRoute::kNone;
    return models ? OpenAiRoute::kModels : OpenAiRoute::kModel;
  }
  return OpenAiRoute::kNone;
}

asio::awaitable<int> ServeOpenAi(Request& req, OpenAiRoute route, ClientConn& client, Services& svc,
                                 UpstreamPool& up, bool keep_alive) {
  req.route = route == OpenAiRoute::kChat         ? "chat.completions"
              : route == OpenAiRoute::kEmbeddings ? "embeddings"
              : route == OpenAiRoute::kImages     ? "images"
              : route == OpenAiRoute::kResponses || route == OpenAiRoute::kResponse
                  ? "responses"
                  : "openai.models";
  // Google hosts no Responses API: these are translated whatever --openai-mode says.
  if (route == OpenAiRoute::kResponses) {
    co_return co_await ServeResponses(req, client, svc, up, keep_alive);
  }
  if (route == OpenAiRoute::kResponse) {
    co_return co_await ServeStoredResponse(req, client, svc, keep_alive);
  }
  // Google's OpenAI layer makes images with Imagen only: translated, so both kinds work.
  if (route == OpenAiRoute::kImages)
    co_return co_await ServeImages(req, client, svc, up, keep_alive);
  if (svc.config->openai_mode == OpenAiMode::kGoogle) {
    co_return co_await ServeGoogleMode(req, client, svc, up, keep_alive);
  }
  switch (route) {
    case OpenAiRoute::kChat:
      co_return co_await ServeChat(req, client, svc, up, keep_alive);
    case OpenAiRoute::kEmbeddings:
      co_return co_await ServeEmbeddings(req, client, svc, up, keep_alive);
    case OpenAiRoute::kModels:
    case OpenAiRoute::kModel:
      co_return co_await ServeModels(req, route, client, svc, up, keep_alive);
    case OpenAiRoute::kResponses:
    case OpenAiRoute::kResponse:
    case OpenAiRoute::kImages:
    case OpenAiRoute::kNone:
      break;
  }
  {
    auto answer = JsonAnswer(404, OpenAiErrorBody(404, "no such route"), keep_alive);
    co_return co_await SendAnswer(client, answer, keep_alive);
  };
}

}  // namespace gkm
