#include "admin/ops.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <ctime>

#include "common/names.h"

namespace gkm {

std::string Rfc3339(TimePoint t) {
  std::time_t secs = static_cast<std::time_t>(ToUnixMs(t) / 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string AdminKeysJson(const PoolView& view) {
  namespace json = boost::json;
  json::object root;
  root["day"] = view.day;
  root["next_reset"] = Rfc3339(view.next_reset);
  json::array keys;
  keys.reserve(view.keys.size());
  for (const KeyView& k : view.keys) {
    json::object o;
    o["id"] = k.id;
    o["key"] = k.masked;
    o["status"] = k.status;
    if (k.status == "invalid") o["reason"] = ValidUtf8(k.reason);
    o["requests_today"] = k.requests_today;
    json::object models;
    for (const KeyModelView& m : k.models) {
      json::object mo;
      mo["requests"] = m.requests;
      mo["state"] = m.state;
      mo["until"] = m.until ? json::value(Rfc3339(*m.until)) : json::value(nullptr);
      mo["reason"] = m.reason.empty() ? json::value(nullptr) : json::value(ValidUtf8(m.reason));
      // Model names are checked before the pool keeps them; JSON stays valid UTF-8 anyway.
      models[ValidUtf8(m.model)] = std::move(mo);
    }
    o["models"] = std::move(models);
    keys.push_back(std::move(o));
  }
  root["keys"] = std::move(keys);
  return json::serialize(root);
}

std::string AdminClientsJson(const std::vector<ClientView>& clients) {
  namespace json = boost::json;
  json::array list;
  for (const ClientView& c : clients) {
    json::object limits;
    limits["rpm"] = c.spec.rpm;
    limits["rpd"] = c.spec.rpd;
    json::array models;
    for (const std::string& m : c.spec.models) models.emplace_back(ValidUtf8(m));
    limits["models"] = std::move(models);
    json::object by_model;
    for (const auto& [model, n] : c.by_model) by_model[ValidUtf8(model)] = n;
    json::object today;
    today["day"] = c.day;
    today["requests"] = c.today_requests;
    today["by_model"] = std::move(by_model);
    json::object refused;
    for (Refusal r : {Refusal::kMinute, Refusal::kDay, Refusal::kModel}) {
      refused[RefusalName(r)] = c.refused[static_cast<size_t>(r)];
    }
    json::object o;
    o["name"] = c.spec.name;
    o["limits"] = std::move(limits);
    o["today"] = std::move(today);
    o["minute"] = json::object{{"requests", c.minute_requests}};
    o["refused"] = std::move(refused);
    list.push_back(std::move(o));
  }
  return json::serialize(json::object{{"clients", std::move(list)}});
}

}  // namespace gkm
