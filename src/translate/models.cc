#include "translate/models.h"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>

#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using translate_internal::ParseJson;

// Gemini models carry no creation time: OpenAI's "created" is 0, Anthropic's the same instant.
constexpr std::string_view kEpoch = "1970-01-01T00:00:00Z";

json::object Entry(std::string_view id, std::string_view owner, std::string_view display_name,
                   ModelsShape shape) {
  json::object out;
  if (shape == ModelsShape::kAnthropic) {
    out["type"] = "model";
    out["id"] = id;
    out["display_name"] = display_name;
    out["created_at"] = kEpoch;
  } else {
    out["id"] = id;
    out["object"] = "model";
    out["created"] = 0;
    out["owned_by"] = owner;
  }
  return out;
}

json::object AliasEntry(const ModelAlias& a, ModelsShape shape) {
  return Entry(a.from, "gemini-key-manager", a.from + " (" + a.to + ")", shape);
}

// nullopt when the model has no usable name.
std::optional<json::object> Model(const json::value& m, ModelsShape shape) {
  if (!m.is_object()) return std::nullopt;
  const json::value* name = m.get_object().if_contains("name");
  if (name == nullptr || !name->is_string()) return std::nullopt;
  std::string_view id = name->get_string();
  if (id.starts_with("models/")) id.remove_prefix(7);
  if (id.empty()) return std::nullopt;
  std::string_view display = id;
  if (const json::value* d = m.get_object().if_contains("displayName"); d && d->is_string()) {
    if (!d->get_string().empty()) display = d->get_string();
  }
  return Entry(id, "google", display, shape);
}

std::string List(json::array data, ModelsShape shape) {
  json::object out;
  if (shape == ModelsShape::kAnthropic) {
    json::value first = data.empty() ? json::value(nullptr) : data.front().at("id");
    json::value last = data.empty() ? json::value(nullptr) : data.back().at("id");
    out["data"] = std::move(data);
    out["has_more"] = false;
    out["first_id"] = std::move(first);
    out["last_id"] = std::move(last);
  } else {
    out["object"] = "list";
    out["data"] = std::move(data);
  }
  return json::serialize(out);
}

}  // namespace

std::variant<std::string, TranslateError> TranslateModelsList(
    const std::vector<std::string>& gemini_pages, const std::vector<ModelAlias>& aliases,
    ModelsShape shape) {
  try {
    json::array data;
    for (const ModelAlias& a : aliases) data.push_back(AliasEntry(a, shape));
    auto aliased = [&aliases](const json::object& o) {
      const std::string_view id = o.at("id").get_string();
      return std::any_of(aliases.begin(), aliases.end(),
                         [id](const ModelAlias& a) { return a.from == id; });
    };
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
        if (auto o = Model(m, shape); o && !aliased(*o)) data.push_back(std::move(*o));
      }
    }
    return List(std::move(data), shape);
  } catch (const std::exception& e) {
    return TranslateError{
        502, std::string("upstream model list could not be translated: ") + e.what(), ""};
  }
}

std::variant<std::string, TranslateError> TranslateModel(std::string_view gemini_model_json,
                                                         ModelsShape shape) {
  try {
    std::string err;
    std::optional<json::value> root = ParseJson(gemini_model_json, &err);
    if (root) {
      if (auto o = Model(*root, shape)) return json::serialize(*o);
    }
    return TranslateError{502, "upstream model is unreadable", ""};
  } catch (const std::exception& e) {
    return TranslateError{502, std::string("upstream model could not be translated: ") + e.what(),
                          ""};
  }
}

std::string AliasModel(const ModelAlias& alias, ModelsShape shape) {
  return json::serialize(AliasEntry(alias, shape));
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
