#include "translate/anthropic_request.h"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/names.h"
#include "translate/chat_request.h"  // kMaxItems
#include "translate/field_reader.h"
#include "translate/json_util.h"
#include "translate/thought_signature.h"

namespace gkm {
namespace {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

constexpr std::string_view kBillingHeader = "x-anthropic-billing-header:";

std::string CheckModel(std::string_view model) {
  if (model.starts_with("models/")) model.remove_prefix(7);
  // Not a name Gemini could serve: Anthropic's answer for an unknown model is a 404.
  if (std::string problem = ModelNameProblem(model); !problem.empty()) Fail("model", problem, 404);
  return std::string(model);
}

// Server-side blocks: results of tools Anthropic runs itself, which Gemini never ran.
bool IsServerBlock(std::string_view type) {
  return type == "server_tool_use" || type == "web_search_tool_result" ||
         type == "web_fetch_tool_result" || type == "code_execution_tool_result" ||
         type == "bash_code_execution_tool_result" ||
         type == "text_editor_code_execution_tool_result" || type == "mcp_tool_use" ||
         type == "mcp_tool_result" || type == "container_upload" ||
         type == "tool_search_tool_result";
}

bool HasSignature(const json::object& part) {
  return part.if_contains("thoughtSignature") != nullptr;
}

struct CallInfo {
  std::string name;
  size_t ordinal;  // position among all tool calls of the conversation
};

enum class Mode { kGenerate, kCountTokens };

class Translator {
 public:
  Translator(Mode mode, const ModelAliases* aliases)
      : mode_(mode),
        aliases_(aliases),
        sp_(scratch_.storage()),
        contents_(sp_),
        system_parts_(sp_) {}

  AnthropicRequestResult Run(std::string_view text) {
    std::string parse_error;
    std::optional<json::value> root = ParseJson(text, &parse_error, sp_);
    if (!root) return TranslateError{400, "request body is not valid JSON: " + parse_error, ""};
    if (!root->is_object()) {
      return TranslateError{
          400, "request body must be a JSON object, got " + std::string(KindName(*root)), ""};
    }
    const json::object& in = root->get_object();

    AnthropicRequest out;
    out.client_model = CheckModel(ReqString(in, "model", ""));
    ModelChoice choice = ResolveModel(aliases_, out.client_model);
    if (!choice.ok()) return TranslateError{404, std::move(choice.refusal), "model"};
    out.model = std::move(choice.model);
    model_ = out.model;

    System(in);
    const json::value* messages = Get(in, "messages");
    if (messages == nullptr) Fail("messages", "required");
    Messages(AsArray(*messages, "messages"));
    BypassUnsignedCalls();

    json::object body(sp_);
    body["contents"] = std::move(contents_);
    if (!system_parts_.empty()) {
      json::object sys(sp_);
      sys["parts"] = std::move(system_parts_);
      body["systemInstruction"] = std::move(sys);
    }
    Tools(in, body);

    if (mode_ == Mode::kCountTokens) {
      body.erase("toolConfig");
      body["model"] = "models/" + out.model;
      json::object wrapped(sp_);
      wrapped["generateContentRequest"] = std::move(body);
      out.body = json::serialize(wrapped);
      return out;
    }
    json::object gen = GenerationConfig(in);
    if (!gen.empty()) body["generationConfig"] = std::move(gen);
    if (const json::value* s = Get(in, "stream")) {
      if (!s->is_bool()) WrongType("stream", "a boolean", *s);
      out.stream = s->get_bool();
    }
    if (const json::value* md = Get(in, "metadata")) {
      const json::object& o = AsObject(*md, "metadata");
      if (const json::value* u = Get(o, "user_id")) out.session = AsString(*u, "metadata.user_id");
    }
    out.body = json::serialize(body);
    return out;
  }

