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
  // The old proxy retired a key for every model at once: mark it exhausted for every model
  // the file names, and for requests without a model.
  models.insert("-");
  if (const json::value* ex = o.if_contains("exhausted_keys"); ex && ex->is_array()) {
    for (const auto& k : ex->as_array()) {
      if (!k.is_string()) continue;
      std::string id = KeyIdOf(k.as_string());
      keys.insert(id);
      for (const auto& m : models) {
        out->batch.states.push_back(
            KeyModelState{id, m, "exhausted", until_ms, "per-day quota (imported)"});
      }
    }
  }
  out->keys = keys.size();
  return true;
}

}  // namespace gkm
