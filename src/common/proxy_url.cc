#include "common/proxy_url.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>

#include "common/names.h"

namespace gkm {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ValidHostName(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

uint64_t Mix(uint64_t h) {  // splitmix64's finalizer
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

uint64_t Fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The address of an address/prefix entry contains `a`.
bool InPrefix(const boost::asio::ip::address& a, const boost::asio::ip::address& net,
              unsigned bits) {
  if (a.is_v4() != net.is_v4()) return false;
  auto compare = [bits](const auto& x, const auto& y) {
    unsigned left = bits;
    for (size_t i = 0; i < x.size() && left > 0; ++i) {
      unsigned take = left >= 8 ? 8 : left;
      unsigned mask = (0xffu << (8 - take)) & 0xffu;
      if ((x[i] & mask) != (y[i] & mask)) return false;
      left -= take;
    }
    return true;
  };
  if (a.is_v4()) return compare(a.to_v4().to_bytes(), net.to_v4().to_bytes());
  return compare(a.to_v6().to_bytes(), net.to_v6().to_bytes());
}

}  // namespace

std::optional<ProxyUrl> ParseProxyUrl(std::string_view url, std::string* error) {
  ProxyUrl p;
  std::string_view rest;
  const size_t sep = url.find("://");
  const std::string scheme = Lower(sep == std::string_view::npos ? "" : url.substr(0, sep));
  if (scheme == "http") {
    p.scheme = ProxyUrl::Scheme::kHttp;
  } else if (scheme == "socks5") {
    p.scheme = ProxyUrl::Scheme::kSocks5;
  } else if (scheme == "socks5h") {
    p.scheme = ProxyUrl::Scheme::kSocks5h;
  } else if (scheme == "https") {
    *error =
        "https:// proxies (TLS to the proxy) are not supported; use http:// (CONNECT), "
        "socks5:// or socks5h://";
    return std::nullopt;
  } else {
    *error = "must start with http://, socks5:// or socks5h://";
    return std::nullopt;
  }
  rest = url.substr(sep + 3);
  for (unsigned char c : rest) {
    if (c <= 0x20 || c >= 0x7f) {
      *error = "contains a space, a control character or a non-ASCII byte";
      return std::nullopt;
    }
  }
  // A trailing "/" is tolerated (HTTPS_PROXY=http://host:3128/ is common); nothing else.
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    *error = "must be scheme://[user:password@]host:port with no path";
    return std::nullopt;
  }
  std::string_view userinfo;
  std::string_view authority = rest;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    userinfo = rest.substr(0, at);
    authority = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    std::string_view user = userinfo.substr(0, colon);
    std::string_view pass =
        colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1);
    auto user_text = PercentDecode(user);
    auto pass_text = PercentDecode(pass);
    if (!user_text || !pass_text) {
      *error = "has a malformed %-escape in its user or password";
      return std::nullopt;
    }
    p.user = std::move(*user_text);
    p.password = std::move(*pass_text);
    if (p.user.empty()) {
      *error = "has a password but no user name";
      return std::nullopt;
    }
    if (p.scheme != ProxyUrl::Scheme::kHttp && (p.user.size() > 255 || p.password.size() > 255)) {
      *error = "SOCKS5 user names and passwords are at most 255 bytes";
      return std::nullopt;
    }
    p.has_auth = true;
  }
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = "has an unclosed '[' in its host";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.starts_with(":")) {
      *error = "needs a port (host:port)";
      return std::nullopt;
    }
    port = after.substr(1);
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address_v6(std::string(host), ec);
    if (ec) {
      *error = "has a malformed IPv6 address in brackets";
      return std::nullopt;
    }
    (void)a;
  } else {
    const size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos) {
      *error = "needs a port (host:port)";
      return std::nullopt;
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (!ValidHostName(host)) {
      *error = host.empty() ? "has no host" : "has a malformed host name";
      return std::nullopt;
    }
  }
  uint32_t n = 0;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      n = 0;
      break;
    }
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n == 0 || n > 65535 || port.size() > 5) {
    *error = "has no valid port (1..65535)";
    return std::nullopt;
  }
  p.host = Lower(host);
  p.port = static_cast<uint16_t>(n);
  const std::string host_text = p.host.find(':') != std::string::npos ? "[" + p.host + "]" : p.host;
  p.identity = scheme + "://" + host_text + ":" + std::to_string(p.port);
  p.redacted = p.has_auth ? scheme + "://" + std::string(userinfo.substr(0, userinfo.find(':'))) +
                                (userinfo.find(':') != std::string_view::npos ? ":***" : "") + "@" +
                                host_text + ":" + std::to_string(p.port)
                          : p.identity;
  return p;
}