 private:
  // ---- system -------------------------------------------------------------------------
  void System(const json::object& in) {
    const json::value* s = Get(in, "system");
    if (s == nullptr) return;
    if (s->is_string()) {
      AddSystemText(s->get_string());
      return;
    }
    if (!s->is_array()) WrongType("system", "a string or an array of text blocks", *s);
    const json::array& blocks = AsArray(*s, "system");
    const Path root("system");
    for (size_t i = 0; i < blocks.size(); ++i) {
      const Path path(root, i);
      const json::object& b = AsObject(blocks[i], path);
      const std::string_view type = ReqString(b, "type", path);
      if (type != "text") Fail(path.Field("type"), "expected a text block, got " + Quote(type));
      AddSystemText(ReqString(b, "text", path));
    }
  }

  void AddSystemText(std::string_view text) {
    if (text.empty() || text.starts_with(kBillingHeader)) return;
    system_parts_.push_back(TextPart(text, sp_));
  }

  // ---- messages -----------------------------------------------------------------------
  void Messages(const json::array& messages) {
    if (messages.empty()) Fail("messages", "must not be empty");
    const Path root("messages");
    for (size_t i = 0; i < messages.size(); ++i) {
      const Path path(root, i);
      const json::object& m = AsObject(messages[i], path);
      const std::string_view role = ReqString(m, "role", path);
      const json::value* c = Get(m, "content");
      const Path cpath(path, "content");
      if (c == nullptr) Fail(cpath, "required");
      if (role == "user" || role == "system") {
        Add("user", UserParts(*c, cpath, role == "user"));
      } else if (role == "assistant") {
        Add("model", AssistantParts(*c, cpath));
      } else {
        Fail(path.Field("role"), "expected user or assistant, got " + Quote(role));
      }
    }
    if (contents_.empty()) Fail("messages", "no message with content (Gemini needs one)");
  }

  // Appends a content, merging it into the previous one when the role is the same.
  void Add(std::string_view role, json::array parts) {
    AppendContent(contents_, role, std::move(parts));
  }

  // The blocks of a content: a string is one text block.
  static const json::array* Blocks(const json::value& c, const Path& path) {
    if (c.is_string()) return nullptr;
    if (!c.is_array()) WrongType(path, "a string or an array of content blocks", c);
    return &AsArray(c, path);
  }

  json::array UserParts(const json::value& c, const Path& path, bool may_hold_results) {
    json::array out(sp_);
    const json::array* blocks = Blocks(c, path);
    if (blocks == nullptr) {
      if (!c.get_string().empty()) out.push_back(TextPart(c.get_string(), sp_));
      return out;
    }
    struct Result {
      size_t ordinal;
      json::object part;
    };
    std::vector<Result> results;
    for (size_t j = 0; j < blocks->size(); ++j) {
      const Path bpath(path, j);
      const json::object& b = AsObject((*blocks)[j], bpath);
      const std::string_view type = ReqString(b, "type", bpath);
      if (type == "tool_result") {
        if (!may_hold_results) Fail(Path(bpath, "type"), "a tool_result belongs in a user message");
        size_t ordinal = 0;
        json::object part = ToolResult(b, bpath, &ordinal);
        results.push_back(Result{ordinal, std::move(part)});
      } else if (type == "tool_use") {
        Fail(Path(bpath, "type"), "a tool_use belongs in an assistant message");
      } else {
        CommonBlock(b, type, bpath, out);
      }
    }
    if (results.empty()) return out;
    std::stable_sort(results.begin(), results.end(),
                     [](const Result& a, const Result& b) { return a.ordinal < b.ordinal; });
    json::array parts(sp_);
    for (Result& r : results) parts.push_back(std::move(r.part));
    for (json::value& p : out) parts.push_back(std::move(p));
    return parts;
  }

  // Blocks either role may hold: text, image, document; server blocks are dropped.
  void CommonBlock(const json::object& b, std::string_view type, const Path& path,
                   json::array& out) {
    if (type == "text") {
      const std::string_view text = ReqString(b, "text", path);
      if (!text.empty()) out.push_back(TextPart(text, sp_));
    } else if (type == "image") {
      Source(b, path, /*document=*/false, out);
    } else if (type == "document") {
      Source(b, path, /*document=*/true, out);
    } else if (type == "thinking" || type == "redacted_thinking" || IsServerBlock(type)) {
      // Only assistant messages carry thinking; server tools never ran on Gemini.
    } else {
      Fail(Path(path, "type"), "unsupported content block type " + Quote(type));
    }
  }

