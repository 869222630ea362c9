// Egress proxy URLs (SPEC 2.1 --upstream-proxy, 2.2 proxy=): parsing, the NO_PROXY rules of
// the environment, and the rendezvous choice that pins each key to one proxy of a list.
//
// A proxy URL is http://[user:pass@]host:port (HTTP CONNECT, RFC 9110 9.3.6, with Basic
// authentication when a user is given) or socks5://[user:pass@]host:port (RFC 1928, the
// proxy client resolves the upstream's name and sends its address) or
// socks5h://[user:pass@]host:port (the proxy resolves the name). The user and password may
// be percent-encoded. https:// proxies (TLS to the proxy itself) are refused. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gkm {

struct ProxyUrl {
  enum class Scheme { kHttp, kSocks5, kSocks5h };
  Scheme scheme = Scheme::kHttp;
  std::string user;      // decoded; empty: no authentication
  std::string password;  // decoded
  bool has_auth = false;
  std::string host;  // a name, an IPv4 address or an IPv6 address without brackets
  uint16_t port = 0;
  // scheme://host:port without the user and password: the proxy's identity (rendezvous
  // hashing, connection pooling, metrics) — a changed password does not move keys.
  std::string identity;
  // The URL for messages and logs: the password replaced by "***".
  std::string redacted;
};

// The parsed URL, or nullopt with *error (one line, never the password).
std::optional<ProxyUrl> ParseProxyUrl(std::string_view url, std::string* error);

// True when NO_PROXY (comma or space separated entries) exempts `host`: "*" exempts all; an
// entry equal to the host (names case-insensitive, IPv6 with or without brackets), a domain
// entry ("example.com" or ".example.com") exempts the domain and its subdomains, an
// address/prefix entry (10.0.0.0/8, fd00::/8) exempts addresses in it. An entry with
// ":port" applies only to that port.
bool NoProxyMatches(std::string_view no_proxy, std::string_view host, uint16_t port);

// The index in `identities` with the highest rendezvous weight for `key_id` (highest random
// weight hashing: removing a proxy moves only the keys it had, adding one takes a fair share
// from each). `identities` must not be empty. Stable across runs and machines.
size_t RendezvousPick(std::string_view key_id, const std::vector<std::string>& identities);

}  // namespace gkm
