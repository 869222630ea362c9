#include "translate/chat_request.h"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/names.h"
#include "translate/field_reader.h"
#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this file's own helpers

// The model as it goes into the upstream URL: "models/" dropped, a safe alphabet only.
std::string CheckModel(std::string_view model) {
  if (model.starts_with("models/")) model.remove_prefix(7);
  // The one check every route applies before the pool sees a name (common/names.h).
  if (std::string problem = ModelNameProblem(model); !problem.empty()) Fail("model", problem);
  return std::string(model);
}

// Whether a function tool stands for Google Search grounding: clients that cannot send
// web_search_options declare a function by one of these names instead.
bool IsSearchToolName(std::string_view name) {
  return name == "googleSearch" || name == "google_search";
}

// extra_body.google.<key>, in either spelling (Google's layer parses it as proto JSON,
// which takes snake_case and camelCase alike); nullptr when absent.
const json::value* ExtraGoogle(const json::object& in, std::string_view snake,
                               std::string_view camel) {
  const json::value* eb = Get(in, "extra_body");
  if (eb == nullptr || !eb->is_object()) return nullptr;
  const json::value* g = Get(eb->get_object(), "google");
  if (g == nullptr || !g->is_object()) return nullptr;
  if (const json::value* v = Get(g->get_object(), snake)) return v;
  return Get(g->get_object(), camel);
}

struct CallInfo {
  std::string name;
  size_t ordinal;  // position among all tool calls of the conversation
};

class RequestTranslator {
 public:
  explicit RequestTranslator(const ChatOptions& options) : opts_(options) {}

  ChatRequestResult Run(std::string_view text) {
    std::string parse_error;
    ScratchJson scratch;  // the client's body is read and dropped here
    std::optional<json::value> root = ParseJson(text, &parse_error, scratch.storage());
    if (!root) {
      return TranslateError{400, "request body is not valid JSON: " + parse_error, ""};
    }
    if (!root->is_object()) {
      return TranslateError{
          400, "request body must be a JSON object, got " + std::string(KindName(*root)), ""};
    }
    const json::object& in = root->get_object();

    ChatRequest out;
    const json::value* model = Get(in, "model");
    if (model == nullptr) Fail("model", "required");
    out.client_model = CheckModel(AsString(*model, "model"));
    ModelChoice choice = ResolveModel(opts_.aliases, out.client_model);
    if (!choice.ok()) return TranslateError{404, std::move(choice.refusal), "model"};
    out.model = std::move(choice.model);

    const json::value* messages = Get(in, "messages");
    if (messages == nullptr) Fail("messages", "required");
    Messages(AsArray(*messages, "messages"));

    json::object body;
    body["contents"] = std::move(contents_);
    if (!system_parts_.empty()) {
      json::object sys;
      sys["parts"] = std::move(system_parts_);
      body["systemInstruction"] = std::move(sys);
    }
    Tools(in, body);
    ExtraGoogleFields(in, body);
    json::object gen = GenerationConfig(in, out);
    if (!gen.empty()) body["generationConfig"] = std::move(gen);

    if (const auto s = OptBool(in, "stream")) out.stream = *s;
    if (const json::value* k = Get(in, "prompt_cache_key")) {
      out.session = AsString(*k, "prompt_cache_key");
    }
    if (const json::value* so = Get(in, "stream_options")) {
      const json::object& o = AsObject(*so, "stream_options");
      if (const json::value* iu = Get(o, "include_usage")) {
        if (!iu->is_bool()) WrongType("stream_options.include_usage", "a boolean", *iu);
        out.include_usage = iu->get_bool();
      }
    }

    if (!missing_urls_.empty()) return ImageFetchNeeded{std::move(missing_urls_)};
    out.body = json::serialize(body);
    return out;
  }

