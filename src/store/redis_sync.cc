#include "store/redis_sync.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <set>
#include <unordered_set>

#include "store/flusher.h"

namespace gkm {
namespace json = boost::json;

// ARGV: prefix, instance id, sequence number, now (Unix ms), retention (s), batch (JSON).
// Returns 1 when applied, 0 when this instance's number was applied before (a resend).
const char* const kApplyScript = R"LUA(
local P, inst = ARGV[1], ARGV[2]
local seq, now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local seqkey = P .. 'seq:' .. inst
local last = tonumber(redis.call('GET', seqkey) or '0')
if seq <= last then return 0 end
redis.call('SET', seqkey, seq, 'EX', ttl)
local b = cjson.decode(ARGV[6])
local out = {i = inst}
local changed = false
local function add(name, row)
  if not out[name] then out[name] = {} end
  table.insert(out[name], row)
  changed = true
end
local function ms(x) return string.format('%.0f', x) end
if b.u then
  local names = {'q', 'e', 'p', 'c', 't'}
  for _, r in ipairs(b.u) do
    local f = r[1] .. '|' .. r[2]
    if r[4] ~= 0 then
      local k = P .. 'req:' .. r[3]
      redis.call('HINCRBY', k, f, r[4])
      redis.call('EXPIRE', k, ttl)
    end
    local k = P .. 'use:' .. r[3]
    for j = 1, 5 do
      if r[4 + j] ~= 0 then redis.call('HINCRBY', k, f .. '|' .. names[j], r[4 + j]) end
    end
    redis.call('EXPIRE', k, ttl)
  end
  out.u = 1
  changed = true
end
if b.cu then
  for _, r in ipairs(b.cu) do
    local k = P .. 'creq:' .. r[3]
    redis.call('HINCRBY', k, r[1] .. '|' .. r[2], r[4])
    redis.call('EXPIRE', k, ttl)
  end
end
-- record-verdict: the later deadline wins; the state's key expires at its deadline (a day
-- state at the reset instant); "ok" clears a running state only when forced (a reset).
local function verdict(key, state, untl, reason, force)
  local cur = redis.call('GET', key)
  local cu = 0
  if cur then cu = tonumber(string.match(cur, '^(%d+)')) or 0 end
  if state == 'ok' then
    if cur and force == 1 then
      redis.call('DEL', key)
      return true
    end
    return false
  end
  if untl <= now or (cur and cu >= untl) then return false end
  redis.call('SET', key, ms(untl) .. '|' .. state .. '|' .. reason)
  redis.call('PEXPIREAT', key, ms(untl))
  return true
end
if b.s then
  for _, r in ipairs(b.s) do
    if verdict(P .. 'km:' .. r[1] .. '|' .. r[2], r[3], r[4], r[5], r[6]) then add('s', r) end
  end
end
if b.ps then
  for _, r in ipairs(b.ps) do
    if verdict(P .. 'pm:' .. r[1] .. '|' .. r[2], r[3], r[4], r[5], r[6]) then add('ps', r) end
  end
end
if b.st then
  for _, r in ipairs(b.st) do
    if r[2] == 'invalid' then
      redis.call('HSET', P .. 'status', r[1], r[3])
    else
      redis.call('HDEL', P .. 'status', r[1])
    end
    add('st', r)
  end
end
if b.l then
  for _, r in ipairs(b.l) do
    local f = r[1] .. '|' .. r[2] .. '|' .. r[3] .. '|' .. r[4]
    if r[5] < 0 then
      redis.call('HDEL', P .. 'limits', f)
    else
      redis.call('HSET', P .. 'limits', f, ms(r[5]))
    end
    add('l', r)
  end
end
if b.b then
  for _, r in ipairs(b.b) do
    redis.call('HSET', P .. 'bind', r[1] .. '|' .. r[2], r[3] .. '|' .. ms(r[4]) .. '|' .. ms(r[5]))
    add('b', r)
  end
end
if b.c then
  for _, r in ipairs(b.c) do redis.call('HSET', P .. 'cur', r[1], ms(r[2])) end
end
if changed then redis.call('PUBLISH', P .. 'events', cjson.encode(out)) end
return 1
)LUA";

