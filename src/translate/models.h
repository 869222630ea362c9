// Models translation: Gemini's model list and model → OpenAI's (WIRE.md A5, B).
//
// Every Gemini model becomes {"id": name without "models/", "object": "model",
// "created": 0, "owned_by": "google"}; no filtering by supported methods (embedding models
// are listed too, as the client may want them). The list may span pages: the caller
// follows nextPageToken (NextPageToken()) and passes every page body. Pure; never throws;
// an unreadable body is a TranslateError with status 502.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "translate/error.h"

namespace gkm {

std::variant<std::string, TranslateError> TranslateModelsList(
    const std::vector<std::string>& gemini_pages);

std::variant<std::string, TranslateError> TranslateModel(std::string_view gemini_model_json);

// The page's nextPageToken; empty when there is none (last page, or unreadable).
std::string NextPageToken(std::string_view gemini_page);

}  // namespace gkm