 private:
  void Messages(const json::array& messages) {
    if (messages.empty()) Fail("messages", "must not be empty");
    for (size_t i = 0; i < messages.size(); ++i) {
      const std::string path = Idx("messages", i);
      const json::object& m = AsObject(messages[i], path);
      const json::value* role_v = Get(m, "role");
      if (role_v == nullptr) Fail(Sub(path, "role"), "required");
      const std::string_view role = AsString(*role_v, Sub(path, "role"));
      if (role == "system" || role == "developer") {
        System(m, path);
      } else if (role == "user") {
        json::array parts = UserParts(m, path);
        if (!parts.empty()) Add("user", std::move(parts));
      } else if (role == "assistant") {
        json::array parts = AssistantParts(m, path);
        if (!parts.empty()) Add("model", std::move(parts));
      } else if (role == "tool") {
        size_t end = i;
        while (end < messages.size() && IsTool(messages[end])) ++end;
        ToolResults(messages, i, end);
        i = end - 1;
      } else if (role == "function") {
        Fail(Sub(path, "role"), "the deprecated 'function' role is not supported; use 'tool'");
      } else {
        Fail(Sub(path, "role"), "unknown role " + Quote(role));
      }
    }
    if (contents_.empty() && missing_urls_.empty()) {
      Fail("messages", "no user, assistant or tool message with content (Gemini needs one)");
    }
  }

  static bool IsTool(const json::value& m) {
    if (!m.is_object()) return false;
    const json::value* r = m.get_object().if_contains("role");
    return r != nullptr && r->is_string() && r->get_string() == "tool";
  }

  // Appends a content, merging it into the previous one when the role is the same.
  void Add(std::string_view role, json::array parts) {
    AppendContent(contents_, role, std::move(parts));
  }

  static json::object TextPart(std::string_view text) {
    json::object p;
    p["text"] = text;
    return p;
  }

  // The text pieces of a content that may hold only text: a string or text parts
  // ("refusal" parts, as assistant messages may carry, count as text).
  static std::vector<std::string_view> Texts(const json::object& m, const std::string& path) {
    std::vector<std::string_view> out;
    const json::value* c = Get(m, "content");
    const std::string cpath = Sub(path, "content");
    if (c == nullptr) return out;
    if (c->is_string()) {
      out.push_back(c->get_string());
      return out;
    }
    if (!c->is_array()) WrongType(cpath, "a string or an array of content parts", *c);
    const json::array& parts = AsArray(*c, cpath);
    for (size_t j = 0; j < parts.size(); ++j) {
      const std::string ppath = Idx(cpath, j);
      const json::object& p = AsObject(parts[j], ppath);
      const json::value* t = Get(p, "type");
      if (t == nullptr) Fail(Sub(ppath, "type"), "required");
      const std::string_view type = AsString(*t, Sub(ppath, "type"));
      if (type != "text" && type != "refusal") {
        Fail(Sub(ppath, "type"), "only text parts are allowed here, got " + Quote(type));
      }
      const json::value* tv = Get(p, type);
      if (tv == nullptr) Fail(Sub(ppath, type), "required");
      out.push_back(AsString(*tv, Sub(ppath, type)));
    }
    return out;
  }

  void System(const json::object& m, const std::string& path) {
    for (std::string_view t : Texts(m, path)) {
      if (!t.empty()) system_parts_.push_back(TextPart(t));
    }
  }

