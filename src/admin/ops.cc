#include "admin/ops.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cmath>
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
    o["project"] = k.project.empty() ? json::value(nullptr) : json::value(k.project);
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

namespace {

boost::json::value Limit(int64_t v) {
  return v < 0 ? boost::json::value(nullptr) : boost::json::value(v);
}

boost::json::object Limits(const QuotaLimits& l) {
  boost::json::object o;
  o["rpm"] = Limit(l.rpm);
  o["rpd"] = Limit(l.rpd);
  o["tpm"] = Limit(l.tpm);
  return o;
}

}  // namespace

std::string AdminCapacityJson(const CapacityView& view, TimePoint now) {
  namespace json = boost::json;
  json::object root;
  root["day"] = view.day;
  root["next_reset"] = Rfc3339(view.next_reset);
  json::array models;
  // Today's rate: what was sent since the reset, per hour of the day so far.
  const double hours = std::max(
      1.0 / 60, std::chrono::duration<double, std::ratio<3600>>(now - view.day_start).count());
  for (const ModelCapacity& m : view.models) {
    json::object mo;
    mo["model"] = ValidUtf8(m.model);
    mo["used_today"] = m.used_today;
    mo["limit_today"] = Limit(m.limit_today);
    mo["left_today"] = Limit(m.left_today);
    mo["projects_unknown"] = m.projects_unknown;
    const double rate = static_cast<double>(m.used_today) / hours;
    mo["rate_per_hour"] = std::round(rate * 10) / 10;
    // When the known budget runs out at today's rate: null when nothing is known, nothing
    // is used, or it lasts past the reset.
    json::value runs_out = nullptr;
    if (m.left_today >= 0 && m.projects_unknown == 0 && rate > 0) {
      const auto at = now + std::chrono::milliseconds(static_cast<int64_t>(
                                static_cast<double>(m.left_today) / rate * 3600000.0));
      if (at < view.next_reset) runs_out = Rfc3339(at);
    }
    mo["runs_out_at"] = std::move(runs_out);
    json::array projects;
    for (const ProjectCapacity& p : m.projects) {
      json::object po;
      po["project"] = p.project.empty() ? json::value(nullptr) : json::value(p.project);
      if (!p.key_id.empty()) po["key_id"] = p.key_id;
      po["keys"] = p.keys;
      po["limits"] = Limits(p.limits);
      po["learned"] = Limits(p.learned);
      po["used_today"] = p.used_today;
      po["left_today"] = p.limits.rpd < 0 ? json::value(nullptr)
                         : p.state == "exhausted"
                             ? json::value(0)
                             : json::value(std::max<int64_t>(0, p.limits.rpd - p.used_today));
      po["used_this_minute"] = p.minute_used;
      po["state"] = p.state;
      po["until"] = p.until ? json::value(Rfc3339(*p.until)) : json::value(nullptr);
      po["reason"] = p.reason.empty() ? json::value(nullptr) : json::value(ValidUtf8(p.reason));
      projects.push_back(std::move(po));
    }
    mo["projects"] = std::move(projects);
    models.push_back(std::move(mo));
  }
  root["models"] = std::move(models);
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
