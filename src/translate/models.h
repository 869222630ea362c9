// Models translation: Gemini's model list and model → OpenAI's (WIRE.md A5, B), or
// Anthropic's for a client that sends anthropic-version (WIRE-AGENTS.md D1).
//
// Every Gemini model becomes {"id": name without "models/", "object": "model",
// "created": 0, "owned_by": "google"} (Anthropic: {"type": "model", "id", "display_name":
// Google's displayName or the id, "created_at": "1970-01-01T00:00:00Z"}); no filtering by
// supported methods (embedding models are listed too, as the client may want them). The
// literal --model-alias names come first, owned by "gemini-key-manager" (Anthropic:
// display_name "FROM (TO)"); a Google model of the same name as an alias is left out. The
// list may span pages: the caller follows nextPageToken (NextPageToken()) and passes every
// page body. Anthropic's list is one page: has_more false, first_id and last_id. Pure;
// never throws; an unreadable body is a TranslateError with status 502.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/model_aliases.h"
#include "translate/error.h"

namespace gkm {

enum class ModelsShape { kOpenAi, kAnthropic };

std::variant<std::string, TranslateError> TranslateModelsList(
    const std::vector<std::string>& gemini_pages, const std::vector<ModelAlias>& aliases = {},
    ModelsShape shape = ModelsShape::kOpenAi);

std::variant<std::string, TranslateError> TranslateModel(std::string_view gemini_model_json,
                                                         ModelsShape shape = ModelsShape::kOpenAi);

// The model object of an alias name (GET /v1/models/{alias}), as listed.
std::string AliasModel(const ModelAlias& alias, ModelsShape shape = ModelsShape::kOpenAi);

// The page's nextPageToken; empty when there is none (last page, or unreadable).
std::string NextPageToken(std::string_view gemini_page);

}  // namespace gkm