namespace {

using Steady = std::chrono::steady_clock;

std::string RandomId() {
  unsigned char bytes[8];
  RAND_bytes(bytes, sizeof bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::string Str(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return "";
  return std::string(r->str, r->len);
}

int64_t Int(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string JStr(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : std::string();
}
int64_t JInt(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) return static_cast<int64_t>(v.as_uint64());
  if (v.is_double()) return static_cast<int64_t>(v.as_double());
  return 0;
}

// "until|state|reason" (the value of a state's key).
bool ParseStateValue(std::string_view v, int64_t* until, std::string* state, std::string* reason) {
  size_t a = v.find('|');
  if (a == std::string_view::npos) return false;
  size_t b = v.find('|', a + 1);
  if (b == std::string_view::npos) return false;
  *until = Int(v.substr(0, a));
  *state = std::string(v.substr(a + 1, b - a - 1));
  *reason = std::string(v.substr(b + 1));
  return true;
}

}  // namespace

std::string EncodeBatch(const Batch& b) {
  // An "ok" may clear another instance's running state only when it comes from a reset or a
  // revival (a status row for the key in the same batch, or a forgotten limit of the
  // project); an "ok" because a deadline passed must not clear a later one set elsewhere.
  std::unordered_set<std::string> reset_keys, reset_projects;
  bool any_revival = false;
  for (const auto& s : b.statuses) {
    reset_keys.insert(s.key_id);
    any_revival |= s.status == "active";
  }
  for (const auto& l : b.limits) {
    if (l.value < 0) reset_projects.insert(l.project);
  }
  json::object o;
  if (!b.usage.empty()) {
    json::array a;
    for (const auto& u : b.usage) {
      a.push_back(json::array{u.key_id.c_str(), u.model.c_str(), u.day.c_str(), u.requests,
                              u.rate_limited, u.errors, u.prompt_tokens, u.candidate_tokens,
                              u.thought_tokens});
    }
    o["u"] = std::move(a);
  }
  if (!b.client_usage.empty()) {
    json::array a;
    for (const auto& u : b.client_usage) {
      a.push_back(json::array{u.client.c_str(), u.model.c_str(), u.day.c_str(), u.requests});
    }
    o["cu"] = std::move(a);
  }
  if (!b.states.empty()) {
    json::array a;
    for (const auto& s : b.states) {
      a.push_back(json::array{s.key_id.c_str(), s.model.c_str(), s.state.c_str(), s.until_ms,
                              s.reason.c_str(), reset_keys.count(s.key_id) ? 1 : 0});
    }
    o["s"] = std::move(a);
  }
  if (!b.project_states.empty()) {
    json::array a;
    for (const auto& s : b.project_states) {
      const bool force = any_revival || reset_projects.count(s.project) > 0;
      a.push_back(json::array{s.project.c_str(), s.model.c_str(), s.state.c_str(), s.until_ms,
                              s.reason.c_str(), force ? 1 : 0});
    }
    o["ps"] = std::move(a);
  }
  if (!b.statuses.empty()) {
    json::array a;
    for (const auto& s : b.statuses) {
      a.push_back(json::array{s.key_id.c_str(), s.status.c_str(), s.reason.c_str()});
    }
    o["st"] = std::move(a);
  }
  if (!b.limits.empty()) {
    json::array a;
    for (const auto& l : b.limits) {
      a.push_back(json::array{l.project.c_str(), l.model.c_str(), l.window.c_str(),
                              l.metric.c_str(), l.value});
    }
    o["l"] = std::move(a);
  }
  if (!b.bindings.empty()) {
    json::array a;
    for (const auto& x : b.bindings) {
      a.push_back(json::array{x.kind.c_str(), x.name.c_str(), x.key_id.c_str(), x.created_ms,
                              x.expires_ms});
    }
    o["b"] = std::move(a);
  }
  if (!b.cursors.empty()) {
    json::array a;
    for (const auto& [model, pos] : b.cursors) a.push_back(json::array{model.c_str(), pos});
    o["c"] = std::move(a);
  }
  return json::serialize(o);
}

RedisSync::RedisSync(RedisOptions options, Sink sink)
    : opt_(std::move(options)),
      sink_(std::move(sink)),
      instance_(RandomId()),
      channel_(opt_.prefix + "events") {}

RedisSync::~RedisSync() { Stop(); }

bool RedisSync::Dial(std::string* error) {
  link_ = RedisLink::Open(opt_.url, opt_.timeout, error, opt_.tls.get());
  if (!link_) return false;
  Reply r = link_->Command({"SCRIPT", "LOAD", kApplyScript});
  if (!r || !ErrorOf(r.get()).empty() || r->type != REDIS_REPLY_STRING) {
    *error = "loading the scripts on " + opt_.url.Where() +
             " failed: " + (r ? ErrorOf(r.get()) : link_->error());
    link_.reset();
    return false;
  }
  apply_sha_ = Str(r.get());
  return true;
}

bool RedisSync::Connect(std::string* error) {
  if (!Dial(error)) return false;
  if (!Resync() || !ReadCounts()) {
    *error = "reading the shared state from " + opt_.url.Where() +
             " failed: " + (link_ ? link_->error() : std::string("connection lost"));
    link_.reset();
    return false;
  }
  up_ = true;
  return true;
}

void RedisSync::SetOwnBaseline(const std::vector<UsageDelta>& rows,
                               const std::vector<ClientUsageDelta>& client_rows) {
  own_day_ = sink_.today();
  for (const auto& u : rows) {
    if (u.day == own_day_) own_[u.key_id + "|" + u.model] += u.requests;
  }
  for (const auto& u : client_rows) {
    if (u.day == own_day_) own_clients_[u.client] += u.requests;
  }
}

void RedisSync::Start() {
  writer_ = std::thread([this] { WriterLoop(); });
  subscriber_ = std::thread([this] { SubscriberLoop(); });
}

void RedisSync::Stop() {
  if (stopping_.exchange(true)) return;
  cv_.notify_all();
  if (!writer_.joinable()) return;  // never started
  writer_.join();
  subscriber_.join();
  spdlog::info("redis: {} round trips made by the writer", round_trips());
}

void RedisSync::Enqueue(const Batch& batch) {
  if (batch.empty()) return;
  size_t dropped;
  {
    std::lock_guard lock(mu_);
    dropped = MergeForRetry(buffer_, Batch(batch), opt_.max_buffered_rows);
    buffered_rows_.store(RowCount(buffer_), std::memory_order_relaxed);
    wake_ = true;
  }
  if (dropped > 0) {
    spdlog::error("redis: the buffer is full ({} rows): {} older changes dropped",
                  opt_.max_buffered_rows, dropped);
  }
  cv_.notify_all();
}

void RedisSync::Down(const std::string& why) {
  link_.reset();
  if (up_.exchange(false)) {
    spdlog::warn(
        "redis: {} is unreachable ({}); requests go on with this instance's view, changes are "
        "buffered (at most {} rows) and applied when it is back",
        opt_.url.Where(), why, opt_.max_buffered_rows);
  }
}

bool RedisSync::Resync() {
  Loaded l;
  // States: one key each, found by SCAN (they expire on their own).
  for (const char* kind : {"km:", "pm:"}) {
    const std::string pattern = opt_.prefix + kind + "*";
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
      Reply r = link_->Command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      ++round_trips_;
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return false;
      cursor = Str(r->element[0]);
      for (size_t i = 0; i < r->element[1]->elements; ++i)
        keys.push_back(Str(r->element[1]->element[i]));
    } while (cursor != "0");
    for (const std::string& k : keys) link_->Send({"GET", k});
    std::vector<Reply> values = link_->Flush();
    if (!keys.empty()) ++round_trips_;
    if (values.size() != keys.size()) return false;
    const size_t skip = opt_.prefix.size() + 3;
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string_view name = std::string_view(keys[i]).substr(skip);
      int64_t until;
      std::string state, reason;
      if (!ParseStateValue(Str(values[i].get()), &until, &state, &reason)) continue;
      if (kind[0] == 'k') {
        size_t bar = name.find('|');
        if (bar == std::string_view::npos) continue;
        l.states.push_back({std::string(name.substr(0, bar)), std::string(name.substr(bar + 1)),
                            state, until, reason});
      } else {
        size_t bar = name.rfind('|');
        if (bar == std::string_view::npos) continue;
        l.project_states.push_back({std::string(name.substr(0, bar)),
                                    std::string(name.substr(bar + 1)), state, until, reason});
      }
    }
  }
  link_->Send({"HGETALL", opt_.prefix + "status"});
  link_->Send({"HGETALL", opt_.prefix + "limits"});
  link_->Send({"HGETALL", opt_.prefix + "bind"});
  std::vector<Reply> h = link_->Flush();
  ++round_trips_;
  if (h.size() != 3) return false;
  for (size_t i = 0; i + 1 < h[0]->elements; i += 2) {
    l.statuses.push_back({Str(h[0]->element[i]), "invalid", Str(h[0]->element[i + 1])});
  }
  for (size_t i = 0; i + 1 < h[1]->elements; i += 2) {
    // project|model|window|metric: the project may hold '|', the others do not.
    std::string f = Str(h[1]->element[i]);
    size_t c = f.rfind('|');
    size_t b = c == std::string::npos || c == 0 ? std::string::npos : f.rfind('|', c - 1);
    size_t a = b == std::string::npos || b == 0 ? std::string::npos : f.rfind('|', b - 1);
    if (a == std::string::npos) continue;
    l.limits.push_back({f.substr(0, a), f.substr(a + 1, b - a - 1), f.substr(b + 1, c - b - 1),
                        f.substr(c + 1), Int(Str(h[1]->element[i + 1])), 0});
  }
  const int64_t now = ToUnixMs(NowMs());
  std::vector<std::string> expired;
  for (size_t i = 0; i + 1 < h[2]->elements; i += 2) {
    std::string f = Str(h[2]->element[i]), v = Str(h[2]->element[i + 1]);
    size_t bar = f.find('|'), v1 = v.find('|'), v2 = v.rfind('|');
    if (bar == std::string::npos || v1 == std::string::npos || v2 == v1) continue;
    Binding x{f.substr(0, bar), f.substr(bar + 1), v.substr(0, v1),
              Int(v.substr(v1 + 1, v2 - v1 - 1)), Int(v.substr(v2 + 1))};
    if (x.expires_ms != 0 && x.expires_ms <= now) {
      expired.push_back(f);
      continue;
    }
    l.bindings.push_back(std::move(x));
  }
  if (!expired.empty()) {
    std::vector<std::string> del{"HDEL", opt_.prefix + "bind"};
    del.insert(del.end(), expired.begin(), expired.end());
    link_->Command(del);
    ++round_trips_;
  }
  sink_.apply(l);
  return link_->ok();
}

