#include "upstream/egress.h"

namespace gkm {

std::shared_ptr<const EgressRoute> MakeRoute(ProxyUrl proxy) {
  auto r = std::make_shared<EgressRoute>();
  r->pool_key = proxy.identity;
  if (proxy.has_auth) {
    // Length-prefixed, so that no user or password can imitate another pair.
    r->pool_key += " " + std::to_string(proxy.user.size()) + ":" + proxy.user + " " +
                   std::to_string(proxy.password.size()) + ":" + proxy.password;
  }
  r->proxy = std::move(proxy);
  return r;
}

std::shared_ptr<Egress> Egress::Make(const Config& config, std::string* error) {
  auto e = std::make_shared<Egress>();
  std::vector<std::string> urls = config.upstream_proxies;
  e->source_ = "--upstream-proxy";
  if (urls.empty() && !config.env_proxy.empty()) {
    urls.push_back(config.env_proxy);
    e->source_ = config.env_proxy_name;
  }
  for (const std::string& url : urls) {
    std::string why;
    auto parsed = ParseProxyUrl(url, &why);
    if (!parsed) {
      *error = e->source_ + ": the proxy URL " + why;
      return nullptr;
    }
    e->identities_.push_back(parsed->identity);
    e->list_.push_back(MakeRoute(std::move(*parsed)));
  }
  return e;
}

std::vector<std::string> Egress::SetKeyProxies(const std::map<std::string, std::string>& pins) {
  std::vector<std::string> problems;
  std::map<std::string, std::shared_ptr<const EgressRoute>, std::less<>> next;
  for (const auto& [id, url] : pins) {
    std::string why;
    auto parsed = ParseProxyUrl(url, &why);
    if (parsed) {
      next.emplace(id, MakeRoute(std::move(*parsed)));
      continue;
    }
    auto broken = std::make_shared<EgressRoute>();
    broken->broken = "the key's proxy= URL " + why;
    problems.push_back("key " + id + ": the proxy= URL " + why +
                       ": the key's requests fail until the key file is fixed (never sent direct)");
    next.emplace(id, std::move(broken));
  }
  std::lock_guard lock(mu_);
  pins_ = std::move(next);
  return problems;
}

std::shared_ptr<const EgressRoute> Egress::ForKey(const std::string& key_id) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = pins_.find(key_id); it != pins_.end()) return it->second;
  }
  if (list_.empty()) return nullptr;
  if (list_.size() == 1) return list_.front();
  return list_[RendezvousPick(key_id, identities_)];
}

std::string Egress::Describe() const {
  std::string out;
  if (list_.empty()) {
    out = "direct";
  } else if (list_.size() == 1) {
    out = "through " + list_.front()->proxy.redacted + " (" + source_ + ")";
  } else {
    out = "through " + std::to_string(list_.size()) + " proxies, each key pinned to one";
  }
  std::lock_guard lock(mu_);
  if (!pins_.empty()) out += "; " + std::to_string(pins_.size()) + " keys pinned by proxy=";
  return out;
}

}  // namespace gkm