  json::array UserParts(const json::object& m, const std::string& path) {
    json::array out;
    const json::value* c = Get(m, "content");
    const std::string cpath = Sub(path, "content");
    if (c == nullptr) Fail(cpath, "required");
    if (c->is_string()) {
      if (!c->get_string().empty()) out.push_back(TextPart(c->get_string()));
      return out;
    }
    if (!c->is_array()) WrongType(cpath, "a string or an array of content parts", *c);
    const json::array& parts = AsArray(*c, cpath);
    for (size_t j = 0; j < parts.size(); ++j) {
      const std::string ppath = Idx(cpath, j);
      const json::object& p = AsObject(parts[j], ppath);
      const json::value* t = Get(p, "type");
      if (t == nullptr) Fail(Sub(ppath, "type"), "required");
      const std::string_view type = AsString(*t, Sub(ppath, "type"));
      if (type == "text") {
        const json::value* tv = Get(p, "text");
        if (tv == nullptr) Fail(Sub(ppath, "text"), "required");
        const std::string_view text = AsString(*tv, Sub(ppath, "text"));
        if (!text.empty()) out.push_back(TextPart(text));
      } else if (type == "image_url") {
        const json::value* iu = Get(p, "image_url");
        const std::string ipath = Sub(ppath, "image_url");
        if (iu == nullptr) Fail(ipath, "required");
        if (iu->is_string()) {  // the early vision preview's shorthand
          Image(iu->get_string(), ipath, out);
        } else {
          const json::object& io = AsObject(*iu, ipath);
          const json::value* url = Get(io, "url");
          if (url == nullptr) Fail(Sub(ipath, "url"), "required");
          Image(AsString(*url, Sub(ipath, "url")), Sub(ipath, "url"), out);
        }
      } else if (type == "input_audio") {
        const std::string apath = Sub(ppath, "input_audio");
        const json::value* ia = Get(p, "input_audio");
        if (ia == nullptr) Fail(apath, "required");
        const json::object& a = AsObject(*ia, apath);
        const auto data = OptString(a, "data", apath);
        const auto format = OptString(a, "format", apath);
        if (!data) Fail(Sub(apath, "data"), "required");
        if (!format) Fail(Sub(apath, "format"), "required");
        if (!IsBase64(*data)) Fail(Sub(apath, "data"), "invalid base64 data");
        const std::string fmt = Lower(*format);
        if (fmt.empty() || fmt.size() > 16 || !std::all_of(fmt.begin(), fmt.end(), [](char ch) {
              return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
            })) {
          Fail(Sub(apath, "format"), "invalid audio format " + Quote(*format));
        }
        out.push_back(Inline("audio/" + fmt, *data));
      } else if (type == "file") {
        const std::string fpath = Sub(ppath, "file");
        const json::value* f = Get(p, "file");
        if (f == nullptr) Fail(fpath, "required");
        const json::object& fo = AsObject(*f, fpath);
        const auto data = OptString(fo, "file_data", fpath);
        if (!data) Fail(Sub(fpath, "file_data"), "required (file_id is not supported)");
        if (!StartsWithNoCase(*data, "data:")) {
          Fail(Sub(fpath, "file_data"), "expected a base64 data: URL");
        }
        out.push_back(DataUrl(*data, Sub(fpath, "file_data")));
      } else {
        Fail(Sub(ppath, "type"), "unsupported content part type " + Quote(type));
      }
    }
    return out;
  }

  static std::string NormalizeMime(std::string mime) {
    if (mime == "image/jpg") return "image/jpeg";
    return mime;
  }

  static json::object Inline(std::string mime, std::string_view data) {
    json::object in;
    in["mimeType"] = NormalizeMime(std::move(mime));
    in["data"] = data;
    json::object p;
    p["inlineData"] = std::move(in);
    return p;
  }

