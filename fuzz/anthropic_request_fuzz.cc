// libFuzzer target for the Anthropic Messages surface's non-streaming translators: whatever a
// client or upstream sends, they answer with a value (a translation or a TranslateError) and
// never crash, hang, leak or read out of bounds; a translated request is valid JSON.
// Built and run by scripts/fuzz.sh.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "translate/anthropic_error.h"
#include "translate/anthropic_request.h"
#include "translate/anthropic_response.h"

namespace {

void MustBeJson(const std::string& text) {
  boost::system::error_code ec;
  boost::json::parse(text, ec);
  if (ec) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (const auto& r :
       {gkm::TranslateAnthropicRequest(input), gkm::TranslateAnthropicCountTokens(input)}) {
    if (const auto* ok = std::get_if<gkm::AnthropicRequest>(&r)) {
      MustBeJson(ok->body);
    } else {
      MustBeJson(gkm::AnthropicErrorBody(std::get<gkm::TranslateError>(r)));
    }
  }

  // The same bytes as an upstream answer.
  int n = 0;
  gkm::AnthropicContext ctx;
  ctx.id = "msg_fuzz";
  ctx.model = "m";
  ctx.new_tool_use_id = [&n] { return "toolu_" + std::to_string(++n); };
  const auto response = gkm::TranslateAnthropicResponse(input, ctx);
  if (const auto* ok = std::get_if<gkm::AnthropicResponse>(&response)) MustBeJson(ok->body);
  (void)gkm::TranslateAnthropicCountTokensResponse(input);
  MustBeJson(gkm::TranslateGeminiErrorToAnthropic(500, input));
  return 0;
}
