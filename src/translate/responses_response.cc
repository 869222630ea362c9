#include "translate/responses_response.h"

#include <boost/json.hpp>
#include <exception>

#include "translate/json_util.h"
#include "translate/responses_stream.h"

namespace gkm {

std::variant<ResponsesAnswer, TranslateError> TranslateResponsesResponse(
    std::string_view gemini_json, const ResponsesContext& ctx) {
  try {
    ResponsesStreamTranslator t(ctx);
    std::string error;
    if (!t.Whole(gemini_json, &error)) {
      return TranslateError{502, error.empty() ? std::string("upstream answer unreadable") : error,
                            ""};
    }
    ResponsesAnswer a;
    if (ctx.want_output_items) a.output_items = t.OutputItems();
    a.body = t.TakeFinalResponse();
    a.status = t.status();
    a.usage = t.usage();
    return a;
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("upstream answer could not be translated: ") + e.what(),
                          ""};
  }
}

std::string ResponsesErrorBody(int status, std::string_view message, std::string_view param,
                               std::string_view code) {
  std::string body = OpenAiErrorBody(status, message, param);
  if (code.empty()) return body;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return body;
  v.get_object()["error"].get_object()["code"] = code;
  return boost::json::serialize(v);
}

}  // namespace gkm