  void Image(std::string_view url, const std::string& path, json::array& out) {
    if (StartsWithNoCase(url, "data:")) {
      out.push_back(DataUrl(url, path));
      return;
    }
    if (!StartsWithNoCase(url, "http://") && !StartsWithNoCase(url, "https://")) {
      Fail(path, "unsupported image URL; send a base64 data: URL");
    }
    if (!opts_.fetch_image_urls) {
      Fail(path,
           "remote image URLs are not fetched by this proxy (it runs without "
           "--fetch-image-urls); send the image inline as a base64 data: URL");
    }
    const auto it = opts_.fetched_images.find(url);
    if (it == opts_.fetched_images.end()) {
      if (std::find(missing_urls_.begin(), missing_urls_.end(), url) == missing_urls_.end()) {
        if (missing_urls_.size() >= kMaxRemoteImages) {
          Fail(path, "more than " + std::to_string(kMaxRemoteImages) + " remote image URLs");
        }
        missing_urls_.emplace_back(url);
      }
      return;
    }
    const FetchedImage& img = it->second;
    if (!img.error.empty()) Fail(path, "could not fetch the image: " + img.error);
    const std::string mime = Lower(img.mime_type.substr(0, img.mime_type.find(';')));
    if (!mime.starts_with("image/")) {
      Fail(path, "the URL did not give an image (" + Quote(img.mime_type) + ")");
    }
    if (!IsBase64(img.base64_data)) Fail(path, "the fetched image is empty");
    out.push_back(Inline(mime, img.base64_data));
  }

  json::array AssistantParts(const json::object& m, const std::string& path) {
    json::array out;
    for (std::string_view t : Texts(m, path)) {
      if (!t.empty()) out.push_back(TextPart(t));
    }
    const json::value* tcs = Get(m, "tool_calls");
    if (tcs == nullptr) return out;
    const std::string tpath = Sub(path, "tool_calls");
    const json::array& calls = AsArray(*tcs, tpath);
    for (size_t k = 0; k < calls.size(); ++k) {
      const std::string cpath = Idx(tpath, k);
      const json::object& call = AsObject(calls[k], cpath);
      if (const auto type = OptString(call, "type", cpath); type && *type != "function") {
        Fail(Sub(cpath, "type"), "unsupported tool call type " + Quote(*type));
      }
      const auto id = OptString(call, "id", cpath);
      if (!id || id->empty()) Fail(Sub(cpath, "id"), "required");
      const std::string fpath = Sub(cpath, "function");
      const json::value* fv = Get(call, "function");
      if (fv == nullptr) Fail(fpath, "required");
      const json::object& fn = AsObject(*fv, fpath);
      const auto name = OptString(fn, "name", fpath);
      if (!name || name->empty()) Fail(Sub(fpath, "name"), "required");
      json::object args;
      if (const auto arguments = OptString(fn, "arguments", fpath)) {
        if (!arguments->empty()) {
          std::string err;
          std::optional<json::value> parsed = ParseJson(*arguments, &err);
          if (!parsed) Fail(Sub(fpath, "arguments"), "not valid JSON: " + err);
          if (!parsed->is_object()) {
            Fail(Sub(fpath, "arguments"),
                 "expected a JSON object, got " + std::string(KindName(*parsed)));
          }
          args = std::move(parsed->get_object());
        }
      }
      json::object fc;
      fc["name"] = *name;
      fc["args"] = std::move(args);
      json::object part;
      part["functionCall"] = std::move(fc);
      if (std::optional<std::string> sig = Signature(call, *id)) {
        part["thoughtSignature"] = *sig;
      }
      out.push_back(std::move(part));
      calls_[std::string(*id)] = CallInfo{std::string(*name), next_ordinal_++};
    }
    return out;
  }

  std::optional<std::string> Signature(const json::object& call, std::string_view id) const {
    if (const json::value* ec = Get(call, "extra_content"); ec != nullptr && ec->is_object()) {
      if (const json::value* g = Get(ec->get_object(), "google"); g != nullptr && g->is_object()) {
        const json::value* s = Get(g->get_object(), "thought_signature");
        if (s != nullptr && s->is_string() && !s->get_string().empty()) {
          return std::string(s->get_string());
        }
      }
    }
    if (opts_.signature_lookup) {
      if (std::optional<std::string> s = opts_.signature_lookup(id); s && !s->empty()) return s;
    }
    if (!opts_.fallback_thought_signature.empty()) return opts_.fallback_thought_signature;
    return std::nullopt;
  }