  static void Source(const json::object& b, const Path& path, bool document, json::array& out) {
    const Path spath(path, "source");
    const json::value* sv = Get(b, "source");
    if (sv == nullptr) Fail(spath, "required");
    const json::object& s = AsObject(*sv, spath);
    const std::string_view type = ReqString(s, "type", spath);
    if (type == "base64") {
      const std::string_view mime = ReqString(s, "media_type", spath);
      const std::string_view data = ReqString(s, "data", spath);
      if (mime.empty() || mime.find('/') == std::string_view::npos) {
        Fail(Path(spath, "media_type"),
             "expected a media type such as image/png, got " + Quote(mime));
      }
      if (!IsBase64(data)) Fail(Path(spath, "data"), "invalid base64 data");
      out.push_back(Inline(Lower(mime), data, out.storage()));
    } else if (type == "text" && document) {
      const std::string_view data = ReqString(s, "data", spath);
      if (!data.empty()) out.push_back(TextPart(data, out.storage()));
    } else if (type == "content" && document) {
      const Path cpath(spath, "content");
      const json::value* cv = Get(s, "content");
      if (cv == nullptr) Fail(cpath, "required");
      if (cv->is_string()) {
        if (!cv->get_string().empty()) out.push_back(TextPart(cv->get_string(), out.storage()));
        return;
      }
      const json::array& blocks = AsArray(*cv, cpath);
      for (size_t i = 0; i < blocks.size(); ++i) {
        const Path bpath(cpath, i);
        const json::object& inner = AsObject(blocks[i], bpath);
        const std::string_view t = ReqString(inner, "type", bpath);
        if (t == "text") {
          const std::string_view text = ReqString(inner, "text", bpath);
          if (!text.empty()) out.push_back(TextPart(text, out.storage()));
        } else if (t == "image") {
          Source(inner, bpath, false, out);
        } else {
          Fail(Path(bpath, "type"), "unsupported document content block " + Quote(t));
        }
      }
    } else if (type == "url") {
      Fail(Path(spath, "type"),
           "URL sources are not fetched by this proxy; send the data inline as a base64 source");
    } else if (type == "file") {
      Fail(Path(spath, "type"), "file sources (the Files API) are not supported; send base64 data");
    } else {
      Fail(Path(spath, "type"), "unsupported source type " + Quote(type));
    }
  }

  json::object ToolResult(const json::object& b, const Path& path, size_t* ordinal) {
    const std::string_view id = ReqString(b, "tool_use_id", path);
    const auto it = calls_.find(std::string(id));
    if (it == calls_.end()) {
      Fail(Path(path, "tool_use_id"), "no earlier assistant tool_use has the id " + Quote(id));
    }
    *ordinal = it->second.ordinal;
    bool is_error = false;
    if (const json::value* e = Get(b, "is_error")) {
      if (!e->is_bool()) WrongType(Path(path, "is_error"), "a boolean", *e);
      is_error = e->get_bool();
    }
    std::string text;
    size_t dropped = 0;
    if (const json::value* c = Get(b, "content")) {
      const Path cpath(path, "content");
      if (c->is_string()) {
        text = c->get_string();
      } else {
        const json::array& blocks = AsArray(*c, cpath);
        for (size_t i = 0; i < blocks.size(); ++i) {
          const Path bpath(cpath, i);
          const json::object& inner = AsObject(blocks[i], bpath);
          const std::string_view t = ReqString(inner, "type", bpath);
          if (t == "text") {
            if (!text.empty()) text += '\n';
            text += ReqString(inner, "text", bpath);
          } else if (t == "image" || t == "document" || t == "search_result") {
            ++dropped;
          } else {
            Fail(Path(bpath, "type"), "unsupported tool_result content block " + Quote(t));
          }
        }
      }
    }
    if (dropped > 0) {
      if (!text.empty()) text += '\n';
      text += "(" + std::to_string(dropped) + " non-text block" + (dropped > 1 ? "s" : "") +
              " of this tool result not forwarded)";
    }
    json::object response(sp_);
    response[is_error ? "error" : "output"] = text;
    json::object fr(sp_);
    fr["name"] = it->second.name;
    fr["response"] = std::move(response);
    json::object part(sp_);
    part["functionResponse"] = std::move(fr);
    return part;
  }