bool RedisSync::ReadCounts() {
  const std::string today = sink_.today();
  link_->Send({"HGETALL", opt_.prefix + "req:" + today});
  link_->Send({"HGETALL", opt_.prefix + "creq:" + today});
  std::vector<Reply> h = link_->Flush();
  ++round_trips_;
  if (h.size() != 2 || !h[0] || h[0]->type != REDIS_REPLY_ARRAY || !h[1] ||
      h[1]->type != REDIS_REPLY_ARRAY) {
    return false;
  }
  const redisReply* r = h[0].get();
  if (own_day_ != today) {
    own_.clear();
    own_clients_.clear();
    own_day_ = today;
  }
  if (sink_.client_today) {
    // "client|model" fields: a client's name holds no '|'.
    std::map<std::string, int64_t> clients;
    for (size_t i = 0; i + 1 < h[1]->elements; i += 2) {
      std::string f = Str(h[1]->element[i]);
      clients[f.substr(0, f.find('|'))] += Int(Str(h[1]->element[i + 1]));
    }
    for (auto& [name, n] : clients) {
      auto own = own_clients_.find(name);
      n = std::max<int64_t>(0, n - (own == own_clients_.end() ? 0 : own->second));
    }
    sink_.client_today(today, clients);
  }
  std::vector<UsageDelta> others;
  others.reserve(r->elements / 2);
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    std::string f = Str(r->element[i]);
    size_t bar = f.find('|');
    if (bar == std::string::npos) continue;
    int64_t total = Int(Str(r->element[i + 1]));
    auto own = own_.find(f);
    int64_t n = std::max<int64_t>(0, total - (own == own_.end() ? 0 : own->second));
    UsageDelta u;
    u.key_id = f.substr(0, bar);
    u.model = f.substr(bar + 1);
    u.day = today;
    u.requests = n;
    others.push_back(std::move(u));
  }
  sink_.counts(others);
  last_counts_ = Steady::now();
  next_counts_ = last_counts_ + std::chrono::seconds(5);
  return true;
}