  void ToolResults(const json::array& messages, size_t begin, size_t end) {
    struct Result {
      size_t ordinal;
      json::object part;
    };
    std::vector<Result> results;
    for (size_t i = begin; i < end; ++i) {
      const std::string path = Idx("messages", i);
      const json::object& m = messages[i].get_object();
      const auto id = OptString(m, "tool_call_id", path);
      if (!id) Fail(Sub(path, "tool_call_id"), "required");
      const auto it = calls_.find(std::string(*id));
      if (it == calls_.end()) {
        Fail(Sub(path, "tool_call_id"), "no earlier assistant tool call has the id " + Quote(*id));
      }
      std::string text;
      for (std::string_view t : Texts(m, path)) text += t;
      json::object response;
      std::string ignored;
      std::optional<json::value> parsed = ParseJson(text, &ignored);
      if (parsed && parsed->is_object()) {
        response = std::move(parsed->get_object());
      } else {
        response["result"] = text;
      }
      json::object fr;
      fr["name"] = it->second.name;
      fr["response"] = std::move(response);
      json::object part;
      part["functionResponse"] = std::move(fr);
      results.push_back(Result{it->second.ordinal, std::move(part)});
    }
    std::stable_sort(results.begin(), results.end(),
                     [](const Result& a, const Result& b) { return a.ordinal < b.ordinal; });
    json::array parts;
    for (Result& r : results) parts.push_back(std::move(r.part));
    Add("user", std::move(parts));
  }

  void Tools(const json::object& in, json::object& body) {
    json::array decls;
    bool search = false;
    if (const json::value* tv = Get(in, "tools")) {
      const json::array& tools = AsArray(*tv, "tools");
      for (size_t i = 0; i < tools.size(); ++i) {
        const std::string path = Idx("tools", i);
        const json::object& t = AsObject(tools[i], path);
        if (const auto type = OptString(t, "type", path); type && *type != "function") {
          Fail(Sub(path, "type"),
               "unsupported tool type " + Quote(*type) + " (only function tools are supported)");
        }
        const std::string fpath = Sub(path, "function");
        const json::value* fv = Get(t, "function");
        if (fv == nullptr) Fail(fpath, "required");
        const json::object& fn = AsObject(*fv, fpath);
        const auto name = OptString(fn, "name", fpath);
        if (!name || name->empty()) Fail(Sub(fpath, "name"), "required");
        if (IsSearchToolName(*name)) {
          search = true;
          continue;
        }
        json::object decl;
        decl["name"] = *name;
        if (const auto d = OptString(fn, "description", fpath)) decl["description"] = *d;
        // Full JSON Schema, as the client wrote it: Gemini's `parameters` takes only an
        // OpenAPI subset and answers 400 to additionalProperties, $ref, oneOf, const...
        if (const json::value* params = Get(fn, "parameters")) {
          AsObject(*params, Sub(fpath, "parameters"));
          decl["parametersJsonSchema"] = *params;
        }
        decls.push_back(std::move(decl));
      }
    }
    if (const json::value* ws = Get(in, "web_search_options")) {
      AsObject(*ws, "web_search_options");
      search = true;
    }
    json::array gemini_tools;
    if (!decls.empty()) {
      json::object tool;
      tool["functionDeclarations"] = std::move(decls);
      gemini_tools.push_back(std::move(tool));
    }
    if (search) {
      json::object tool;
      tool["googleSearch"] = json::object();
      gemini_tools.push_back(std::move(tool));
    }
    if (!gemini_tools.empty()) body["tools"] = std::move(gemini_tools);
    if (const json::value* tc = Get(in, "tool_choice")) {
      json::object fcc;
      if (tc->is_string()) {
        const std::string_view s = tc->get_string();
        if (s == "none") {
          fcc["mode"] = "NONE";
        } else if (s == "auto") {
          fcc["mode"] = "AUTO";
        } else if (s == "required") {
          fcc["mode"] = "ANY";
        } else {
          Fail("tool_choice", "expected none, auto, required or a function, got " + Quote(s));
        }
      } else if (tc->is_object()) {
        const json::object& o = tc->get_object();
        if (const auto type = OptString(o, "type", "tool_choice"); type && *type != "function") {
          Fail("tool_choice.type", "unsupported tool_choice type " + Quote(*type));
        }
        const json::value* fv = Get(o, "function");
        if (fv == nullptr) Fail("tool_choice.function", "required");
        const json::object& fn = AsObject(*fv, "tool_choice.function");
        const auto name = OptString(fn, "name", "tool_choice.function");
        if (!name || name->empty()) Fail("tool_choice.function.name", "required");
        // Gemini cannot be made to search; naming a function it was never declared is a
        // 400. The googleSearch tool is there and the model decides.
        if (IsSearchToolName(*name)) return;
        fcc["mode"] = "ANY";
        fcc["allowedFunctionNames"] = json::array{json::value(*name)};
      } else {
        WrongType("tool_choice", "a string or an object", *tc);
      }
      json::object cfg;
      cfg["functionCallingConfig"] = std::move(fcc);
      body["toolConfig"] = std::move(cfg);
    }
  }