  json::array AssistantParts(const json::value& c, const Path& path) {
    json::array out(sp_);
    const json::array* blocks = Blocks(c, path);
    if (blocks == nullptr) {
      if (!c.get_string().empty()) out.push_back(TextPart(c.get_string(), sp_));
      return out;
    }
    for (size_t j = 0; j < blocks->size(); ++j) {
      const Path bpath(path, j);
      const json::object& b = AsObject((*blocks)[j], bpath);
      const std::string_view type = ReqString(b, "type", bpath);
      if (type == "tool_use") {
        out.push_back(ToolUse(b, bpath));
      } else if (type == "thinking") {
        ThinkingBlock(b, bpath, out);
      } else if (type == "tool_result") {
        Fail(Path(bpath, "type"), "a tool_result belongs in a user message");
      } else {
        CommonBlock(b, type, bpath, out);
      }
    }
    return out;
  }

  json::object ToolUse(const json::object& b, const Path& path) {
    const std::string_view id = ReqString(b, "id", path);
    if (id.empty()) Fail(Path(path, "id"), "must not be empty");
    const std::string_view name = ReqString(b, "name", path);
    if (name.empty()) Fail(Path(path, "name"), "must not be empty");
    json::object args(sp_);
    if (const json::value* input = Get(b, "input")) args = AsObject(*input, Path(path, "input"));
    json::object fc(sp_);
    fc["name"] = name;
    fc["args"] = std::move(args);
    json::object part(sp_);
    part["functionCall"] = std::move(fc);
    if (std::optional<std::string> sig = SplitSignatureId(id).signature) {
      part["thoughtSignature"] = *sig;
    }
    calls_[std::string(id)] = CallInfo{std::string(name), next_ordinal_++};
    return part;
  }

  // A thinking block back to the part it stands for (see the header); another provider's
  // thinking is dropped.
  static void ThinkingBlock(const json::object& b, const Path& path, json::array& out) {
    const std::string_view thinking = OptString(b, "thinking", path).value_or("");
    const std::string_view signature = OptString(b, "signature", path).value_or("");
    if (signature.starts_with(kPreviousPartPrefix)) {
      std::optional<std::string> sig =
          Base64UrlDecode(signature.substr(kPreviousPartPrefix.size()));
      if (!sig || sig->empty() || out.empty()) return;
      json::object& prev = out.back().get_object();
      if (!HasSignature(prev)) prev["thoughtSignature"] = *sig;
      return;
    }
    if (!signature.starts_with(kOwnThinkingPrefix)) return;
    std::optional<std::string> sig = Base64UrlDecode(signature.substr(kOwnThinkingPrefix.size()));
    if (!sig) return;  // damaged: nothing trustworthy to send back
    if (thinking.empty()) {
      if (!sig->empty() && !out.empty() && !HasSignature(out.back().get_object())) {
        out.back().get_object()["thoughtSignature"] = *sig;
      }
      return;
    }
    json::object part = TextPart(thinking, out.storage());
    part["thought"] = true;
    if (!sig->empty()) part["thoughtSignature"] = *sig;
    out.push_back(std::move(part));
  }

  // Gemini 3 refuses a current turn whose function calls lack the signatures it issued; a
  // call whose signature the client lost gets the documented bypass value.
  void BypassUnsignedCalls() {
    size_t start = 0;
    for (size_t i = 0; i < contents_.size(); ++i) {
      const json::object& c = contents_[i].get_object();
      if (c.at("role").get_string() != "user") continue;
      for (const json::value& p : c.at("parts").get_array()) {
        if (p.get_object().if_contains("text") != nullptr) {
          start = i + 1;
          break;
        }
      }
    }
    for (size_t i = start; i < contents_.size(); ++i) {
      json::object& c = contents_[i].get_object();
      if (c.at("role").get_string() != "model") continue;
      for (json::value& p : c["parts"].get_array()) {
        json::object& part = p.get_object();
        if (part.if_contains("functionCall") == nullptr) continue;
        if (!HasSignature(part)) part["thoughtSignature"] = kSkipThoughtSignature;
        break;
      }
    }
  }

