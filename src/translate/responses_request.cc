#include "translate/responses_request.h"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/names.h"
#include "translate/chat_request.h"
#include "translate/field_reader.h"
#include "translate/json_util.h"
#include "translate/thought_signature.h"

namespace gkm {
namespace {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

constexpr std::string_view kSignaturePrefix = "gs1.";

// The media type of a file by its name's extension, for input_file data without a data:
// URL; empty when unknown.
std::string MimeOfFilename(std::string_view name) {
  const std::string n = Lower(name);
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".pdf", "application/pdf"}, {".txt", "text/plain"}, {".md", "text/markdown"},
      {".csv", "text/csv"},        {".html", "text/html"}, {".json", "application/json"},
      {".png", "image/png"},       {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
      {".webp", "image/webp"},     {".gif", "image/gif"},  {".xml", "text/xml"}};
  for (const auto& [ext, mime] : kTypes) {
    if (n.ends_with(ext)) return std::string(mime);
  }
  return {};
}

// The signature a reasoning item's encrypted_content carries, if it is ours.
std::optional<std::string> SignatureOfEncrypted(std::string_view enc) {
  if (!enc.starts_with(kSignaturePrefix)) return std::nullopt;
  std::optional<std::string> sig = Base64UrlDecode(enc.substr(kSignaturePrefix.size()));
  if (!sig || sig->empty()) return std::nullopt;
  return sig;
}

bool IsGemini3(std::string_view model) { return model.starts_with("gemini-3"); }

// A Gemini part as text: its members inside the braces, and the thoughtSignature that
// follows them (a model turn's parts are signed when the turn is complete).
struct Part {
  enum Kind { kText, kCall, kOther };
  Kind kind = kOther;
  std::string body;
  bool has_signature = false;
  std::string signature;

  void Sign(std::string_view sig) {
    has_signature = true;
    signature = sig;
  }
  // As the part's object would serialize: {<body>[,"thoughtSignature":<sig>]}.
  void Write(std::string& out) const {
    out += '{';
    out += body;
    if (has_signature) {
      out += ",\"thoughtSignature\":";
      AppendJsonString(out, signature);
    }
    out += '}';
  }
};

Part TextPartOf(std::string_view text) {
  Part p;
  p.kind = Part::kText;
  p.body.reserve(text.size() + 10);
  p.body = "\"text\":";
  AppendJsonString(p.body, text);
  return p;
}

// Inline data; "image/jpg", which clients send, is Gemini's "image/jpeg" (as Inline).
Part InlinePart(std::string_view mime, std::string_view data) {
  Part p;
  p.body.reserve(data.size() + mime.size() + 32);
  p.body = "\"inlineData\":{\"mimeType\":";
  AppendJsonString(p.body, mime == "image/jpg" ? std::string_view("image/jpeg") : mime);
  p.body += ",\"data\":";
  AppendJsonString(p.body, data);
  p.body += '}';
  return p;
}

// The request's top-level members the translator reads or echoes, found in one pass over
// them (a parsed object holds each key once) instead of a lookup by name for each.
class Members {
 public:
  enum Name {
    kModel,
    kConversation,
    kPrompt,
    kBackground,
    kStream,
    kStore,
    kPromptCacheKey,
    kInclude,
    kPreviousResponseId,
    kInput,
    kMaxOutputTokens,
    kTopP,
    kInstructions,
    kTools,
    kToolChoice,
    kReasoning,
    kText,
    kTemperature,
    kMetadata,
    kParallelToolCalls,
    kUser,
    kTruncation,
    kServiceTier,
    kCount
  };
  static constexpr std::string_view kNames[kCount] = {"model",
                                                      "conversation",
                                                      "prompt",
                                                      "background",
                                                      "stream",
                                                      "store",
                                                      "prompt_cache_key",
                                                      "include",
                                                      "previous_response_id",
                                                      "input",
                                                      "max_output_tokens",
                                                      "top_p",
                                                      "instructions",
                                                      "tools",
                                                      "tool_choice",
                                                      "reasoning",
                                                      "text",
                                                      "temperature",
                                                      "metadata",
                                                      "parallel_tool_calls",
                                                      "user",
                                                      "truncation",
                                                      "service_tier"};