  json::object GenerationConfig(const json::object& in, ChatRequest& out) {
    json::object gen;
    std::optional<int64_t> max_tokens = OptInt(in, "max_completion_tokens", 1, INT32_MAX);
    if (!max_tokens) max_tokens = OptInt(in, "max_tokens", 1, INT32_MAX);
    if (max_tokens) gen["maxOutputTokens"] = *max_tokens;

    if (const json::value* stop = Get(in, "stop")) {
      json::array seqs;
      if (stop->is_string()) {
        seqs.push_back(*stop);
      } else if (stop->is_array()) {
        const json::array& a = stop->get_array();
        if (a.size() > 5) Fail("stop", "at most 5 stop sequences, got " + std::to_string(a.size()));
        for (size_t i = 0; i < a.size(); ++i) {
          AsString(a[i], Idx("stop", i));
          seqs.push_back(a[i]);
        }
      } else {
        WrongType("stop", "a string or an array of strings", *stop);
      }
      if (!seqs.empty()) gen["stopSequences"] = std::move(seqs);
    }

    if (const auto n = OptInt(in, "n", 1, 8)) {
      gen["candidateCount"] = *n;
      out.candidate_count = static_cast<int>(*n);
    }
    CopyNumber(in, "temperature", gen, "temperature");
    CopyNumber(in, "top_p", gen, "topP");
    if (const auto seed = OptInt(in, "seed", INT64_MIN, INT64_MAX)) gen["seed"] = *seed;
    CopyNumber(in, "presence_penalty", gen, "presencePenalty");
    CopyNumber(in, "frequency_penalty", gen, "frequencyPenalty");

    const bool logprobs = OptBool(in, "logprobs").value_or(false);
    const std::optional<int64_t> top = OptInt(in, "top_logprobs", 0, 20);
    if (top && !logprobs) Fail("top_logprobs", "requires logprobs: true");
    if (logprobs) gen["responseLogprobs"] = true;
    if (top) gen["logprobs"] = *top;

    json::object thinking;
    bool thinking_off = false;
    if (const auto effort = OptString(in, "reasoning_effort", "")) {
      int64_t budget;
      if (*effort == "none") {
        budget = 0;
        thinking_off = true;
      } else if (*effort == "minimal") {
        budget = 512;
      } else if (*effort == "low") {
        budget = 1024;
      } else if (*effort == "medium") {
        budget = 8192;
      } else if (*effort == "high") {
        budget = 24576;
      } else {
        Fail("reasoning_effort",
             "expected none, minimal, low, medium or high, got " + Quote(*effort));
      }
      thinking["thinkingBudget"] = budget;
    }
    if (opts_.include_thoughts && !thinking_off) thinking["includeThoughts"] = true;
    ExtraThinking(in, thinking);
    if (!thinking.empty()) gen["thinkingConfig"] = std::move(thinking);

    if (const json::value* rf = Get(in, "response_format")) {
      const json::object& o = AsObject(*rf, "response_format");
      const auto type = OptString(o, "type", "response_format");
      if (!type) Fail("response_format.type", "required");
      if (*type == "json_object") {
        gen["responseMimeType"] = "application/json";
      } else if (*type == "json_schema") {
        gen["responseMimeType"] = "application/json";
        if (const json::value* js = Get(o, "json_schema")) {
          const json::object& jo = AsObject(*js, "response_format.json_schema");
          if (const json::value* schema = Get(jo, "schema")) {
            AsObject(*schema, "response_format.json_schema.schema");
            gen["responseJsonSchema"] = *schema;
          }
        }
      } else if (*type != "text") {
        Fail("response_format.type",
             "expected text, json_object or json_schema, got " + Quote(*type));
      }
    }
    return gen;
  }