  // ---- tools --------------------------------------------------------------------------
  void Tools(const json::object& in, json::object& body) {
    json::array decls(sp_);
    std::vector<std::string> names;
    if (const json::value* tv = Get(in, "tools")) {
      const json::array& tools = AsArray(*tv, "tools");
      const Path root("tools");
      for (size_t i = 0; i < tools.size(); ++i) {
        const Path path(root, i);
        const json::object& t = AsObject(tools[i], path);
        if (const auto type = OptString(t, "type", path); type && *type != "custom") continue;
        const std::string_view name = ReqString(t, "name", path);
        if (name.empty()) Fail(Path(path, "name"), "must not be empty");
        json::object decl(sp_);
        decl["name"] = name;
        if (const auto d = OptString(t, "description", path)) decl["description"] = *d;
        if (const json::value* schema = Get(t, "input_schema")) {
          AsObject(*schema, Path(path, "input_schema"));
          decl["parametersJsonSchema"] = *schema;
        }
        decls.push_back(std::move(decl));
        names.emplace_back(name);
      }
    }
    if (!decls.empty()) {
      json::object tool(sp_);
      tool["functionDeclarations"] = std::move(decls);
      json::array tools(sp_);
      tools.push_back(std::move(tool));
      body["tools"] = std::move(tools);
    }
    const json::value* tc = Get(in, "tool_choice");
    if (tc == nullptr) return;
    const json::object& o = AsObject(*tc, "tool_choice");
    const std::string_view type = ReqString(o, "type", "tool_choice");
    json::object fcc(sp_);
    if (type == "auto") {
      fcc["mode"] = "AUTO";
    } else if (type == "any") {
      fcc["mode"] = "ANY";
    } else if (type == "none") {
      fcc["mode"] = "NONE";
    } else if (type == "tool") {
      const std::string_view name = ReqString(o, "name", "tool_choice");
      if (name.empty()) Fail("tool_choice.name", "must not be empty");
      // A server tool (dropped) cannot be forced; the model decides.
      if (std::find(names.begin(), names.end(), name) == names.end()) return;
      fcc["mode"] = "ANY";
      fcc["allowedFunctionNames"] = json::array{json::value(name)};
    } else {
      Fail("tool_choice.type", "expected auto, any, none or tool, got " + Quote(type));
    }
    if (names.empty()) return;  // nothing to choose among
    json::object cfg(sp_);
    cfg["functionCallingConfig"] = std::move(fcc);
    body["toolConfig"] = std::move(cfg);
  }

  // ---- generation config --------------------------------------------------------------
  json::object GenerationConfig(const json::object& in) {
    json::object gen(sp_);
    if (const auto mt = OptInt(in, "max_tokens", "", 1, INT64_MAX / 2)) {
      gen["maxOutputTokens"] = std::min(*mt, kMaxOutputTokens);
    }
    if (const json::value* stop = Get(in, "stop_sequences")) {
      const json::array& a = AsArray(*stop, "stop_sequences");
      if (a.size() > 5) {
        Fail("stop_sequences",
             "at most 5 stop sequences (Gemini's limit), got " + std::to_string(a.size()));
      }
      json::array seqs(sp_);
      for (size_t i = 0; i < a.size(); ++i) {
        if (!AsString(a[i], Path(Path("stop_sequences"), i)).empty()) seqs.push_back(a[i]);
      }
      if (!seqs.empty()) gen["stopSequences"] = std::move(seqs);
    }
    CopyNumber(in, "temperature", gen, "temperature");
    CopyNumber(in, "top_p", gen, "topP");
    if (const auto k = OptInt(in, "top_k", "", 0, INT32_MAX)) gen["topK"] = *k;

    std::optional<std::string_view> effort;
    const json::object* output_config = nullptr;
    if (const json::value* oc = Get(in, "output_config")) {
      output_config = &AsObject(*oc, "output_config");
      effort = OptString(*output_config, "effort", "output_config");
      if (effort) (void)Level(*effort);  // checked whatever the model
    }
    json::object thinking = ThinkingConfig(in, effort);
    if (!thinking.empty()) gen["thinkingConfig"] = std::move(thinking);

    const json::value* format = nullptr;
    std::string_view fpath;
    if (output_config != nullptr) {
      format = Get(*output_config, "format");
      fpath = "output_config.format";
    }
    if (format == nullptr) {
      format = Get(in, "output_format");
      fpath = "output_format";
    }
    if (format != nullptr) {
      const json::object& f = AsObject(*format, fpath);
      const std::string_view type = ReqString(f, "type", fpath);
      if (type != "json_schema")
        Fail(Path(fpath, "type"), "expected json_schema, got " + Quote(type));
      gen["responseMimeType"] = "application/json";
      if (const json::value* schema = Get(f, "schema")) {
        AsObject(*schema, Path(fpath, "schema"));
        gen["responseJsonSchema"] = *schema;
      }
    }
    return gen;
  }

