// Requests no client should send: each must be a 400 naming the field at fault, and none
// may crash, hang or throw (SPEC 8).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "translate/chat_request.h"
#include "translate/embeddings.h"

namespace gkm {
namespace {

namespace json = boost::json;

// A request that uses every field the translator reads.
constexpr const char* kBase = R"({
  "model": "gemini-2.5-flash",
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "hi"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
      {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "ok"}],
  "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
  "tool_choice": "auto",
  "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
  "stream_options": {"include_usage": true},
  "max_tokens": 10, "temperature": 0.5, "stop": ["x"], "n": 1
})";

TranslateError ExpectError(const std::string& body) {
  const ChatRequestResult r = TranslateChatRequest(body, ChatOptions{});
  const auto* e = std::get_if<TranslateError>(&r);
  EXPECT_NE(e, nullptr) << "accepted: " << body.substr(0, 300);
  return e ? *e : TranslateError{};
}

TEST(HostileInput, BaseRequestIsValid) {
  const ChatRequestResult r = TranslateChatRequest(kBase, ChatOptions{});
  if (const auto* e = std::get_if<TranslateError>(&r)) FAIL() << e->message;
}

struct WrongType {
  const char* pointer;  // the value to replace (JSON pointer; the last step may be new)
  const char* value;    // JSON text put there
  const char* param;    // the field the error must name
};

class WrongTypes : public testing::TestWithParam<WrongType> {};

