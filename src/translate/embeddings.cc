#include "translate/embeddings.h"

#include <boost/json.hpp>
#include <cstring>
#include <exception>

#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using namespace translate_internal;  // NOLINT(build/namespaces): this module's helpers

}  // namespace

std::variant<EmbeddingsRequest, TranslateError> TranslateEmbeddingsRequest(
    std::string_view openai_json, const ModelAliases* aliases) {
  try {
    auto root = ParseRequestObject(openai_json);
    if (auto* e = std::get_if<TranslateError>(&root)) return *e;
    const json::object& in = std::get<json::value>(root).get_object();
    EmbeddingsRequest out;

    auto model = RequestModel(in);
    if (auto* e = std::get_if<TranslateError>(&model)) return *e;
    out.client_model = std::get<std::string>(model);
    ModelChoice choice = ResolveModel(aliases, out.client_model);
    if (!choice.ok()) return TranslateError{404, std::move(choice.refusal), "model"};
    out.model = std::move(choice.model);

    if (const json::value* ef = in.if_contains("encoding_format"); ef && !ef->is_null()) {
      if (!ef->is_string()) {
        return BadField("encoding_format", "expected a string, got " + std::string(KindName(*ef)));
      }
      if (ef->get_string() == "base64") {
        out.encoding_format = EncodingFormat::kBase64;
      } else if (ef->get_string() != "float") {
        return BadField("encoding_format",
                        "expected float or base64, got " + Quote(ef->get_string()));
      }
    }

    std::optional<int64_t> dims;
    if (const json::value* d = in.if_contains("dimensions"); d && !d->is_null()) {
      dims = AsInt(*d);
      if (!dims)
        return BadField("dimensions", "expected an integer, got " + std::string(KindName(*d)));
      if (*dims < 1 || *dims > 65536) return BadField("dimensions", "must be at least 1");
    }

    std::vector<std::string_view> inputs;
    const json::value* input = in.if_contains("input");
    if (input == nullptr || input->is_null()) return BadField("input", "required");
    if (input->is_string()) {
      if (input->get_string().empty()) return BadField("input", "must not be empty");
      inputs.push_back(input->get_string());
    } else if (input->is_array()) {
      const json::array& a = input->get_array();
      if (a.empty()) return BadField("input", "must not be empty");
      if (a.size() > kMaxEmbeddingInputs) {
        return BadField("input", "at most " + std::to_string(kMaxEmbeddingInputs) +
                                     " inputs, got " + std::to_string(a.size()));
      }
      for (size_t i = 0; i < a.size(); ++i) {
        const std::string path = "input[" + std::to_string(i) + "]";
        if (a[i].is_number() || a[i].is_array()) {
          return BadField(path, "token input is not supported by this proxy; send text");
        }
        if (!a[i].is_string()) {
          return BadField(path, "expected a string, got " + std::string(KindName(a[i])));
        }
        if (a[i].get_string().empty()) return BadField(path, "must not be empty");
        inputs.push_back(a[i].get_string());
      }
    } else {
      return BadField("input", "expected a string or an array of strings, got " +
                                   std::string(KindName(*input)));
    }

    out.count = inputs.size();
    const std::string model_ref = "models/" + out.model;
    for (size_t start = 0; start < inputs.size(); start += kMaxEmbeddingBatch) {
      json::array requests;
      for (size_t i = start; i < inputs.size() && i < start + kMaxEmbeddingBatch; ++i) {
        json::object part;
        part["text"] = inputs[i];
        json::object content;
        content["parts"] = json::array{std::move(part)};
        json::object r;
        r["model"] = model_ref;
        r["content"] = std::move(content);
        if (dims) r["outputDimensionality"] = *dims;
        requests.push_back(std::move(r));
        out.prompt_tokens_estimate += static_cast<int64_t>((inputs[i].size() + 3) / 4);
      }
      json::object body;
      body["requests"] = std::move(requests);
      out.bodies.push_back(json::serialize(body));
    }
    return out;
  } catch (const std::exception& e) {
    return TranslateError{400, std::string("request could not be translated: ") + e.what(), ""};
  }
}

std::variant<std::string, TranslateError> TranslateEmbeddingsResponse(
    const std::vector<std::string>& gemini_bodies, std::string_view model,
    EncodingFormat encoding_format, int64_t prompt_tokens_estimate, size_t count) {
  try {
    json::array data;
    for (const std::string& body : gemini_bodies) {
      std::string err;
      std::optional<json::value> root = ParseJson(body, &err);
      const json::value* embs = nullptr;
      if (root && root->is_object()) embs = root->get_object().if_contains("embeddings");
      if (embs == nullptr || !embs->is_array()) {
        return TranslateError{502, "upstream embeddings answer is unreadable", ""};
      }
      for (const json::value& e : embs->get_array()) {
        const json::value* values = e.is_object() ? e.get_object().if_contains("values") : nullptr;
        if (values == nullptr || !values->is_array()) {
          return TranslateError{502, "upstream embedding without values", ""};
        }
        json::object item;
        item["object"] = "embedding";
        item["index"] = data.size();
        if (encoding_format == EncodingFormat::kBase64) {
          std::string bytes;
          bytes.reserve(values->get_array().size() * 4);
          for (const json::value& x : values->get_array()) {
            const float f = static_cast<float>(AsDouble(x).value_or(0.0));
            uint32_t u;
            std::memcpy(&u, &f, sizeof u);
            for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<char>((u >> (8 * k)) & 0xFF));
          }
          item["embedding"] = Base64Encode(bytes);
        } else {
          json::array floats;
          floats.reserve(values->get_array().size());
          for (const json::value& x : values->get_array()) {
            floats.push_back(AsDouble(x).value_or(0.0));
          }
          item["embedding"] = std::move(floats);
        }
        data.push_back(std::move(item));
      }
    }
    if (data.size() != count) {
      return TranslateError{502,
                            "upstream returned " + std::to_string(data.size()) +
                                " embeddings for " + std::to_string(count) + " inputs",
                            ""};
    }
    json::object usage;
    usage["prompt_tokens"] = prompt_tokens_estimate;
    usage["total_tokens"] = prompt_tokens_estimate;
    json::object out;
    out["object"] = "list";
    out["data"] = std::move(data);
    out["model"] = model;
    out["usage"] = std::move(usage);
    return json::serialize(out);
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("upstream answer could not be translated: ") + e.what(),
                          ""};
  }
}

}  // namespace gkm
