// Embeddings translation: OpenAI `POST /v1/embeddings` → Gemini `batchEmbedContents`, and
// the answer back (WIRE.md B, A5).
//
// `input` is a string or an array of strings, none empty (Gemini refuses empty text);
// token-id input (an array of integers or of integer arrays) is a 400 saying that token
// input is not supported. At most 2048 inputs (OpenAI's own bound). Gemini takes at most
// 100 requests per batchEmbedContents call, so the request comes out as one body per 100
// inputs; the caller sends them in order (same key or not, they are independent) and
// hands all the answers to TranslateEmbeddingsResponse. `dimensions` →
// outputDimensionality; `encoding_format` "float" (default) or "base64" (little-endian
// float32, what the Python SDK asks for by default). `user` is ignored.
//
// Gemini reports no token count for embeddings, so usage is an estimate the request side
// makes: one token per 4 bytes of input, rounded up, per input.
//
// Pure; never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/model_aliases.h"
#include "translate/error.h"

namespace gkm {

inline constexpr size_t kMaxEmbeddingInputs = 2048;
inline constexpr size_t kMaxEmbeddingBatch = 100;  // Gemini's per-call bound

enum class EncodingFormat { kFloat, kBase64 };

struct EmbeddingsRequest {
  std::string model;                // the Gemini model, no "models/" prefix
  std::string client_model;         // as the client named it (for the answer)
  std::vector<std::string> bodies;  // batchEmbedContents bodies, <= 100 inputs each
  EncodingFormat encoding_format = EncodingFormat::kFloat;
  size_t count = 0;  // number of inputs
  int64_t prompt_tokens_estimate = 0;
};

// `aliases` (--model-alias) turns the client's model name into a Gemini model; an unmapped
// name of another vendor is a 404. Null: the name is used as it is.
std::variant<EmbeddingsRequest, TranslateError> TranslateEmbeddingsRequest(
    std::string_view openai_json, const ModelAliases* aliases = nullptr);

// `gemini_bodies` are the answers to EmbeddingsRequest::bodies, in order. An answer that
// cannot be read, or that holds a different number of embeddings than `count`, is a
// TranslateError with status 502.
std::variant<std::string, TranslateError> TranslateEmbeddingsResponse(
    const std::vector<std::string>& gemini_bodies, std::string_view model,
    EncodingFormat encoding_format, int64_t prompt_tokens_estimate, size_t count);

}  // namespace gkm
