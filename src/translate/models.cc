#include "translate/models.h"

#include <boost/json.hpp>
#include <exception>

#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using translate_internal::ParseJson;

// nullopt when the model has no usable name.
std::optional<json::object> Model(const json::value& m) {
  if (!m.is_object()) return std::nullopt;
  const json::value* name = m.get_object().if_contains("name");
  if (name == nullptr || !name->is_string()) return std::nullopt;
  std::string_view id = name->get_string();
  if (id.starts_with("models/")) id.remove_prefix(7);
  if (id.empty()) return std::nullopt;
  json::object out;
  out["id"] = id;
  out["object"] = "model";
  out["created"] = 0;
  out["owned_by"] = "google";
  return out;
}

}  // namespace

std::variant<std::string, TranslateError> TranslateModelsList(
    const std::vector<std::string>& gemini_pages) {
  try {
    json::array data;
    for (const std::string& page : gemini_pages) {
      std::string err;
      std::optional<json::value> root = ParseJson(page, &err);
      if (!root || !root->is_object()) {
        return TranslateError{502, "upstream model list is unreadable", ""};
      }
      const json::value* models = root->get_object().if_contains("models");
      if (models == nullptr) continue;  // an empty page
      if (!models->is_array()) return TranslateError{502, "upstream model list is unreadable", ""};
      for (const json::value& m : models->get_array()) {
        if (auto o = Model(m)) data.push_back(std::move(*o));
      }
    }
    json::object out;
    out["object"] = "list";
    out["data"] = std::move(data);
    return json::serialize(out);
  } catch (const std::exception& e) {
    return TranslateError{
        502, std::string("upstream model list could not be translated: ") + e.what(), ""};
  }
}

std::variant<std::string, TranslateError> TranslateModel(std::string_view gemini_model_json) {
  try {
    std::string err;
    std::optional<json::value> root = ParseJson(gemini_model_json, &err);
    if (root) {
      if (auto o = Model(*root)) return json::serialize(*o);
    }
    return TranslateError{502, "upstream model is unreadable", ""};
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("upstream model could not be translated: ") + e.what(),
                          ""};
  }
}

std::string NextPageToken(std::string_view gemini_page) {
  try {
    std::string err;
    std::optional<json::value> root = ParseJson(gemini_page, &err);
    if (!root || !root->is_object()) return {};
    const json::value* t = root->get_object().if_contains("nextPageToken");
    if (t == nullptr || !t->is_string()) return {};
    return std::string(t->get_string());
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace gkm