std::vector<MinuteCount> OthersMinutes(int64_t minute,
                                       const std::vector<std::pair<std::string, int64_t>>& fields,
                                       const std::unordered_map<std::string, int64_t>* own) {
  std::map<std::string, MinuteCount> by;  // "project|model"
  for (const auto& [f, total] : fields) {
    const size_t kind = f.rfind('|');
    const size_t model =
        kind == std::string::npos || kind == 0 ? std::string::npos : f.rfind('|', kind - 1);
    if (model == std::string::npos || model == 0 || f.size() != kind + 2) continue;
    const char what = f[kind + 1];
    if (what != 'r' && what != 't') continue;
    int64_t n = total;
    if (own != nullptr) {
      if (auto it = own->find(f); it != own->end()) n -= it->second;
    }
    MinuteCount& c = by[f.substr(0, kind)];
    if (c.model.empty()) {
      c.project = f.substr(0, model);
      c.model = f.substr(model + 1, kind - model - 1);
      c.minute = minute;
    }
    (what == 'r' ? c.requests : c.tokens) = std::max<int64_t>(0, n);
  }
  std::vector<MinuteCount> out;
  out.reserve(by.size());
  for (auto& [_, c] : by) out.push_back(std::move(c));
  return out;
}

std::map<std::string, int64_t> OthersClientMinute(
    const std::map<std::string, int64_t>& current, const std::map<std::string, int64_t>& previous,
    const std::map<std::string, int64_t>* own_current,
    const std::map<std::string, int64_t>* own_previous, int64_t ms_into) {
  auto others = [](const std::map<std::string, int64_t>& totals,
                   const std::map<std::string, int64_t>* own, const std::string& name) {
    auto t = totals.find(name);
    int64_t n = t == totals.end() ? 0 : t->second;
    if (own != nullptr) {
      if (auto o = own->find(name); o != own->end()) n -= o->second;
    }
    return std::max<int64_t>(0, n);
  };
  const int64_t left = 60000 - std::clamp<int64_t>(ms_into, 0, 60000);
  std::map<std::string, int64_t> out;
  for (const auto* totals : {&current, &previous}) {
    for (const auto& [name, _] : *totals) {
      if (out.count(name)) continue;
      // The previous minute's requests are taken as spread evenly over it.
      out[name] = others(current, own_current, name) +
                  (others(previous, own_previous, name) * left + 59999) / 60000;
    }
  }
  return out;
}

