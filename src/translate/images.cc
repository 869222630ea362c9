#include "translate/images.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <exception>
#include <optional>

#include "translate/chat_common.h"
#include "translate/json_util.h"
#include "translate/responses_response.h"

namespace gkm {
namespace {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

struct Ratio {
  const char* name;
  double value;  // width / height
};

// The aspect ratios each kind accepts (Imagen's parameters.aspectRatio, Gemini's
// generationConfig.imageConfig.aspectRatio).
constexpr std::array<Ratio, 5> kImagenRatios{
    {{"1:1", 1.0}, {"3:4", 0.75}, {"4:3", 4.0 / 3}, {"9:16", 9.0 / 16}, {"16:9", 16.0 / 9}}};
constexpr std::array<Ratio, 10> kGeminiRatios{{{"1:1", 1.0},
                                               {"2:3", 2.0 / 3},
                                               {"3:2", 1.5},
                                               {"3:4", 0.75},
                                               {"4:3", 4.0 / 3},
                                               {"4:5", 0.8},
                                               {"5:4", 1.25},
                                               {"9:16", 9.0 / 16},
                                               {"16:9", 16.0 / 9},
                                               {"21:9", 21.0 / 9}}};

// The sizes OpenAI's image models take (dall-e-2, dall-e-3, gpt-image-1).
constexpr std::array<std::pair<const char*, double>, 7> kOpenAiSizes{{{"256x256", 1.0},
                                                                      {"512x512", 1.0},
                                                                      {"1024x1024", 1.0},
                                                                      {"1536x1024", 1.5},
                                                                      {"1024x1536", 1.0 / 1.5},
                                                                      {"1792x1024", 1.75},
                                                                      {"1024x1792", 1.0 / 1.75}}};

template <size_t N>
std::string RatioList(const std::array<Ratio, N>& ratios) {
  std::string out;
  for (const Ratio& r : ratios) out += std::string(out.empty() ? "" : ", ") + r.name;
  return out;
}

// The aspect ratio for `size`, "" for the model's default, or nullopt when unknown.
template <size_t N>
std::optional<std::string> RatioOf(std::string_view size, const std::array<Ratio, N>& ratios) {
  if (size == "auto") return std::string();
  for (const Ratio& r : ratios) {
    if (size == r.name) return std::string(r.name);
  }
  for (const auto& [name, value] : kOpenAiSizes) {
    if (size != name) continue;
    const Ratio* best = &ratios[0];
    for (const Ratio& r : ratios) {  // nearest on a log scale: 1.5 is nearer 4:3 than 16:9
      if (std::abs(std::log(r.value / value)) < std::abs(std::log(best->value / value))) best = &r;
    }
    return std::string(best->name);
  }
  return std::nullopt;
}

// An optional string field; an error when present and not a string (or not one of `allowed`).
std::optional<TranslateError> OptionalString(const json::object& in, std::string_view name,
                                             std::initializer_list<std::string_view> allowed,
                                             std::string* out) {
  const json::value* v = in.if_contains(name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_string()) {
    return BadField(std::string(name), "expected a string, got " + std::string(KindName(*v)));
  }
  std::string_view s = v->get_string();
  if (allowed.size() > 0 && std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
    std::string list;
    for (std::string_view a : allowed)
      list += std::string(list.empty() ? "" : ", ") + std::string(a);
    return BadField(std::string(name), "expected one of " + list + ", got " + Quote(s));
  }
  if (out) *out = s;
  return std::nullopt;
}

bool IsSafetyReason(std::string_view r) {
  static constexpr std::string_view kSafety[] = {
      "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT",
      "SPII",   "BLOCKLIST",    "RECITATION",         "IMAGE_RECITATION"};
  return std::find(std::begin(kSafety), std::end(kSafety), r) != std::end(kSafety);
}

const json::value* Field(const json::object& o, std::string_view camel, std::string_view snake) {
  const json::value* v = o.if_contains(camel);
  return v != nullptr ? v : o.if_contains(snake);
}

std::string_view StringOr(const json::value* v, std::string_view fallback = {}) {
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : fallback;
}

// A MIME type fit to put in a data: URL; image/png when Google's is not one.
std::string ImageMime(std::string_view mime) {
  bool ok = mime.starts_with("image/") && mime.size() <= 64 &&
            std::all_of(mime.begin(), mime.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
                     c == '+' || c == '-';
            });
  return ok ? std::string(mime) : std::string("image/png");
}

// Base64 in the standard alphabet, padded, as OpenAI's b64_json and data: URLs carry it.
std::optional<std::string> StandardBase64(std::string_view data) {
  if (!IsBase64(data)) return std::nullopt;
  std::string out(data);
  for (char& c : out) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (out.size() % 4 != 0) out += '=';
  return out;
}

void AddUsage(GeminiUsage& sum, const GeminiUsage& u) {
  if (!u.present) return;
  sum.present = true;
  sum.prompt_tokens += u.prompt_tokens;
  sum.candidates_tokens += u.candidates_tokens;
  sum.thoughts_tokens += u.thoughts_tokens;
  sum.total_tokens += u.total_tokens;
}

std::optional<TranslateError> ReadImagen(const json::object& root, ImagesAnswer& into) {
  const json::value* preds = root.if_contains("predictions");
  size_t before = into.images.size() + into.filtered.size();
  if (preds != nullptr && preds->is_array()) {
    for (const json::value& p : preds->get_array()) {
      if (!p.is_object()) continue;
      const json::object& o = p.get_object();
      const json::value* bytes = o.if_contains("bytesBase64Encoded");
      if (bytes != nullptr && bytes->is_string()) {
        std::optional<std::string> b64 = StandardBase64(bytes->get_string());
        if (!b64) return TranslateError{502, "the upstream image is not base64", ""};
        into.images.push_back(GeneratedImage{ImageMime(StringOr(o.if_contains("mimeType"))),
                                             std::move(*b64),
                                             std::string(StringOr(o.if_contains("prompt")))});
      } else if (std::string_view reason = StringOr(o.if_contains("raiFilteredReason"));
                 !reason.empty()) {
        into.filtered.emplace_back(reason);
      }
    }
  } else if (preds != nullptr) {
    return TranslateError{502, "the upstream answer's predictions are not an array", ""};
  }
  // Google leaves filtered images out without a word when it gives no reason.
  if (into.images.size() + into.filtered.size() == before) {
    into.filtered.emplace_back("Google returned no image; it filters images without saying why");
  }
  return std::nullopt;
}

std::optional<TranslateError> ReadGemini(const json::object& root, ImagesAnswer& into) {
  AddUsage(into.usage, ReadUsage(root));
  if (const json::value* pf = root.if_contains("promptFeedback"); pf && pf->is_object()) {
    std::string_view block = StringOr(pf->get_object().if_contains("blockReason"));
    if (!block.empty()) {
      into.filtered.push_back("the prompt was blocked: " + std::string(block));
      return std::nullopt;
    }
  }
  const json::value* cands = root.if_contains("candidates");
  if (cands == nullptr || !cands->is_array() || cands->get_array().empty()) {
    into.missing.emplace_back("the answer has no candidates");
    return std::nullopt;
  }
  const size_t before = into.images.size();
  std::string text;
  std::string finish;
  std::string finish_message;
  for (const json::value& c : cands->get_array()) {
    if (!c.is_object()) continue;
    const json::object& cand = c.get_object();
    if (finish.empty()) finish = StringOr(cand.if_contains("finishReason"));
    if (finish_message.empty()) finish_message = StringOr(cand.if_contains("finishMessage"));
    std::optional<TranslateError> bad;
    ForEachPart(cand, [&](const json::object& part) {
      if (IsThought(part) || bad) return;  // Gemini 3 Pro Image's drafts come as thoughts
      if (std::string_view t = StringOr(part.if_contains("text")); !t.empty()) {
        text += std::string(text.empty() ? "" : " ") + std::string(t);
      }
      const json::value* inline_data = Field(part, "inlineData", "inline_data");
      if (inline_data == nullptr || !inline_data->is_object()) return;
      const json::object& d = inline_data->get_object();
      std::string_view mime = StringOr(Field(d, "mimeType", "mime_type"));
      if (!mime.starts_with("image/")) return;
      std::optional<std::string> b64 = StandardBase64(StringOr(d.if_contains("data")));
      if (!b64) {
        bad = TranslateError{502, "the upstream image is not base64", ""};
        return;
      }
      into.images.push_back(GeneratedImage{ImageMime(mime), std::move(*b64), {}});
    });
    if (bad) return bad;
  }
  if (into.images.size() > before) return std::nullopt;
  std::string why = finish.empty() ? "no image" : "finishReason " + finish;
  if (!finish_message.empty()) why += ": " + Quote(finish_message, 300);
  if (!text.empty()) why += " (the model said " + Quote(text, 300) + ")";
  (IsSafetyReason(finish) ? into.filtered : into.missing).push_back(std::move(why));
  return std::nullopt;
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

std::variant<ImagesRequest, TranslateError> TranslateImagesRequest(std::string_view openai_json,
                                                                   const ModelAliases* aliases) {
  try {
    auto root = ParseRequestObject(openai_json);
    if (auto* e = std::get_if<TranslateError>(&root)) return *e;
    const json::object& in = std::get<json::value>(root).get_object();
    ImagesRequest out;

    auto model = RequestModel(in, "an imagen-* model or a Gemini image model (*-image*)");
    if (auto* e = std::get_if<TranslateError>(&model)) return *e;
    // --model-alias first (dall-e-3=imagen-4.0-generate-001); another vendor's name that no
    // alias maps is the 404 naming the flag, as on every surface.
    ModelChoice choice = ResolveModel(aliases, std::get<std::string>(model));
    if (!choice.ok()) return TranslateError{404, std::move(choice.refusal), "model"};
    out.model = std::move(choice.model);
    const std::string_view m = out.model;
    if (m.starts_with("imagen-")) {
      out.kind = ImageModelKind::kImagen;
      out.method = ":predict";
    } else if (m.find("-image") != std::string_view::npos) {
      out.kind = ImageModelKind::kGemini;
      out.method = ":generateContent";
    } else {
      return BadField("model", Quote(m) +
                                   " does not make images: use an imagen-* model or a Gemini image "
                                   "model (*-image*, such as gemini-2.5-flash-image)");
    }
    const bool imagen = out.kind == ImageModelKind::kImagen;

    const json::value* prompt = in.if_contains("prompt");
    if (prompt == nullptr || prompt->is_null()) return BadField("prompt", "required");
    if (!prompt->is_string()) {
      return BadField("prompt", "expected a string, got " + std::string(KindName(*prompt)));
    }
    if (prompt->get_string().empty()) return BadField("prompt", "must not be empty");

    if (const json::value* n = in.if_contains("n"); n && !n->is_null()) {
      std::optional<int64_t> count = AsInt(*n);
      if (!count) return BadField("n", "expected an integer, got " + std::string(KindName(*n)));
      if (*count < 1 || *count > kMaxImages) {
        return BadField("n", "must be between 1 and " + std::to_string(kMaxImages) + ", got " +
                                 std::to_string(*count));
      }
      out.n = static_cast<int>(*count);
    }

    std::string ratio;
    std::optional<std::string> size;
    if (auto e = OptionalString(in, "size", {}, &size.emplace())) return *e;
    if (const json::value* v = in.if_contains("size"); v == nullptr || v->is_null()) size.reset();
    if (size) {
      std::optional<std::string> r =
          imagen ? RatioOf(*size, kImagenRatios) : RatioOf(*size, kGeminiRatios);
      if (!r) {
        return BadField("size",
                        "expected auto, 1024x1024, 1536x1024, 1024x1536, 1792x1024, "
                        "1024x1792, 512x512, 256x256 or an aspect ratio of this model (" +
                            (imagen ? RatioList(kImagenRatios) : RatioList(kGeminiRatios)) +
                            "), got " + Quote(*size));
      }
      ratio = std::move(*r);
    }

    std::string format;
    if (auto e = OptionalString(in, "response_format", {"b64_json", "url"}, &format)) return *e;
    out.data_url = format == "url";

    std::string output_format;
    if (auto e = OptionalString(in, "output_format", {"png", "jpeg", "webp"}, &output_format)) {
      return *e;
    }
    if (imagen && output_format == "webp") {
      return BadField("output_format", "imagen models make png or jpeg, not webp");
    }
    std::optional<int64_t> compression;
    if (const json::value* c = in.if_contains("output_compression"); c && !c->is_null()) {
      compression = AsInt(*c);
      if (!compression) {
        return BadField("output_compression",
                        "expected an integer, got " + std::string(KindName(*c)));
      }
      if (*compression < 0 || *compression > 100) {
        return BadField("output_compression", "must be between 0 and 100");
      }
    }
    for (std::string_view ignored : {"quality", "style", "user", "background", "moderation"}) {
      if (auto e = OptionalString(in, ignored, {}, nullptr)) return *e;
    }
    if (const json::value* s = in.if_contains("stream"); s && !s->is_null()) {
      if (!s->is_bool())
        return BadField("stream", "expected a boolean, got " + std::string(KindName(*s)));
      if (s->get_bool()) return BadField("stream", "streamed image generation is not supported");
    }

    json::object body;
    if (imagen) {
      json::object instance;
      instance["prompt"] = prompt->get_string();
      json::object params;
      params["sampleCount"] = out.n;
      if (!ratio.empty()) params["aspectRatio"] = ratio;
      params["includeRaiReason"] = true;  // a filtered image says why
      if (!output_format.empty()) {
        json::object options;
        options["mimeType"] = output_format == "jpeg" ? "image/jpeg" : "image/png";
        if (output_format == "jpeg" && compression) options["compressionQuality"] = *compression;
        params["outputOptions"] = std::move(options);
      }
      body["instances"] = json::array{std::move(instance)};
      body["parameters"] = std::move(params);
    } else {
      json::object part;
      part["text"] = prompt->get_string();
      json::object content;
      content["role"] = "user";
      content["parts"] = json::array{std::move(part)};
      json::object config;
      config["responseModalities"] = json::array{"IMAGE"};
      if (!ratio.empty()) config["imageConfig"] = json::object{{"aspectRatio", ratio}};
      body["contents"] = json::array{std::move(content)};
      body["generationConfig"] = std::move(config);
      out.calls = out.n;  // one image per call
    }
    out.body = json::serialize(body);
    return out;
  } catch (const std::exception& e) {
    return TranslateError{400, std::string("request could not be translated: ") + e.what(), ""};
  }
}

std::optional<TranslateError> ReadImagesAnswer(std::string_view gemini_json, ImageModelKind kind,
                                               ImagesAnswer& into) {
  try {
    ScratchJson scratch;
    std::string err;
    std::optional<json::value> root = ParseJson(gemini_json, &err, scratch.storage());
    if (!root) return TranslateError{502, "the upstream answer is not valid JSON: " + err, ""};
    if (!root->is_object()) return TranslateError{502, "the upstream answer is not an object", ""};
    return kind == ImageModelKind::kImagen ? ReadImagen(root->get_object(), into)
                                           : ReadGemini(root->get_object(), into);
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("the upstream answer could not be read: ") + e.what(),
                          ""};
  }
}

ImagesReply BuildImagesReply(const ImagesAnswer& answer, const ImagesRequest& request,
                             int64_t created_unix) {
  if (answer.images.empty()) {
    if (!answer.filtered.empty()) {
      return {400,
              ResponsesErrorBody(
                  400, "Google's safety system rejected the request: " + Joined(answer.filtered),
                  "", "content_policy_violation")};
    }
    return {502,
            OpenAiErrorBody(502, "the model answered without an image: " + Joined(answer.missing))};
  }
  const size_t count = std::min(answer.images.size(), static_cast<size_t>(request.n));
  size_t bytes = 256;
  for (size_t i = 0; i < count; ++i) bytes += answer.images[i].base64.size() + 512;
  std::string out;
  out.reserve(bytes);
  out += "{\"created\":" + std::to_string(created_unix) + ",\"data\":[";
  for (size_t i = 0; i < count; ++i) {
    const GeneratedImage& img = answer.images[i];
    out += i == 0 ? "{" : ",{";
    // Base64 and the checked MIME type need no JSON escapes: appended as they are, so that
    // the images are copied once.
    if (request.data_url) {
      out += "\"url\":\"data:" + img.mime_type + ";base64,";
    } else {
      out += "\"b64_json\":\"";
    }
    out += img.base64;
    out += '"';
    if (!img.revised_prompt.empty()) {
      out += ",\"revised_prompt\":" + json::serialize(json::string(img.revised_prompt));
    }
    out += '}';
  }
  out += ']';
  std::string_view mime = answer.images[0].mime_type;
  if (mime == "image/png" || mime == "image/jpeg" || mime == "image/webp") {
    out += ",\"output_format\":\"" + std::string(mime.substr(6)) + "\"";
  }
  if (answer.usage.present) {
    const GeminiUsage& u = answer.usage;
    json::object usage;
    usage["input_tokens"] = u.prompt_tokens;
    usage["output_tokens"] = u.candidates_tokens + u.thoughts_tokens;
    usage["total_tokens"] = u.total_tokens > 0
                                ? u.total_tokens
                                : u.prompt_tokens + u.candidates_tokens + u.thoughts_tokens;
    usage["input_tokens_details"] =
        json::object{{"text_tokens", u.prompt_tokens}, {"image_tokens", 0}};
    out += ",\"usage\":" + json::serialize(usage);
  }
  out += '}';
  return {200, std::move(out)};
}

}  // namespace gkm
