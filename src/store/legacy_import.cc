#include "store/legacy_import.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <set>

#include "common/api_key.h"

namespace gkm {

bool ParseLegacyUsage(std::string_view text, const std::string& quota_day, int64_t until_ms,
                      LegacyUsage* out, std::string* error) {
  namespace json = boost::json;
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec || !root.is_object()) {
    *error = "not a JSON object" + (ec ? ": " + ec.message() : std::string());
    return false;
  }
  const json::object& o = root.as_object();
  const json::value* date = o.if_contains("date");
  if (!date || !date->is_string()) {
    *error = "no \"date\" string";
    return false;
  }
  out->date = std::string(date->as_string());

  // (key id, model) -> requests. Counts not broken down by model go under "-".
  std::map<std::pair<std::string, std::string>, int64_t> usage;
  std::map<std::string, int64_t> by_model_total;
  std::set<std::string> models;
  std::set<std::string> keys;
  for (const char* field : {"counts", "model_counts"}) {
    const json::value* v = o.if_contains(field);
    if (v && !v->is_object() && !v->is_null()) {
      out->warnings.push_back(std::string("\"") + field + "\" is not an object; not imported");
    }
  }
  if (const json::value* mc = o.if_contains("model_counts"); mc && mc->is_object()) {
    for (const auto& [key, per_model] : mc->as_object()) {
      if (!per_model.is_object()) continue;
      std::string id = KeyIdOf(key);
      keys.insert(id);
      for (const auto& [model, n] : per_model.as_object()) {
        if (!n.is_int64() && !n.is_uint64()) continue;
        int64_t v = n.to_number<int64_t>();
        usage[{id, std::string(model)}] += v;
        by_model_total[id] += v;
        models.insert(std::string(model));
      }
    }
  }
  if (const json::value* counts = o.if_contains("counts"); counts && counts->is_object()) {
    for (const auto& [key, n] : counts->as_object()) {
      if (!n.is_int64() && !n.is_uint64()) continue;
      std::string id = KeyIdOf(key);
      keys.insert(id);
      int64_t rest = n.to_number<int64_t>() - by_model_total[id];
      if (rest > 0) usage[{id, "-"}] += rest;
    }
  }
  for (const auto& [km, n] : usage) {
    UsageDelta d;
    d.key_id = km.first;
    d.model = km.second;
    d.day = quota_day;
    d.requests = n;
    out->batch.usage.push_back(std::move(d));
  }
  // exhausted_keys has two forms. The list form retired a key for every model at once: mark
  // it exhausted for every model the file names, and for requests without a model. The old
  // proxy's last version writes {key: [models]}: exhausted for the models listed only.
  models.insert("-");
  auto exhaust = [&](const std::string& id, const std::string& model) {
    out->batch.states.push_back(
        KeyModelState{id, model, "exhausted", until_ms, "per-day quota (imported)"});
  };
  size_t skipped = 0;  // entries of an unexpected type, reported once below
  const json::value* ex = o.if_contains("exhausted_keys");
  if (ex && ex->is_array()) {
    for (const auto& k : ex->as_array()) {
      if (!k.is_string()) {
        ++skipped;
        continue;
      }
      std::string id = KeyIdOf(k.as_string());
      keys.insert(id);
      for (const auto& m : models) exhaust(id, m);
    }
  } else if (ex && ex->is_object()) {
    for (const auto& [key, listed] : ex->as_object()) {
      std::string id = KeyIdOf(key);
      keys.insert(id);
      if (!listed.is_array()) {
        // The key is named as exhausted but its models cannot be read: losing the
        // exhaustion would spend a retired key's 429s again, so keep the list form's meaning.
        ++skipped;
        for (const auto& m : models) exhaust(id, m);
        continue;
      }
      std::set<std::string> done;  // a model listed twice is one state
      for (const auto& m : listed.as_array()) {
        std::string_view name = m.is_string() ? std::string_view(m.as_string()) : "";
        if (name.starts_with("models/")) name.remove_prefix(7);  // as a path names it
        if (name.empty()) {
          ++skipped;
          continue;
        }
        if (done.insert(std::string(name)).second) exhaust(id, std::string(name));
      }
    }
  } else if (ex && !ex->is_null()) {
    out->warnings.push_back(
        "\"exhausted_keys\" is neither a list of keys nor an object {key: [models]}; no key "
        "imported as exhausted");
  }
  if (skipped > 0) {
    out->warnings.push_back(std::to_string(skipped) +
                            " \"exhausted_keys\" entries of an unexpected type (a key with "
                            "unreadable models is taken as exhausted for every model)");
  }
  out->keys = keys.size();
  return true;
}

}  // namespace gkm