  explicit Members(const json::object& in) {
    for (const json::key_value_pair& kv : in) {
      const std::string_view key = kv.key();
      for (size_t i = 0; i < kCount; ++i) {
        if (kNames[i] == key) {
          values_[i] = &kv.value();
          break;
        }
      }
    }
  }

  // The member as it is (null included), or nullptr when absent.
  const json::value* Raw(Name n) const { return values_[n]; }
  // As Get: a member that is absent or null reads as absent.
  const json::value* Get(Name n) const {
    const json::value* v = values_[n];
    return v == nullptr || v->is_null() ? nullptr : v;
  }
  std::optional<bool> OptBool(Name n) const {
    const json::value* v = Get(n);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) WrongType(kNames[n], "a boolean", *v);
    return v->get_bool();
  }

 private:
  const json::value* values_[kCount] = {};
};

struct CallInfo {
  std::string name;
  size_t ordinal;
};

class Translator {
 public:
  explicit Translator(const ResponsesOptions& options)
      : opts_(options), sp_(scratch_.storage()), decls_(sp_) {}

  ResponsesRequestResult Run(std::string_view text) {
    std::string parse_error;
    std::optional<json::value> root = ParseJson(text, &parse_error, sp_);
    if (!root) return TranslateError{400, "request body is not valid JSON: " + parse_error, ""};
    if (!root->is_object()) {
      return TranslateError{
          400, "request body must be a JSON object, got " + std::string(KindName(*root)), ""};
    }
    const Members in(root->get_object());
    ResponsesRequest out;

    const json::value* model = in.Get(Members::kModel);
    if (model == nullptr) Fail("model", "required");
    std::string_view name = AsString(*model, "model");
    if (name.starts_with("models/")) name.remove_prefix(7);
    if (std::string problem = ModelNameProblem(name); !problem.empty()) {
      Fail("model", problem, 404);
    }
    out.client_model = std::string(name);
    ModelChoice choice = ResolveModel(opts_.aliases, name);
    if (!choice.ok()) return TranslateError{404, std::move(choice.refusal), "model"};
    out.model = std::move(choice.model);

    for (const Members::Name unsupported : {Members::kConversation, Members::kPrompt}) {
      if (in.Get(unsupported) != nullptr) {
        Fail(std::string(Members::kNames[unsupported]), "not supported by this proxy");
      }
    }
    if (const auto bg = in.OptBool(Members::kBackground); bg && *bg) {
      Fail("background", "background responses are not supported by this proxy");
    }
    if (const auto s = in.OptBool(Members::kStream)) out.stream = *s;
    if (const auto s = in.OptBool(Members::kStore)) out.store = *s;
    if (const json::value* k = in.Get(Members::kPromptCacheKey)) {
      out.session = AsString(*k, "prompt_cache_key");
    }
    if (const json::value* inc = in.Get(Members::kInclude)) {
      const Path root("include");
      const json::array& a = AsArray(*inc, root);
      for (size_t i = 0; i < a.size(); ++i) {
        if (AsString(a[i], Path(root, i)) == "reasoning.encrypted_content") {
          out.include_encrypted = true;
        }
      }
    }
    if (const json::value* prev = in.Get(Members::kPreviousResponseId)) {
      out.previous_response_id = std::string(AsString(*prev, "previous_response_id"));
      if (!opts_.previous_items) return PreviousResponseNeeded{out.previous_response_id};
    }

    Tools(in, out);

    // The conversation's items, pointing into the stored ones and the client's input (not
    // copied: they are only read, and serialized for the store).
    std::vector<const json::value*> items;
    json::value previous(sp_);  // moved into without a copy
    if (opts_.previous_items) {
      std::string err;
      std::optional<json::value> prev = ParseJson(*opts_.previous_items, &err, sp_);
      if (!prev || !prev->is_array())
        Fail("previous_response_id", "the stored response is unreadable");
      previous = std::move(*prev);
      for (const json::value& v : previous.get_array()) items.push_back(&v);
    }
    const size_t first_own = items.size();
    if (const json::value* iv = in.Get(Members::kInstructions)) {
      const std::string_view ins = AsString(*iv, "instructions");
      if (!ins.empty()) System(TextPartOf(ins));
    }
    const json::value* input = in.Get(Members::kInput);
    if (input == nullptr) Fail("input", "required");
    json::value string_input(sp_);
    if (input->is_string()) {
      json::object part(sp_);
      part["type"] = "input_text";
      part["text"] = input->get_string();
      json::object msg(sp_);
      msg["type"] = "message";
      msg["role"] = "user";
      msg["content"] = json::array({std::move(part)}, sp_);
      string_input = std::move(msg);
      items.push_back(&string_input);
    } else {
      const json::array& a = AsArray(*input, "input");
      if (items.size() + a.size() > kMaxItems) {
        Fail("input", "more than " + std::to_string(kMaxItems) + " items with the stored ones");
      }
      for (const json::value& v : a) items.push_back(&v);
    }
    // Items an item_reference may name: those of the conversation with an id.
    for (const json::value* v : items) {
      if (!v->is_object()) continue;
      const json::value* id = v->get_object().if_contains("id");
      if (id != nullptr && id->is_string()) by_id_.emplace(std::string(id->get_string()), v);
    }
    // Paths name the client's own items; stored ones are named through previous_response_id.
    const Path stored("previous_response_id");
    const Path own("input");
    for (size_t i = 0; i < items.size(); ++i) {
      if (i < first_own) {
        Item(*items[i], stored);
      } else if (input->is_string()) {
        Item(*items[i], own);
      } else {
        Item(*items[i], Path(own, i - first_own));
      }
    }
    FlushModel();
    FlushOutputs();
    if (contents_.empty()) Fail("input", "no message, call or call output with content");

    // The body as the object {contents, systemInstruction, tools, toolConfig,
    // generationConfig} would serialize: contents and systemInstruction written as text as
    // they were gathered, the rest (rarely there) built and serialized member by member.
    json::object rest(sp_);
    if (!decls_.empty()) {
      json::object tool(sp_);
      tool["functionDeclarations"] = std::move(decls_);
      json::array tools(sp_);
      tools.push_back(std::move(tool));
      rest["tools"] = std::move(tools);
    }
    ToolChoice(in, rest);
    json::object gen = GenerationConfig(in, out.model, sp_);
    if (!gen.empty()) rest["generationConfig"] = std::move(gen);
    out.body.reserve(contents_.size() + system_.size() + 64);
    out.body = "{\"contents\":[";
    out.body += contents_;
    out.body += "]}]";
    if (!system_.empty()) {
      out.body += ",\"systemInstruction\":{\"parts\":[";
      out.body += system_;
      out.body += "]}";
    }
    for (const json::key_value_pair& kv : rest) {
      out.body += ",\"";
      out.body += kv.key();
      out.body += "\":";
      out.body += json::serialize(kv.value());
    }
    out.body += '}';

    // Written as the object of these members would serialize (the names need no escaping),
    // in this order; a null member is echoed as null.
    static constexpr Members::Name kEchoed[] = {Members::kInstructions,
                                                Members::kTools,
                                                Members::kToolChoice,
                                                Members::kReasoning,
                                                Members::kText,
                                                Members::kTemperature,
                                                Members::kTopP,
                                                Members::kMaxOutputTokens,
                                                Members::kMetadata,
                                                Members::kParallelToolCalls,
                                                Members::kPreviousResponseId,
                                                Members::kUser,
                                                Members::kPromptCacheKey,
                                                Members::kTruncation,
                                                Members::kServiceTier};
    out.echo = "{";
    for (const Members::Name name : kEchoed) {
      const json::value* v = in.Raw(name);
      if (v == nullptr) continue;
      out.echo += '"';
      out.echo += Members::kNames[name];
      out.echo += "\":";
      out.echo += json::serialize(*v);
      out.echo += ',';
    }
    out.echo += out.store ? "\"store\":true}" : "\"store\":false}";
    if (out.store) {  // only a kept exchange needs its conversation
      out.items = "[";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out.items += ',';
        out.items += json::serialize(*items[i]);
      }
      out.items += ']';
    }
    return out;
  }

 private:
  // ---- contents -------------------------------------------------------------------

  // Appends a Gemini content of these parts to contents_, merged into the last one when the
  // role is the same (Gemini wants turns to alternate), as AppendContent does.
  void Add(std::string_view role, const std::vector<Part>& parts) {
    if (parts.empty()) return;
    if (contents_.empty() || role != last_role_) {
      if (!contents_.empty()) contents_ += "]},";
      contents_ += "{\"role\":";
      AppendJsonString(contents_, role);
      contents_ += ",\"parts\":[";
      last_role_ = role;
    } else {
      contents_ += ',';
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) contents_ += ',';
      parts[i].Write(contents_);
    }
  }

  void System(const Part& p) {
    if (!system_.empty()) system_ += ',';
    p.Write(system_);
  }

  // The model turn being gathered: its parts, and the signatures its reasoning items carry.
  void FlushModel() {
    if (model_parts_.empty()) {
      turn_signatures_.clear();
      return;
    }
    std::vector<std::string> calls_sigs;
    int first_call = -1;
    int last_text = -1;
    for (size_t i = 0; i < model_parts_.size(); ++i) {
      const Part& p = model_parts_[i];
      if (p.kind == Part::kCall) {
        if (first_call < 0) first_call = static_cast<int>(i);
        if (p.has_signature) calls_sigs.push_back(p.signature);
      } else if (p.kind == Part::kText) {
        last_text = static_cast<int>(i);
      }
    }
    std::optional<std::string> spare;
    for (std::string& s : turn_signatures_) {
      if (std::find(calls_sigs.begin(), calls_sigs.end(), s) == calls_sigs.end()) {
        spare = std::move(s);
        break;
      }
    }
    // Gemini 3 checks the first call of a turn (parallel calls carry one signature, on the
    // first); a turn without calls carries its signature on the last part.
    if (first_call >= 0) {
      Part& first = model_parts_[static_cast<size_t>(first_call)];
      if (!first.has_signature) {
        if (spare) {
          first.Sign(*spare);
          spare.reset();
        } else if (!opts_.fallback_thought_signature.empty()) {
          first.Sign(opts_.fallback_thought_signature);
        }
      }
    }
    if (spare && last_text >= 0) {
      Part& text = model_parts_[static_cast<size_t>(last_text)];
      if (!text.has_signature) text.Sign(*spare);
    }
    Add("model", model_parts_);
    model_parts_.clear();
    turn_signatures_.clear();
  }

  void FlushOutputs() {
    if (outputs_.empty()) return;
    std::stable_sort(outputs_.begin(), outputs_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Part> parts;
    parts.reserve(outputs_.size());
    for (auto& [ordinal, part] : outputs_) parts.push_back(std::move(part));
    outputs_.clear();
    Add("user", parts);
  }

  void ToModel() { FlushOutputs(); }
  void ToUser() { FlushModel(); }

  void Item(const json::value& v, const Path& path) {
    const json::object& item = AsObject(v, path);
    std::string_view type = "message";
    if (const auto t = OptString(item, "type", path)) type = *t;
    if (type == "message") {
      Message(item, path);
    } else if (type == "reasoning") {
      ToModel();
      if (const auto enc = OptString(item, "encrypted_content", path)) {
        if (std::optional<std::string> sig = SignatureOfEncrypted(*enc)) {
          turn_signatures_.push_back(std::move(*sig));
        }
      }
    } else if (type == "function_call" || type == "custom_tool_call") {
      ToModel();
      Call(item, path, type == "custom_tool_call");
    } else if (type == "function_call_output" || type == "custom_tool_call_output") {
      ToUser();
      Output(item, path);
    } else if (type == "web_search_call") {
      // A hosted tool's trace: nothing Gemini can take.
    } else if (type == "item_reference") {
      const std::string_view id = ReqString(item, "id", path);
      const auto it = by_id_.find(id);
      if (it == by_id_.end() || it->second == &v) {
        Fail(Path(path, "id"), "no item of this conversation has the id " + Quote(id));
      }
      const json::value* type_v = it->second->get_object().if_contains("type");
      if (type_v != nullptr && type_v->is_string() && type_v->get_string() == "item_reference") {
        Fail(Path(path, "id"), "names another item_reference");
      }
      Item(*it->second, path);
    } else {
      Fail(Path(path, "type"), "unsupported input item type " + Quote(type));
    }
  }

  void Message(const json::object& m, const Path& path) {
    const std::string_view role = ReqString(m, "role", path);
    const bool system = role == "system" || role == "developer";
    if (!system && role != "user" && role != "assistant") {
      Fail(Path(path, "role"), "unknown role " + Quote(role));
    }
    std::vector<Part> parts = Content(m, path, role == "user");
    if (system) {
      for (const Part& p : parts) {
        if (p.kind != Part::kText) {
          Fail(Path(path, "content"), "system and developer messages may hold only text");
        }
        System(p);
      }
    } else if (role == "assistant") {
      ToModel();
      for (Part& p : parts) model_parts_.push_back(std::move(p));
    } else {
      ToUser();
      FlushOutputs();
      Add("user", parts);
    }
  }

  std::vector<Part> Content(const json::object& m, const Path& path, bool user) {
    std::vector<Part> out;
    const Path cpath(path, "content");
    const json::value* c = Get(m, "content");
    if (c == nullptr) Fail(cpath, "required");
    if (c->is_string()) {
      if (!c->get_string().empty()) out.push_back(TextPartOf(c->get_string()));
      return out;
    }
    const json::array& parts = AsArray(*c, cpath);
    for (size_t j = 0; j < parts.size(); ++j) {
      const Path ppath(cpath, j);
      const json::object& p = AsObject(parts[j], ppath);
      const std::string_view type = ReqString(p, "type", ppath);
      if (type == "input_text" || type == "output_text" || type == "text" ||
          type == "summary_text") {
        const std::string_view t = ReqString(p, "text", ppath);
        if (!t.empty()) out.push_back(TextPartOf(t));
      } else if (type == "refusal") {
        const std::string_view t = ReqString(p, "refusal", ppath);
        if (!t.empty()) out.push_back(TextPartOf(t));
      } else if (user && type == "input_image") {
        Image(p, ppath, out);
      } else if (user && type == "input_file") {
        File(p, ppath, out);
      } else {
        Fail(Path(ppath, "type"), "unsupported content part type " + Quote(type) +
                                      (user ? std::string() : std::string(" in this message")));
      }
    }
    return out;
  }

  static void Image(const json::object& p, const Path& path, std::vector<Part>& out) {
    if (Get(p, "file_id") != nullptr && Get(p, "image_url") == nullptr) {
      Fail(Path(path, "file_id"), "file ids are not supported; send the image as a data: URL");
    }
    const json::value* u = Get(p, "image_url");
    if (u == nullptr) Fail(Path(path, "image_url"), "required");
    const Path upath(path, "image_url");
    std::string_view url;
    if (u->is_object()) {  // tolerated: the chat shape {"url": ...}
      url = ReqString(u->get_object(), "url", upath);
    } else {
      url = AsString(*u, upath);
    }
    if (!StartsWithNoCase(url, "data:")) {
      Fail(upath, "remote image URLs are not fetched by this proxy; send a base64 data: URL");
    }
    const DataUrlParts d = SplitDataUrl(url, upath);
    out.push_back(InlinePart(d.mime, d.data));
  }

  static void File(const json::object& p, const Path& path, std::vector<Part>& out) {
    const auto data = OptString(p, "file_data", path);
    if (!data) {
      if (Get(p, "file_id") != nullptr) Fail(Path(path, "file_id"), "file ids are not supported");
      if (Get(p, "file_url") != nullptr) {
        Fail(Path(path, "file_url"), "remote files are not fetched by this proxy");
      }
      Fail(Path(path, "file_data"), "required");
    }
    const Path fpath(path, "file_data");
    if (StartsWithNoCase(*data, "data:")) {
      const DataUrlParts d = SplitDataUrl(*data, fpath);
      out.push_back(InlinePart(d.mime, d.data));
      return;
    }
    if (!IsBase64(*data)) Fail(fpath, "expected a base64 data: URL or base64 data");
    std::string mime;
    if (const auto fname = OptString(p, "filename", path)) mime = MimeOfFilename(*fname);
    if (mime.empty()) Fail(Path(path, "filename"), "the file's type is unknown; send a data: URL");
    out.push_back(InlinePart(mime, *data));
  }

  void Call(const json::object& item, const Path& path, bool custom) {
    const std::string_view call_id = ReqString(item, "call_id", path);
    if (call_id.empty()) Fail(Path(path, "call_id"), "must not be empty");
    const std::string_view name = ReqString(item, "name", path);
    if (name.empty()) Fail(Path(path, "name"), "must not be empty");
    Part part;
    part.kind = Part::kCall;
    part.body = "\"functionCall\":{\"name\":";
    AppendJsonString(part.body, name);
    part.body += ",\"args\":";
    if (custom) {
      part.body += "{\"input\":";
      AppendJsonString(part.body, ReqString(item, "input", path));
      part.body += '}';
    } else if (const auto arguments = OptString(item, "arguments", path);
               arguments && !arguments->empty()) {
      std::string err;
      std::optional<json::value> parsed = ParseJson(*arguments, &err, sp_);
      if (!parsed) Fail(Path(path, "arguments"), "not valid JSON: " + err);
      if (!parsed->is_object()) {
        Fail(Path(path, "arguments"),
             "expected a JSON object, got " + std::string(KindName(*parsed)));
      }
      part.body += json::serialize(*parsed);
    } else {
      part.body += "{}";
    }
    part.body += '}';
    if (IdParts ids = SplitSignatureId(call_id); ids.signature) part.Sign(*ids.signature);
    model_parts_.push_back(std::move(part));
    calls_[std::string(call_id)] = CallInfo{std::string(name), next_ordinal_++};
  }

  void Output(const json::object& item, const Path& path) {
    const std::string_view call_id = ReqString(item, "call_id", path);
    const auto it = calls_.find(call_id);
    if (it == calls_.end()) {
      Fail(Path(path, "call_id"), "no earlier function_call has the call_id " + Quote(call_id));
    }
    const Path opath(path, "output");
    const json::value* o = Get(item, "output");
    std::string text;
    std::vector<Part> media;
    if (o == nullptr) {
      // An output without a body: an empty result.
    } else if (o->is_string()) {
      text = o->get_string();
    } else {
      const json::array& parts = AsArray(*o, opath);
      for (size_t j = 0; j < parts.size(); ++j) {
        const Path ppath(opath, j);
        const json::object& p = AsObject(parts[j], ppath);
        const std::string_view type = ReqString(p, "type", ppath);
        if (type == "input_text" || type == "output_text" || type == "text") {
          if (!text.empty()) text += "\n";
          text += ReqString(p, "text", ppath);
        } else if (type == "input_image") {
          Image(p, ppath, media);
        } else if (type == "input_file") {
          File(p, ppath, media);
        } else {
          Fail(Path(ppath, "type"), "unsupported output part type " + Quote(type));
        }
      }
    }
    Part part;
    part.body = "\"functionResponse\":{\"name\":";
    AppendJsonString(part.body, it->second.name);
    part.body += ",\"response\":{\"output\":";
    AppendJsonString(part.body, text);
    part.body += '}';
    if (!media.empty()) {
      part.body += ",\"parts\":[";
      for (size_t i = 0; i < media.size(); ++i) {
        if (i > 0) part.body += ',';
        media[i].Write(part.body);
      }
      part.body += ']';
    }
    part.body += '}';
    outputs_.emplace_back(it->second.ordinal, std::move(part));
  }

  // ---- tools ----------------------------------------------------------------------

  void Tools(const Members& in, ResponsesRequest& out) {
    const json::value* tv = in.Get(Members::kTools);
    if (tv == nullptr) return;
    const Path root("tools");
    const json::array& tools = AsArray(*tv, root);
    for (size_t i = 0; i < tools.size(); ++i) {
      const Path path(root, i);
      const json::object& t = AsObject(tools[i], path);
      const std::string_view type = ReqString(t, "type", path);
      if (type != "function" && type != "custom") continue;  // hosted tools: dropped
      const std::string_view name = ReqString(t, "name", path);
      if (name.empty()) Fail(Path(path, "name"), "must not be empty");
      json::object decl(sp_);
      decl["name"] = name;
      std::string description(OptString(t, "description", path).value_or(""));
      if (type == "function") {
        if (const json::value* params = Get(t, "parameters")) {
          AsObject(*params, Path(path, "parameters"));
          decl["parametersJsonSchema"] = *params;
        }
      } else {
        if (const json::value* fv = Get(t, "format")) {
          const Path fpath(path, "format");
          const json::object& f = AsObject(*fv, fpath);
          if (OptString(f, "type", fpath).value_or("text") == "grammar") {
            const std::string_view syntax = OptString(f, "syntax", fpath).value_or("");
            const std::string_view def = OptString(f, "definition", fpath).value_or("");
            if (!def.empty()) {
              if (!description.empty()) description += "\n\n";
              description += "The input must match this ";
              description += syntax.empty() ? std::string_view("grammar") : syntax;
              description += " grammar:\n";
              description += def;
            }
          }
        }
        json::object input(sp_);
        input["type"] = "string";
        json::object props(sp_);
        props["input"] = std::move(input);
        json::object schema(sp_);
        schema["type"] = "object";
        schema["properties"] = std::move(props);
        decl["parametersJsonSchema"] = std::move(schema);
        out.custom_tools.insert(std::string(name));
      }
      if (!description.empty()) decl["description"] = description;
      declared_.insert(std::string(name));
      decls_.push_back(std::move(decl));
    }
  }

  void ToolChoice(const Members& in, json::object& body) {
    const json::value* tc = in.Get(Members::kToolChoice);
    if (tc == nullptr) return;
    json::object fcc(sp_);
    if (tc->is_string()) {
      const std::string_view s = tc->get_string();
      if (s == "none") {
        fcc["mode"] = "NONE";
      } else if (s == "auto") {
        fcc["mode"] = "AUTO";
      } else if (s == "required") {
        fcc["mode"] = "ANY";
      } else {
        Fail("tool_choice", "expected none, auto, required or an object, got " + Quote(s));
      }
    } else if (tc->is_object()) {
      const json::object& o = tc->get_object();
      const std::string_view type = ReqString(o, "type", "tool_choice");
      if (type == "function" || type == "custom") {
        const std::string_view name = ReqString(o, "name", "tool_choice");
        if (!declared_.contains(name)) {
          Fail("tool_choice.name", "names no tool of the request: " + Quote(name));
        }
        fcc["mode"] = "ANY";
        json::array names(sp_);
        names.push_back(json::value(name, sp_));
        fcc["allowedFunctionNames"] = std::move(names);
      } else if (type == "allowed_tools") {
        const std::string_view mode = OptString(o, "mode", "tool_choice").value_or("auto");
        if (mode != "auto" && mode != "required") {
          Fail("tool_choice.mode", "expected auto or required, got " + Quote(mode));
        }
        json::array names(sp_);
        if (const json::value* tv = Get(o, "tools")) {
          const Path root("tool_choice.tools");
          const json::array& a = AsArray(*tv, root);
          for (size_t i = 0; i < a.size(); ++i) {
            const Path path(root, i);
            const json::object& t = AsObject(a[i], path);
            if (const auto n = OptString(t, "name", path)) {
              if (declared_.contains(*n)) names.push_back(json::value(*n, sp_));
            }
          }
        }
        if (names.empty()) return;  // only hosted tools allowed: nothing to constrain
        fcc["mode"] = mode == "required" ? "ANY" : "VALIDATED";
        fcc["allowedFunctionNames"] = std::move(names);
      } else {
        return;  // a hosted tool (web_search, file_search, ...): dropped with the tool
      }
    } else {
      WrongType("tool_choice", "a string or an object", *tc);
    }
    if (decls_.empty() && body.if_contains("tools") == nullptr &&
        fcc["mode"].get_string() != "NONE") {
      return;  // no function tools left to choose among
    }
    json::object cfg(sp_);
    cfg["functionCallingConfig"] = std::move(fcc);
    body["toolConfig"] = std::move(cfg);
  }

  // ---- generationConfig ------------------------------------------------------------

  static void CopyNumber(const Members& in, Members::Name name, json::object& gen,
                         std::string_view gemini_key) {
    const std::string_view key = Members::kNames[name];
    const json::value* v = in.Get(name);
    if (v == nullptr) return;
    if (!AsDouble(*v)) WrongType(std::string(key), "a number", *v);
    gen[gemini_key] = *v;
  }

  static json::object GenerationConfig(const Members& in, std::string_view model,
                                       const json::storage_ptr& sp) {
    json::object gen(sp);
    if (const json::value* m = in.Get(Members::kMaxOutputTokens)) {
      const std::optional<int64_t> i = AsInt(*m);
      if (!i) WrongType("max_output_tokens", "an integer", *m);
      if (*i < 1 || *i > INT32_MAX) Fail("max_output_tokens", "must be at least 1");
      gen["maxOutputTokens"] = *i;
    }
    CopyNumber(in, Members::kTemperature, gen, "temperature");
    CopyNumber(in, Members::kTopP, gen, "topP");

    if (const json::value* rv = in.Get(Members::kReasoning)) {
      const json::object& r = AsObject(*rv, "reasoning");
      json::object thinking(sp);
      bool off = false;
      if (const auto effort = OptString(r, "effort", "reasoning")) {
        static const std::pair<std::string_view, int64_t> kBudgets[] = {
            {"none", 0},      {"minimal", 512}, {"low", 1024},
            {"medium", 8192}, {"high", 24576},  {"xhigh", 24576}};
        const auto* it = std::find_if(std::begin(kBudgets), std::end(kBudgets),
                                      [&](const auto& b) { return b.first == *effort; });
        if (it == std::end(kBudgets)) {
          Fail("reasoning.effort",
               "expected none, minimal, low, medium, high or xhigh, got " + Quote(*effort));
        }
        off = it->second == 0;
        if (IsGemini3(model)) {
          thinking["thinkingLevel"] = it->second <= 1024 ? "low" : "high";
        } else {
          thinking["thinkingBudget"] = it->second;
        }
      }
      std::optional<std::string_view> summary = OptString(r, "summary", "reasoning");
      if (!summary) summary = OptString(r, "generate_summary", "reasoning");
      if (summary) {
        if (*summary != "auto" && *summary != "concise" && *summary != "detailed") {
          Fail("reasoning.summary", "expected auto, concise or detailed, got " + Quote(*summary));
        }
        if (!off) thinking["includeThoughts"] = true;
      }
      if (!thinking.empty()) gen["thinkingConfig"] = std::move(thinking);
    }

    if (const json::value* tv = in.Get(Members::kText)) {
      const json::object& t = AsObject(*tv, "text");
      if (const json::value* fv = Get(t, "format")) {
        const json::object& f = AsObject(*fv, "text.format");
        const std::string_view type = ReqString(f, "type", "text.format");
        if (type == "json_object") {
          gen["responseMimeType"] = "application/json";
        } else if (type == "json_schema") {
          gen["responseMimeType"] = "application/json";
          if (const json::value* schema = Get(f, "schema")) {
            AsObject(*schema, "text.format.schema");
            gen["responseJsonSchema"] = *schema;
          }
        } else if (type != "text") {
          Fail("text.format.type", "expected text, json_object or json_schema, got " + Quote(type));
        }
      }
    }
    return gen;
  }

  const ResponsesOptions& opts_;
  // The parsed request and the Gemini body built from it live here: parts move into the
  // arrays without copies, and nothing is freed node by node.
  ScratchJson scratch_;
  json::storage_ptr sp_;
  std::string contents_;   // the contents array's text so far, its last content left open
  std::string last_role_;  // that content's role
  std::string system_;     // systemInstruction's parts, as text joined by commas
  std::vector<Part> model_parts_;
  std::vector<std::string> turn_signatures_;
  std::vector<std::pair<size_t, Part>> outputs_;
  std::map<std::string, CallInfo, std::less<>> calls_;
  std::set<std::string, std::less<>> declared_;
  std::map<std::string, const json::value*, std::less<>> by_id_;
  json::array decls_;
  size_t next_ordinal_ = 0;
};

}  // namespace

ResponsesRequestResult TranslateResponsesRequest(std::string_view openai_json,
                                                 const ResponsesOptions& options) {
  try {
    Translator t(options);
    return t.Run(openai_json);
  } catch (const Reject& r) {
    if (r.path.empty()) return TranslateError{r.status, r.what, ""};
    return TranslateError{r.status, r.path + ": " + r.what, r.path};
  } catch (const std::exception& e) {
    return TranslateError{400, std::string("request could not be translated: ") + e.what(), ""};
  } catch (...) {
    return TranslateError{400, "request could not be translated", ""};
  }
}

}  // namespace gkm