void RedisSync::MinutesChanged() {
  {
    std::lock_guard lock(mu_);
    minutes_out_ = wake_ = true;
  }
  cv_.notify_all();
}

// Minute counts go straight to per-window hashes (HINCRBY, expiring after 3 minutes), not
// through the batch script: they are approximate by nature (a window lasts a minute), so an
// answer lost with the connection is not resent.
bool RedisSync::SendMinutes() {
  std::vector<MinuteCount> rows;
  if (sink_.take_minutes) rows = sink_.take_minutes();
  std::vector<ClientMinuteCount> clients;
  if (sink_.take_client_minutes) clients = sink_.take_client_minutes();
  if (rows.empty() && clients.empty()) return true;
  std::set<int64_t> windows, client_windows;
  for (const ClientMinuteCount& c : clients) {
    const std::string key = opt_.prefix + "crpm:" + std::to_string(c.minute);
    link_->Send({"HINCRBY", key, c.client, std::to_string(c.requests)});
    own_client_minutes_[c.minute][c.client] += c.requests;
    if (client_windows.insert(c.minute).second) link_->Send({"EXPIRE", key, "180"});
  }
  for (const MinuteCount& c : rows) {
    const std::string key = opt_.prefix + "rpm:" + std::to_string(c.minute);
    const std::string field = c.project + "|" + c.model + "|";
    auto& own = own_minutes_[c.minute];
    if (c.requests != 0) {
      link_->Send({"HINCRBY", key, field + "r", std::to_string(c.requests)});
      own[field + "r"] += c.requests;
    }
    if (c.tokens != 0) {
      link_->Send({"HINCRBY", key, field + "t", std::to_string(c.tokens)});
      own[field + "t"] += c.tokens;
    }
    if (windows.insert(c.minute).second) link_->Send({"EXPIRE", key, "180"});
  }
  link_->Send({"PUBLISH", channel_, R"({"i":")" + instance_ + R"(","m":1})"});
  link_->Flush();
  ++round_trips_;
  const int64_t current = ToUnixMs(NowMs()) / 60000;
  while (!own_minutes_.empty() && own_minutes_.begin()->first < current - 2) {
    own_minutes_.erase(own_minutes_.begin());
  }
  while (!own_client_minutes_.empty() && own_client_minutes_.begin()->first < current - 2) {
    own_client_minutes_.erase(own_client_minutes_.begin());
  }
  return link_->ok();
}

