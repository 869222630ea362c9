// libFuzzer target: whatever a Responses client sends (and whatever the state store hands
// back as a previous conversation), the Responses request translator answers with a value
// — a translation, a look-up request or a TranslateError — and never crashes, hangs, leaks
// or reads out of bounds; and whatever Gemini answers, the whole-answer translator does the
// same. Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "translate/responses_request.h"
#include "translate/responses_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  gkm::ResponsesOptions plain;
  auto first = gkm::TranslateResponsesRequest(input, plain);
  if (const auto* need = std::get_if<gkm::PreviousResponseNeeded>(&first)) {
    gkm::ResponsesOptions second;
    second.previous_items = std::string(input.substr(0, input.size() / 2));
    auto r = gkm::TranslateResponsesRequest(input, second);
    if (std::holds_alternative<gkm::PreviousResponseNeeded>(r)) __builtin_trap();
    (void)need;
  }
  // The input as a stored conversation too.
  gkm::ResponsesOptions stored;
  stored.previous_items = std::string(input);
  (void)gkm::TranslateResponsesRequest(
      R"({"model":"gemini-3-pro-preview","input":"go","previous_response_id":"resp_1"})", stored);

  gkm::ResponsesContext ctx;
  ctx.id = "resp_fuzz";
  ctx.include_encrypted = size % 2 == 0;
  ctx.custom_tools.insert("apply_patch");
  ctx.new_id = [](std::string_view prefix) { return std::string(prefix) + "x"; };
  (void)gkm::TranslateResponsesResponse(input, ctx);
  return 0;
}