  // extra_body.google.cached_content and .safety_settings → cachedContent and
  // safetySettings, type-checked here and checked further by Gemini.
  static void ExtraGoogleFields(const json::object& in, json::object& body) {
    if (const json::value* cc = ExtraGoogle(in, "cached_content", "cachedContent")) {
      const std::string_view name = AsString(*cc, "extra_body.google.cached_content");
      if (name.empty()) Fail("extra_body.google.cached_content", "must not be empty");
      body["cachedContent"] = name;
    }
    if (const json::value* ss = ExtraGoogle(in, "safety_settings", "safetySettings")) {
      const std::string path = "extra_body.google.safety_settings";
      const json::array& a = AsArray(*ss, path);
      for (size_t i = 0; i < a.size(); ++i) AsObject(a[i], Idx(path, i));
      if (!a.empty()) body["safetySettings"] = a;
    }
  }

  // extra_body.google.thinking_config, as Google's OpenAI layer reads it.
  static void ExtraThinking(const json::object& in, json::object& thinking) {
    const json::value* tc = ExtraGoogle(in, "thinking_config", "thinkingConfig");
    if (tc == nullptr) return;
    const std::string path = "extra_body.google.thinking_config";
    const json::object& o = AsObject(*tc, path);
    const auto field = [&o](std::string_view snake, std::string_view camel) {
      const json::value* v = Get(o, snake);
      return v != nullptr ? v : Get(o, camel);
    };
    if (const json::value* b = field("thinking_budget", "thinkingBudget")) {
      const std::optional<int64_t> i = AsInt(*b);
      if (!i) WrongType(Sub(path, "thinking_budget"), "an integer", *b);
      thinking["thinkingBudget"] = *i;
    }
    if (const json::value* level = field("thinking_level", "thinkingLevel")) {
      thinking["thinkingLevel"] = AsString(*level, Sub(path, "thinking_level"));
    }
    if (const json::value* it = field("include_thoughts", "includeThoughts")) {
      if (!it->is_bool()) WrongType(Sub(path, "include_thoughts"), "a boolean", *it);
      thinking["includeThoughts"] = it->get_bool();
    }
  }

  const ChatOptions& opts_;
  json::array contents_;
  json::array system_parts_;
  std::vector<std::string> missing_urls_;
  std::unordered_map<std::string, CallInfo> calls_;
  size_t next_ordinal_ = 0;
};

}  // namespace

ChatRequestResult TranslateChatRequest(std::string_view openai_json, const ChatOptions& options) {
  try {
    RequestTranslator t(options);
    return t.Run(openai_json);
  } catch (const Reject& r) {
    if (r.path.empty()) return TranslateError{400, r.what, ""};
    return TranslateError{400, r.path + ": " + r.what, r.path};
  } catch (const std::exception& e) {
    return TranslateError{400, std::string("request could not be translated: ") + e.what(), ""};
  } catch (...) {
    return TranslateError{400, "request could not be translated", ""};
  }
}

}  // namespace gkm