bool RedisSync::ReadMinutes() {
  if (!sink_.minutes && !sink_.client_minute) return true;
  // A window starts on a wall-clock minute or a phase past it: the current one is this
  // minute's or the previous one's.
  const int64_t now_ms = ToUnixMs(NowMs());
  const int64_t current = now_ms / 60000;
  link_->Send({"HGETALL", opt_.prefix + "rpm:" + std::to_string(current)});
  link_->Send({"HGETALL", opt_.prefix + "rpm:" + std::to_string(current - 1)});
  link_->Send({"HGETALL", opt_.prefix + "crpm:" + std::to_string(current)});
  link_->Send({"HGETALL", opt_.prefix + "crpm:" + std::to_string(current - 1)});
  std::vector<Reply> h = link_->Flush();
  ++round_trips_;
  if (h.size() != 4) return false;
  for (const Reply& x : h) {
    if (!x || x->type != REDIS_REPLY_ARRAY) return false;
  }
  if (sink_.client_minute) {
    std::map<std::string, int64_t> cur, prev;
    for (size_t j = 0; j + 1 < h[2]->elements; j += 2) {
      cur[Str(h[2]->element[j])] = Int(Str(h[2]->element[j + 1]));
    }
    for (size_t j = 0; j + 1 < h[3]->elements; j += 2) {
      prev[Str(h[3]->element[j])] = Int(Str(h[3]->element[j + 1]));
    }
    auto oc = own_client_minutes_.find(current), op = own_client_minutes_.find(current - 1);
    sink_.client_minute(OthersClientMinute(
        cur, prev, oc == own_client_minutes_.end() ? nullptr : &oc->second,
        op == own_client_minutes_.end() ? nullptr : &op->second, now_ms % 60000));
  }
  if (!sink_.minutes) return true;
  std::vector<MinuteCount> all;
  for (int i = 0; i < 2; ++i) {
    std::vector<std::pair<std::string, int64_t>> fields;
    for (size_t j = 0; j + 1 < h[i]->elements; j += 2) {
      fields.emplace_back(Str(h[i]->element[j]), Int(Str(h[i]->element[j + 1])));
    }
    const int64_t minute = current - i;
    auto own = own_minutes_.find(minute);
    std::vector<MinuteCount> rows =
        OthersMinutes(minute, fields, own == own_minutes_.end() ? nullptr : &own->second);
    all.insert(all.end(), std::make_move_iterator(rows.begin()),
               std::make_move_iterator(rows.end()));
  }
  sink_.minutes(all);
  next_minutes_ = Steady::now() + std::chrono::seconds(1);
  return true;
}

bool RedisSync::SendPending() {
  for (int round = 0; round < 4; ++round) {
    if (inflight_.empty()) {
      Batch b;
      {
        std::lock_guard lock(mu_);
        b = std::exchange(buffer_, Batch{});
        buffered_rows_.store(0, std::memory_order_relaxed);
      }
      if (b.empty()) return true;
      inflight_ = EncodeBatch(b);
      inflight_usage_ = std::move(b.usage);
      inflight_clients_ = std::move(b.client_usage);
      inflight_seq_ = ++seq_;
    }
    Reply r = link_->Command({"EVALSHA", apply_sha_, "0", opt_.prefix, instance_,
                              std::to_string(inflight_seq_), std::to_string(ToUnixMs(NowMs())),
                              std::to_string(opt_.retention.count()), inflight_});
    ++round_trips_;
    if (!r) return false;  // the outcome is not known: sent again, with the same number
    if (std::string e = ErrorOf(r.get()); !e.empty()) {
      if (e.starts_with("NOSCRIPT")) {
        Reply load = link_->Command({"SCRIPT", "LOAD", kApplyScript});
        ++round_trips_;
        if (!load) return false;
        apply_sha_ = Str(load.get());
        continue;
      }
      if (e.starts_with("LOADING") || e.starts_with("BUSY") || e.starts_with("MASTERDOWN") ||
          e.starts_with("READONLY") || e.starts_with("NOAUTH")) {
        link_.reset();  // Redis is not ready: dial again later
        return false;
      }
      spdlog::error("redis: a batch of changes was refused and is dropped: {}", e);
    } else {
      const std::string today = sink_.today();
      if (own_day_ != today) {
        own_.clear();
        own_clients_.clear();
        own_day_ = today;
      }
      for (const UsageDelta& u : inflight_usage_) {
        if (u.day == today) own_[u.key_id + "|" + u.model] += u.requests;
      }
      for (const ClientUsageDelta& u : inflight_clients_) {
        if (u.day == today) own_clients_[u.client] += u.requests;
      }
    }
    inflight_.clear();
    inflight_usage_.clear();
    inflight_clients_.clear();
  }
  return true;
}

