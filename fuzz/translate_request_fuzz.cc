// libFuzzer target: whatever a client or upstream sends, the translators answer with a value
// (a translation or a TranslateError) and never crash, hang, leak or read out of bounds.
// Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "translate/chat_request.h"
#include "translate/chat_response.h"
#include "translate/embeddings.h"
#include "translate/error.h"
#include "translate/models.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  gkm::ChatOptions plain;
  (void)gkm::TranslateChatRequest(input, plain);

  // Second pass with fetching on: every URL the first pass asks for comes back fetched.
  gkm::ChatOptions fetching;
  fetching.fetch_image_urls = true;
  fetching.include_thoughts = true;
  fetching.signature_lookup = [](std::string_view id) -> std::optional<std::string> {
    if (id.size() % 2 == 0) return std::string("c2ln");
    return std::nullopt;
  };
  auto first = gkm::TranslateChatRequest(input, fetching);
  if (const auto* need = std::get_if<gkm::ImageFetchNeeded>(&first)) {
    bool fail = false;
    for (const std::string& url : need->urls) {
      gkm::FetchedImage img;
      if (fail) {
        img.error = "HTTP 404";
      } else {
        img.mime_type = "image/png";
        img.base64_data = "iVBORw0KGgo=";
      }
      fail = !fail;
      fetching.fetched_images[url] = img;
    }
    auto second = gkm::TranslateChatRequest(input, fetching);
    if (std::holds_alternative<gkm::ImageFetchNeeded>(second)) __builtin_trap();
  }
  if (const auto* e = std::get_if<gkm::TranslateError>(&first)) {
    (void)gkm::OpenAiErrorBody(*e);
  }

  // The same bytes as an upstream answer.
  int n = 0;
  gkm::ResponseContext ctx;
  ctx.id = "chatcmpl-fuzz";
  ctx.created = 1;
  ctx.model = "m";
  ctx.new_tool_call_id = [&n] { return "call_" + std::to_string(++n); };
  ctx.remember_signature = [](std::string_view, std::string_view) {};
  (void)gkm::TranslateChatResponse(input, ctx);
  (void)gkm::TranslateGeminiError(500, input);

  (void)gkm::TranslateEmbeddingsRequest(input);
  (void)gkm::TranslateEmbeddingsResponse({std::string(input)}, "e", gkm::EncodingFormat::kBase64, 1,
                                         1);
  (void)gkm::TranslateModelsList({std::string(input)});
  (void)gkm::TranslateModel(input);
  (void)gkm::NextPageToken(input);
  return 0;
}