TEST_P(WrongTypes, Are400NamingTheField) {
  const WrongType& c = GetParam();
  json::value root = json::parse(kBase);
  const std::string ptr = c.pointer;
  const size_t slash = ptr.rfind('/');
  json::value& parent = slash == 0 ? root : root.at_pointer(ptr.substr(0, slash));
  const std::string last = ptr.substr(slash + 1);
  if (parent.is_array()) {
    parent.as_array().at(std::stoul(last)) = json::parse(c.value);
  } else {
    parent.as_object()[last] = json::parse(c.value);
  }
  const TranslateError e = ExpectError(json::serialize(root));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, c.param) << e.message;
  EXPECT_TRUE(e.message.starts_with(std::string(c.param) + ": ")) << e.message;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, WrongTypes,
    testing::Values(
        WrongType{"/model", "5", "model"}, WrongType{"/model", "\"\"", "model"},
        WrongType{"/messages", "\"hi\"", "messages"}, WrongType{"/messages", "[]", "messages"},
        WrongType{"/messages/0", "5", "messages[0]"},
        WrongType{"/messages/0/role", "1", "messages[0].role"},
        WrongType{"/messages/0/content", "5", "messages[0].content"},
        WrongType{"/messages/0/content", "{}", "messages[0].content"},
        WrongType{"/messages/0/content", "null", "messages[0].content"},
        WrongType{"/messages/0/content/0", "\"x\"", "messages[0].content[0]"},
        WrongType{"/messages/0/content/0/type", "3", "messages[0].content[0].type"},
        WrongType{"/messages/0/content/0/text", "[]", "messages[0].content[0].text"},
        WrongType{"/messages/0/content/1/image_url", "7", "messages[0].content[1].image_url"},
        WrongType{"/messages/0/content/1/image_url/url", "{}",
                  "messages[0].content[1].image_url.url"},
        WrongType{"/messages/0/content/1/image_url/url", "\"ftp://x/y.png\"",
                  "messages[0].content[1].image_url.url"},
        WrongType{"/messages/0/content/1/image_url/url", "\"data:;base64,AAAA\"",
                  "messages[0].content[1].image_url.url"},
        WrongType{"/messages/0/content/1/image_url/url", "\"data:image/png;base64,\"",
                  "messages[0].content[1].image_url.url"},
        WrongType{"/messages/0/content/1/image_url/url", "\"data:image/png;base64,A\"",
                  "messages[0].content[1].image_url.url"},
        WrongType{"/messages/0/content/1/image_url/url", "\"data:image/png;base64,AA==AA==\"",
                  "messages[0].content[1].image_url.url"},
        WrongType{"/messages/0/content/1/image_url/url", "\"data:image/png;base64,AA AA\"",
                  "messages[0].content[1].image_url.url"},
        WrongType{"/messages/0/content/2/input_audio/data", "false",
                  "messages[0].content[2].input_audio.data"},
        WrongType{"/messages/0/content/2/input_audio/format", "\"../x\"",
                  "messages[0].content[2].input_audio.format"},
        WrongType{"/messages/1/content", "5", "messages[1].content"},
        WrongType{"/messages/1/content", "[{\"type\":\"image_url\"}]",
                  "messages[1].content[0].type"},
        WrongType{"/messages/1/tool_calls", "{}", "messages[1].tool_calls"},
        WrongType{"/messages/1/tool_calls/0", "[]", "messages[1].tool_calls[0]"},
        WrongType{"/messages/1/tool_calls/0/id", "9", "messages[1].tool_calls[0].id"},
        WrongType{"/messages/1/tool_calls/0/type", "\"custom\"", "messages[1].tool_calls[0].type"},
        WrongType{"/messages/1/tool_calls/0/function", "\"f\"",
                  "messages[1].tool_calls[0].function"},
        WrongType{"/messages/1/tool_calls/0/function/name", "null",
                  "messages[1].tool_calls[0].function.name"},
        WrongType{"/messages/1/tool_calls/0/function/arguments", "{}",
                  "messages[1].tool_calls[0].function.arguments"},
        WrongType{"/messages/1/tool_calls/0/function/arguments", "\"\\\"x\\\"\"",
                  "messages[1].tool_calls[0].function.arguments"},
        WrongType{"/messages/2/tool_call_id", "5", "messages[2].tool_call_id"},
        WrongType{"/messages/2/content", "5", "messages[2].content"},
        WrongType{"/max_tokens", "\"100\"", "max_tokens"},
        WrongType{"/max_tokens", "0", "max_tokens"}, WrongType{"/max_tokens", "1.5", "max_tokens"},
        WrongType{"/max_completion_tokens", "-1", "max_completion_tokens"},
        WrongType{"/temperature", "\"hot\"", "temperature"}, WrongType{"/top_p", "true", "top_p"},
        WrongType{"/n", "0", "n"}, WrongType{"/n", "\"2\"", "n"}, WrongType{"/seed", "1.5", "seed"},
        WrongType{"/stop", "5", "stop"}, WrongType{"/stop", "[1]", "stop[0]"},
        WrongType{"/presence_penalty", "{}", "presence_penalty"},
        WrongType{"/frequency_penalty", "[]", "frequency_penalty"},
        WrongType{"/logprobs", "\"yes\"", "logprobs"},
        WrongType{"/top_logprobs", "50", "top_logprobs"},
        WrongType{"/reasoning_effort", "3", "reasoning_effort"},
        WrongType{"/stream", "\"yes\"", "stream"},
        WrongType{"/stream_options", "1", "stream_options"},
        WrongType{"/stream_options/include_usage", "1", "stream_options.include_usage"},
        WrongType{"/tools", "\"f\"", "tools"}, WrongType{"/tools/0", "1", "tools[0]"},
        WrongType{"/tools/0/function", "3", "tools[0].function"},
        WrongType{"/tools/0/function/name", "\"\"", "tools[0].function.name"},
        WrongType{"/tools/0/function/parameters", "\"x\"", "tools[0].function.parameters"},
        WrongType{"/tool_choice", "3", "tool_choice"},
        WrongType{"/tool_choice", "{\"type\":\"function\"}", "tool_choice.function"},
        WrongType{"/response_format", "\"json\"", "response_format"},
        WrongType{"/response_format/type", "\"yaml\"", "response_format.type"},
        WrongType{"/response_format/json_schema", "[]", "response_format.json_schema"},
        WrongType{"/response_format/json_schema/schema", "3", "response_format.json_schema.schema"},
        WrongType{"/extra_body", "{\"google\":{\"thinking_config\":{\"thinking_budget\":\"x\"}}}",
                  "extra_body.google.thinking_config.thinking_budget"}),
    [](const testing::TestParamInfo<WrongType>& info) {
      return "case" + std::to_string(info.index);
    });