void RedisSync::WriterLoop() {
  auto next_dial = Steady::now();
  int stop_tries = 0;
  for (;;) {
    if (stopping_.load() && ++stop_tries > 3) {
      spdlog::error("redis: stopping with changes not applied ({} rows buffered)",
                    buffered_rows_.load() + (inflight_.empty() ? 0 : inflight_usage_.size()));
      return;
    }
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [this] { return wake_ || stopping_.load(); });
      wake_ = false;
    }
    const bool stopping = stopping_.load();
    const auto now = Steady::now();
    if (!link_ || !link_->ok()) {
      if (link_) Down(link_->error());
      // Minute counts are not buffered through an outage (their windows end first).
      bool minutes_out;
      {
        std::lock_guard lock(mu_);
        minutes_out = std::exchange(minutes_out_, false);
      }
      if (minutes_out && sink_.take_minutes) (void)sink_.take_minutes();
      if (minutes_out && sink_.take_client_minutes) (void)sink_.take_client_minutes();
      if (now < next_dial && !stopping) continue;
      std::string error;
      if (!Dial(&error)) {
        Down(error);
        if (stopping) {
          if (!inflight_.empty() || buffered_rows_.load() > 0) {
            spdlog::error("redis: stopping with changes not applied ({})", error);
          }
          return;
        }
        next_dial = now + std::chrono::seconds(1);
        continue;
      }
      std::lock_guard lock(mu_);
      resync_due_ = counts_due_ = true;
    }
    bool resync, counts;
    {
      std::lock_guard lock(mu_);
      resync = std::exchange(resync_due_, false);
      counts = counts_due_;
    }
    bool minutes_out, minutes_in;
    {
      std::lock_guard lock(mu_);
      minutes_out = std::exchange(minutes_out_, false);
      minutes_in = std::exchange(minutes_due_, false) || now >= next_minutes_;
    }
    bool ok = true;
    if (minutes_out) ok = SendMinutes();  // first: other instances pace by them
    if (ok && minutes_in) ok = ReadMinutes();
    if (ok) ok = SendPending();
    if (ok && resync) ok = Resync();
    if (ok &&
        ((counts && now - last_counts_ >= std::chrono::milliseconds(100)) || now >= next_counts_)) {
      {
        std::lock_guard lock(mu_);
        counts_due_ = false;
      }
      ok = ReadCounts();
    }
    if (!ok || !link_ || !link_->ok()) {
      std::lock_guard lock(mu_);
      if (resync) resync_due_ = true;
      if (minutes_in) minutes_due_ = true;
      continue;  // Down() on the next turn
    }
    if (!up_.exchange(true)) {
      spdlog::info("redis: {} answers again; shared state resumed", opt_.url.Where());
    }
    if (stopping) return;
  }
}