  bool Gemini3() const { return model_.starts_with("gemini-3"); }
  bool Flash25() const { return model_.starts_with("gemini-2.5-flash"); }

  std::string_view Level(std::string_view effort) const {
    if (effort == "low") return "low";
    if (effort == "high" || effort == "max") return "high";
    if (effort == "medium") return model_.starts_with("gemini-3-pro") ? "high" : "medium";
    Fail("output_config.effort", "expected low, medium, high or max, got " + Quote(effort));
  }

  json::object ThinkingConfig(const json::object& in,
                              std::optional<std::string_view> effort) const {
    json::object cfg(sp_);
    const json::value* tv = Get(in, "thinking");
    if (tv == nullptr) {
      if (effort && Gemini3()) cfg["thinkingLevel"] = Level(*effort);
      return cfg;
    }
    const json::object& t = AsObject(*tv, "thinking");
    const std::string_view type = ReqString(t, "type", "thinking");
    if (type == "enabled") {
      const auto budget = OptInt(t, "budget_tokens", "thinking", 0, INT64_MAX / 2);
      if (!budget) Fail("thinking.budget_tokens", "required");
      cfg["includeThoughts"] = true;
      cfg["thinkingBudget"] = std::min<int64_t>(*budget, Flash25() ? 24576 : 32768);
    } else if (type == "adaptive") {
      cfg["includeThoughts"] = true;
      if (Gemini3()) {
        if (effort) cfg["thinkingLevel"] = Level(*effort);
      } else {
        cfg["thinkingBudget"] = -1;
      }
    } else if (type == "disabled") {
      if (Flash25()) cfg["thinkingBudget"] = 0;
    } else {
      Fail("thinking.type", "expected enabled, adaptive or disabled, got " + Quote(type));
    }
    return cfg;
  }

  const Mode mode_;
  const ModelAliases* aliases_;
  // The client's body is read here and the output built here, released at once at the end
  // (no walk that frees node by node); parts move between arrays of the one resource.
  ScratchJson scratch_;
  json::storage_ptr sp_;
  std::string model_;
  json::array contents_;
  json::array system_parts_;
  std::unordered_map<std::string, CallInfo> calls_;
  size_t next_ordinal_ = 0;
};

AnthropicRequestResult Translate(std::string_view text, Mode mode, const ModelAliases* aliases) {
  try {
    Translator t(mode, aliases);
    return t.Run(text);
  } catch (const Reject& r) {
    if (r.path.empty()) return TranslateError{r.status, r.what, ""};
    return TranslateError{r.status, r.path + ": " + r.what, r.path};
  } catch (const std::exception& e) {
    return TranslateError{400, std::string("request could not be translated: ") + e.what(), ""};
  } catch (...) {
    return TranslateError{400, "request could not be translated", ""};
  }
}

}  // namespace

AnthropicRequestResult TranslateAnthropicRequest(std::string_view anthropic_json,
                                                 const ModelAliases* aliases) {
  return Translate(anthropic_json, Mode::kGenerate, aliases);
}

AnthropicRequestResult TranslateAnthropicCountTokens(std::string_view anthropic_json,
                                                     const ModelAliases* aliases) {
  return Translate(anthropic_json, Mode::kCountTokens, aliases);
}

}  // namespace gkm
