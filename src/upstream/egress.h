// Egress: which proxy, if any, each key's upstream connections go through (SPEC 2.1
// --upstream-proxy, 2.2 proxy=).
//
// In order: the key file's proxy= for that key; else, with --upstream-proxy, the proxy of
// the list that rendezvous hashing of the key's id picks (so that Google sees each key
// from one address, and removing a proxy moves only its keys); else, without the flag,
// HTTPS_PROXY unless NO_PROXY exempts the upstream host (resolved by LoadConfig into
// Config::env_proxy); else direct. A key whose proxy= cannot be parsed is never sent
// direct: its connections fail (a transient failure naming the problem).
//
// Shared by every I/O thread: ForKey() and SetKeyProxies() (on reload) lock inside.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/proxy_url.h"
#include "config/config.h"

namespace gkm {

// How one key's connections leave: through `proxy`, or not at all (`broken` says why).
struct EgressRoute {
  ProxyUrl proxy;
  std::string broken;  // non-empty: the key's proxy= is unusable; never go direct
  // The pooling key of connections through this route: the proxy with its credentials (two
  // users of one proxy host may leave from different addresses). Never logged.
  std::string pool_key;
};

class Egress {
 public:
  // From --upstream-proxy (already validated) or Config::env_proxy. *error when a URL does
  // not parse (LoadConfig checked them; this is a second line of defence).
  static std::shared_ptr<Egress> Make(const Config& config, std::string* error);

  // Replaces the per-key pins (key id -> proxy= URL as written). Problems (one line each,
  // passwords redacted) are returned for the log.
  std::vector<std::string> SetKeyProxies(const std::map<std::string, std::string>& pins);

  // The route of a key's connections; null: direct.
  std::shared_ptr<const EgressRoute> ForKey(const std::string& key_id) const;

  // "direct", "3 proxies (rendezvous by key)", "HTTPS_PROXY http://...": for the start-up log.
  std::string Describe() const;

 private:
  std::vector<std::shared_ptr<const EgressRoute>> list_;  // --upstream-proxy, or HTTPS_PROXY
  std::vector<std::string> identities_;                   // of list_, for rendezvous
  std::string source_;                                    // "--upstream-proxy", "HTTPS_PROXY"
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const EgressRoute>, std::less<>> pins_;
};

// A route for a parsed proxy URL.
std::shared_ptr<const EgressRoute> MakeRoute(ProxyUrl proxy);

}  // namespace gkm