void RedisSync::SubscriberLoop() {
  while (!stopping_) {
    std::string error;
    auto sub = RedisLink::Open(opt_.url, opt_.timeout, &error, opt_.tls.get());
    if (sub) {
      sub->Send({"SUBSCRIBE", channel_});
      if (sub->Flush().empty()) sub.reset();
    }
    if (!sub) {
      for (int i = 0; i < 4 && !stopping_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      continue;
    }
    {
      // Changes announced while this instance was not listening were missed.
      std::lock_guard lock(mu_);
      resync_due_ = counts_due_ = wake_ = true;
    }
    cv_.notify_all();
    while (!stopping_ && sub->ok()) {
      Reply m = sub->Receive(std::chrono::milliseconds(250));
      if (!m || m->type != REDIS_REPLY_ARRAY || m->elements != 3) continue;
      if (Str(m->element[0]) != "message") continue;
      ApplyMessage(Str(m->element[2]));
    }
  }
}

void RedisSync::ApplyMessage(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return;
  const json::object& o = v.as_object();
  if (const json::value* i = o.if_contains("i"); !i || JStr(*i) == instance_) return;
  auto rows = [&o](const char* name) -> const json::array* {
    const json::value* a = o.if_contains(name);
    return a && a->is_array() ? &a->as_array() : nullptr;
  };
  auto row = [](const json::value& r, size_t n) -> const json::array* {
    return r.is_array() && r.as_array().size() >= n ? &r.as_array() : nullptr;
  };
  Loaded l;
  if (auto* a = rows("s")) {
    for (const auto& x : *a) {
      if (auto* r = row(x, 5)) {
        l.states.push_back(
            {JStr((*r)[0]), JStr((*r)[1]), JStr((*r)[2]), JInt((*r)[3]), JStr((*r)[4])});
      }
    }
  }
  if (auto* a = rows("ps")) {
    for (const auto& x : *a) {
      if (auto* r = row(x, 5)) {
        l.project_states.push_back(
            {JStr((*r)[0]), JStr((*r)[1]), JStr((*r)[2]), JInt((*r)[3]), JStr((*r)[4])});
      }
    }
  }
  if (auto* a = rows("st")) {
    for (const auto& x : *a) {
      if (auto* r = row(x, 3)) l.statuses.push_back({JStr((*r)[0]), JStr((*r)[1]), JStr((*r)[2])});
    }
  }
  if (auto* a = rows("l")) {
    for (const auto& x : *a) {
      if (auto* r = row(x, 5)) {
        l.limits.push_back(
            {JStr((*r)[0]), JStr((*r)[1]), JStr((*r)[2]), JStr((*r)[3]), JInt((*r)[4]), 0});
      }
    }
  }
  if (auto* a = rows("b")) {
    for (const auto& x : *a) {
      if (auto* r = row(x, 5)) {
        l.bindings.push_back(
            {JStr((*r)[0]), JStr((*r)[1]), JStr((*r)[2]), JInt((*r)[3]), JInt((*r)[4])});
      }
    }
  }
  if (!l.states.empty() || !l.project_states.empty() || !l.statuses.empty() || !l.limits.empty() ||
      !l.bindings.empty()) {
    sink_.apply(l);
  }
  if (o.contains("u") || o.contains("m")) {
    {
      std::lock_guard lock(mu_);
      if (o.contains("u")) counts_due_ = true;
      if (o.contains("m")) minutes_due_ = true;
      wake_ = true;
    }
    cv_.notify_all();
  }
}

std::vector<UsageFact> ParseSharedDay(const std::string& day, const RedisFields& req,
                                      const RedisFields& use, const RedisFields& creq) {
  std::map<std::pair<std::string, std::string>, UsageFact> keys, clients;
  auto fact = [&day](auto& into, const std::string& who, const std::string& model,
                     bool client) -> UsageFact& {
    UsageFact& f = into[{who, model}];
    if (f.day.empty()) {
      (client ? f.client : f.key_id) = who;
      f.model = model;
      f.day = day;
    }
    return f;
  };
  for (const auto& [field, n] : req) {
    const size_t bar = field.find('|');
    if (bar == std::string::npos || bar == 0) continue;
    fact(keys, field.substr(0, bar), field.substr(bar + 1), false).metrics[0] += n;
  }
  static constexpr std::string_view kLetters = "qepct";  // metrics 1..5
  for (const auto& [field, n] : use) {
    const size_t bar = field.find('|'), last = field.rfind('|');
    if (bar == std::string::npos || bar == 0 || last == bar || last + 2 != field.size()) continue;
    const size_t m = kLetters.find(field[last + 1]);
    if (m == std::string_view::npos) continue;
    fact(keys, field.substr(0, bar), field.substr(bar + 1, last - bar - 1), false).metrics[m + 1] +=
        n;
  }
  for (const auto& [field, n] : creq) {
    const size_t bar = field.find('|');
    if (bar == std::string::npos || bar == 0) continue;
    fact(clients, field.substr(0, bar), field.substr(bar + 1), true).metrics[0] += n;
  }
  std::vector<UsageFact> out;
  out.reserve(keys.size() + clients.size());
  for (auto& [_, f] : keys) out.push_back(std::move(f));
  for (auto& [_, f] : clients) out.push_back(std::move(f));
  return out;
}

bool RedisDayReader::Read(const std::string& day, std::vector<UsageFact>* out, std::string* error) {
  if (!link_ || !link_->ok()) {
    link_ = RedisLink::Open(opt_.url, opt_.timeout, error, opt_.tls.get());
    if (!link_) return false;
  }
  for (const char* kind : {"req:", "use:", "creq:"}) {
    link_->Send({"HGETALL", opt_.prefix + kind + day});
  }
  std::vector<Reply> h = link_->Flush();
  RedisFields fields[3];
  for (size_t i = 0; i < 3; ++i) {
    if (h.size() != 3 || !h[i] || h[i]->type != REDIS_REPLY_ARRAY) {
      *error = "reading today's counters from " + opt_.url.Where() + " failed: " + link_->error();
      link_.reset();
      return false;
    }
    for (size_t j = 0; j + 1 < h[i]->elements; j += 2) {
      fields[i].emplace_back(Str(h[i]->element[j]), Int(Str(h[i]->element[j + 1])));
    }
  }
  *out = ParseSharedDay(day, fields[0], fields[1], fields[2]);
  return true;
}

}  // namespace gkm