TEST(HostileInput, HundredThousandMessagesAreRefusedByCount) {
  std::string body = R"({"model":"m","messages":[)";
  for (int i = 0; i < 100000; ++i)
    body += (i ? "," : "") + std::string(R"({"role":"user","content":"x"})");
  body += "]}";
  const TranslateError e = ExpectError(body);
  EXPECT_EQ(e.param, "messages");
  EXPECT_NE(e.message.find("more than 10000"), std::string::npos) << e.message;
}

TEST(HostileInput, HundredThousandPartsAreRefusedByCount) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":[)";
  for (int i = 0; i < 100000; ++i)
    body += (i ? "," : "") + std::string(R"({"type":"text","text":"x"})");
  body += "]}]}";
  EXPECT_EQ(ExpectError(body).param, "messages[0].content");
}

TEST(HostileInput, HundredThousandStopsAreRefused) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[)";
  for (int i = 0; i < 100000; ++i) body += (i ? ",\"s\"" : "\"s\"");
  body += "]}";
  EXPECT_EQ(ExpectError(body).param, "stop");
}

TEST(HostileInput, DeepNestingIsRefusedWithoutRecursing) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const TranslateError e = ExpectError(R"({"model":"m","messages":)" + deep + "}");
  EXPECT_NE(e.message.find("nested deeper than 64"), std::string::npos) << e.message;
  const std::string deep_obj = [] {
    std::string s;
    for (int i = 0; i < 10000; ++i) s += "{\"a\":";
    s += "1";
    s += std::string(10000, '}');
    return s;
  }();
  EXPECT_NE(ExpectError(deep_obj).message.find("nested deeper"), std::string::npos);
}

TEST(HostileInput, DeepArgumentsAreRefusedNamingTheField) {
  const std::string args = std::string(1000, '[') + std::string(1000, ']');
  const TranslateError e = ExpectError(
      R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function",
          "function":{"name":"f","arguments":")" +
      args + R"("}}]}]})");
  EXPECT_EQ(e.param, "messages[0].tool_calls[0].function.arguments");
  EXPECT_NE(e.message.find("nested deeper"), std::string::npos) << e.message;
}

TEST(HostileInput, InvalidUtf8IsNamed) {
  for (const std::string& bad :
       {std::string("\xC3\x28"), std::string("\xED\xA0\x80"), std::string("\xC0\xAF"),
        std::string("\xF5\x80\x80\x80"), std::string("\xE2\x82")}) {
    const TranslateError e =
        ExpectError(R"({"model":"m","messages":[{"role":"user","content":")" + bad + R"("}]})");
    EXPECT_NE(e.message.find("invalid UTF-8 at byte 51"), std::string::npos) << e.message;
  }
}

TEST(HostileInput, InvalidUtf8IsFoundAtAnyOffsetAfterAscii) {
  // The scan skips ASCII eight bytes at a time; the bad byte must be found wherever it sits
  // relative to those words, also right after valid multi-byte characters.
  for (size_t pad = 0; pad < 20; ++pad) {
    for (const std::string& before : {std::string(), std::string("\xC3\xA9")}) {
      const std::string content = before + std::string(pad, 'a') + "\xFF" + std::string(9, 'b');
      const TranslateError e = ExpectError(
          R"({"model":"m","messages":[{"role":"user","content":")" + content + R"("}]})");
      const std::string want = "invalid UTF-8 at byte " + std::to_string(51 + before.size() + pad);
      EXPECT_NE(e.message.find(want), std::string::npos) << e.message;
    }
  }
}

TEST(HostileInput, NotJsonIsNamed) {
  EXPECT_NE(ExpectError("").message.find("not valid JSON"), std::string::npos);
  EXPECT_NE(ExpectError("{\"model\":").message.find("incomplete"), std::string::npos);
  EXPECT_NE(ExpectError("{} x").message.find("after the JSON value"), std::string::npos);
  EXPECT_NE(ExpectError("[1]").message.find("must be a JSON object"), std::string::npos);
  EXPECT_NE(ExpectError("{\"a\":tru}").message.find("at byte"), std::string::npos);
}

TEST(HostileInput, EmbeddingsTooManyInputs) {
  std::string body = R"({"model":"m","input":[)";
  for (int i = 0; i < 100000; ++i) body += (i ? ",\"x\"" : "\"x\"");
  body += "]}";
  const auto r = TranslateEmbeddingsRequest(body);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->param, "input");
}

}  // namespace
}  // namespace gkm