bool NoProxyMatches(std::string_view no_proxy, std::string_view host, uint16_t port) {
  std::string h = Lower(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  while (!h.empty() && h.back() == '.') h.pop_back();
  boost::system::error_code hec;
  const auto host_addr = boost::asio::ip::make_address(h, hec);
  const bool host_is_ip = !hec;
  size_t i = 0;
  while (i < no_proxy.size()) {
    size_t end = no_proxy.find_first_of(", \t", i);
    if (end == std::string_view::npos) end = no_proxy.size();
    std::string e = Lower(no_proxy.substr(i, end - i));
    i = end + 1;
    if (e.empty()) continue;
    if (e == "*") return true;
    // An optional ":port" (after a bracketed IPv6 address, or the only ':' of a name/IPv4).
    std::optional<uint32_t> entry_port;
    auto split_port = [&](size_t colon) {
      std::string digits = e.substr(colon + 1);
      if (digits.empty() || digits.size() > 5 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        return false;
      }
      entry_port = static_cast<uint32_t>(std::stoul(digits));
      e.resize(colon);
      return true;
    };
    if (e.front() == '[') {
      const size_t close = e.find(']');
      if (close == std::string::npos) continue;
      if (close + 1 < e.size() && (e[close + 1] != ':' || !split_port(close + 1))) continue;
      e = e.substr(1, close - 1);
    } else if (std::count(e.begin(), e.end(), ':') == 1) {
      if (!split_port(e.find(':'))) continue;
    }
    if (entry_port && *entry_port != port) continue;
    if (const size_t slash = e.find('/'); slash != std::string::npos) {
      if (!host_is_ip) continue;
      boost::system::error_code ec;
      auto net = boost::asio::ip::make_address(e.substr(0, slash), ec);
      const std::string bits_text = e.substr(slash + 1);
      if (ec || bits_text.empty() || bits_text.size() > 3 ||
          bits_text.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      const unsigned bits = static_cast<unsigned>(std::stoul(bits_text));
      if (bits > (net.is_v4() ? 32u : 128u)) continue;
      if (InPrefix(host_addr, net, bits)) return true;
      continue;
    }
    if (host_is_ip) {
      boost::system::error_code ec;
      auto a = boost::asio::ip::make_address(e, ec);
      if (!ec && a == host_addr) return true;
      continue;
    }
    if (e.front() == '.') e.erase(0, 1);
    while (!e.empty() && e.back() == '.') e.pop_back();
    if (e.empty()) continue;
    if (h == e || (h.size() > e.size() && h.ends_with(e) && h[h.size() - e.size() - 1] == '.')) {
      return true;
    }
  }
  return false;
}

size_t RendezvousPick(std::string_view key_id, const std::vector<std::string>& identities) {
  size_t best = 0;
  uint64_t best_weight = 0;
  for (size_t i = 0; i < identities.size(); ++i) {
    uint64_t h = Fnv1a(0xcbf29ce484222325ULL, key_id);
    h = Fnv1a(h, std::string_view("\0", 1));
    h = Mix(Fnv1a(h, identities[i]));
    // Ties (never in practice) go to the lower identity, so the order of the list is moot.
    if (i == 0 || h > best_weight || (h == best_weight && identities[i] < identities[best])) {
      best = i;
      best_weight = h;
    }
  }
  return best;
}

}  // namespace gkm
