// Image generation translation: OpenAI `POST /v1/images/generations` → Gemini, and the
// answers back (SPEC 3.8).
//
// Two kinds of model make images. `imagen-*` models go to `:predict` with
// {"instances":[{"prompt"}],"parameters":{"sampleCount":n,"aspectRatio"?,...}} and answer
// {"predictions":[{"bytesBase64Encoded","mimeType"} | {"raiFilteredReason"}]}; one call
// makes all `n` images. Gemini image models (a name containing `-image`) go to
// `:generateContent` with generationConfig.responseModalities ["IMAGE"] and
// imageConfig.aspectRatio, and answer inlineData parts; one call makes one image, so the
// request comes out as `calls` identical bodies the caller sends one after the other.
//
// The request side: `model` (required; any other model is a 400 naming it), `prompt`
// (required, not empty), `n` (1..4, Imagen's bound, for both kinds), `size` ("auto" or
// absent: the model's default; OpenAI's sizes map to the nearest aspect ratio the model
// kind supports; a ratio such as "16:9" the kind supports is taken as it is; anything else
// a 400 naming size), `response_format` ("b64_json" default, or "url": a data: URL, since
// the proxy hosts nothing), `output_format` (png/jpeg → Imagen's outputOptions.mimeType,
// webp refused for Imagen; Gemini cannot choose, so ignored there), `output_compression`
// (Imagen jpeg's compressionQuality), `stream: true` (refused). `quality`, `style`,
// `user`, `background` and `moderation` are checked to be strings and otherwise ignored.
//
// The answer side: images in order, filtered ones left out. No image at all is a 400 with
// code content_policy_violation and Google's reason when Google filtered them, a 502 when
// the model just gave none. Usage (Gemini image models only: Imagen reports none) is the
// sum over the calls in the shape of OpenAI's gpt-image-1 usage.
//
// Memory: the whole upstream answer is parsed, so a request holds about three copies of
// its images at the peak (the answer, the parsed value, the reply); the caller bounds the
// answers it reads with kImagesAnswerLimit over all the calls of one request.
//
// Pure; never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/model_aliases.h"
#include "translate/chat_response.h"
#include "translate/error.h"

namespace gkm {

inline constexpr int kMaxImages = 4;                     // Imagen's sampleCount bound
inline constexpr size_t kImagesAnswerLimit = 64u << 20;  // all answers of one request

enum class ImageModelKind { kImagen, kGemini };

struct ImagesRequest {
  std::string model;  // no "models/" prefix
  ImageModelKind kind = ImageModelKind::kImagen;
  std::string method;     // ":predict" or ":generateContent"
  std::string body;       // the Gemini body of one call
  int calls = 1;          // how many times `body` is sent
  int n = 1;              // images asked for
  bool data_url = false;  // response_format "url"
};

// `aliases` (may be null): --model-alias, applied to the client's model name first.
std::variant<ImagesRequest, TranslateError> TranslateImagesRequest(
    std::string_view openai_json, const ModelAliases* aliases = nullptr);

struct GeneratedImage {
  std::string mime_type;       // "image/png"
  std::string base64;          // standard alphabet
  std::string revised_prompt;  // Imagen's enhanced prompt, when it gives one
};

// What the calls of one request brought, gathered answer by answer.
struct ImagesAnswer {
  std::vector<GeneratedImage> images;
  std::vector<std::string> filtered;  // Google's reasons for images it withheld
  std::vector<std::string> missing;   // why a call gave no image, when not a filter
  GeminiUsage usage;                  // summed over the calls
};

// Adds one upstream answer of `kind` to `into`. A TranslateError (502) when the answer
// cannot be read.
std::optional<TranslateError> ReadImagesAnswer(std::string_view gemini_json, ImageModelKind kind,
                                               ImagesAnswer& into);

struct ImagesReply {
  int status = 200;
  std::string body;  // OpenAI's images response, or an OpenAI error
};

// The client's answer: {"created","data":[{"b64_json"|"url","revised_prompt"?}],
// "output_format","usage"?}, or the error when no image came.
ImagesReply BuildImagesReply(const ImagesAnswer& answer, const ImagesRequest& request,
                             int64_t created_unix);

}  // namespace gkm
