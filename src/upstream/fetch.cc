#include "upstream/fetch.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace gkm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

struct ParsedUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

std::optional<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl u;
  if (url.starts_with("https://")) {
    u.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  size_t slash = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, slash);
  std::string_view rest = slash == std::string_view::npos ? "/" : url.substr(slash);
  if (rest.front() != '/') rest = "/";  // "?q" or "#f" directly after the host
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  if (authority.find('@') != std::string_view::npos || authority.empty()) return std::nullopt;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() == ':') u.port = std::string(after.substr(1));
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.host.empty()) return std::nullopt;
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  for (char c : u.port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  u.target = std::string(rest);
  return u;
}

template <class Stream>
asio::awaitable<std::variant<Fetched, std::string>> Exchange(
    Stream& stream, beast::tcp_stream& tcp, const ParsedUrl& u,
    std::chrono::steady_clock::time_point deadline, const FetchLimits& limits,
    std::string* redirect) {
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "gemini-key-manager");
  req.set(http::field::accept, "image/*, audio/*");
  tcp.expires_at(deadline);
  auto [wec, wn] = co_await http::async_write(stream, req, as_tuple(use_awaitable));
  (void)wn;
  if (wec) co_return "sending the request failed: " + wec.message();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(limits.max_bytes);
  tcp.expires_at(deadline);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
  (void)rn;
  if (rec == http::error::body_limit) {
    co_return "the image is larger than " + std::to_string(limits.max_bytes) + " bytes";
  }
  if (rec == beast::error::timeout) co_return std::string("timed out");
  if (rec) co_return "reading the answer failed: " + rec.message();
  auto& res = parser.get();
  int status = res.result_int();
  if (status >= 300 && status < 400) {
    auto loc = res.find(http::field::location);
    if (loc == res.end()) co_return "redirect without a Location";
    *redirect = std::string(loc->value());
    co_return std::string();
  }
  if (status != 200) co_return "the server answered " + std::to_string(status);
  std::string mime(res[http::field::content_type]);
  if (size_t semi = mime.find(';'); semi != std::string::npos) mime.resize(semi);
  while (!mime.empty() && mime.back() == ' ') mime.pop_back();
  for (auto& c : mime) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!mime.starts_with("image/") && !mime.starts_with("audio/")) {
    co_return "the content type '" + mime + "' is not an image";
  }
  if (mime == "image/jpg") mime = "image/jpeg";
  co_return Fetched{mime, std::move(res.body())};
}

}  // namespace

std::shared_ptr<asio::ssl::context> MakeFetchTls() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  ctx->set_default_verify_paths(ec);
  return ctx;
}

namespace {

bool PrivateV4(const asio::ip::address_v4::bytes_type& b) {
  return b[0] == 0                                      // 0.0.0.0/8 "this network"
         || b[0] == 10                                  // 10/8 private
         || (b[0] == 100 && (b[1] & 0xc0) == 64)        // 100.64/10 carrier-grade NAT
         || b[0] == 127                                 // loopback
         || (b[0] == 169 && b[1] == 254)                // link-local (cloud metadata)
         || (b[0] == 172 && (b[1] & 0xf0) == 16)        // 172.16/12 private
         || (b[0] == 192 && b[1] == 0 && b[2] == 0)     // 192.0.0/24 IETF protocol assignments
         || (b[0] == 192 && b[1] == 0 && b[2] == 2)     // TEST-NET-1
         || (b[0] == 192 && b[1] == 88 && b[2] == 99)   // 6to4 relay anycast
         || (b[0] == 192 && b[1] == 168)                // 192.168/16 private
         || (b[0] == 198 && (b[1] & 0xfe) == 18)        // 198.18/15 benchmarking
         || (b[0] == 198 && b[1] == 51 && b[2] == 100)  // TEST-NET-2
         || (b[0] == 203 && b[1] == 0 && b[2] == 113)   // TEST-NET-3
         || b[0] >= 224;  // multicast 224/4, reserved 240/4, broadcast 255.255.255.255
}

asio::ip::address_v4::bytes_type V4At(const asio::ip::address_v6::bytes_type& b, size_t at) {
  return {b[at], b[at + 1], b[at + 2], b[at + 3]};
}

}  // namespace

bool IsPrivateAddress(const asio::ip::address& a) {
  if (a.is_v4()) return PrivateV4(a.to_v4().to_bytes());
  auto b = a.to_v6().to_bytes();
  auto zero = [&b](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      if (b[i] != 0) return false;
    }
    return true;
  };
  // Forms that carry an IPv4 address a router or the host itself turns back into IPv4:
  // judged by that address.
  if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) return PrivateV4(V4At(b, 12));  // mapped
  if (zero(0, 8) && b[8] == 0xff && b[9] == 0xff && zero(10, 12)) {
    return PrivateV4(V4At(b, 12));  // ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765)
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12)) {
    return PrivateV4(V4At(b, 12));  // 64:ff9b::/96 NAT64 well-known prefix
  }
  if (b[0] == 0x20 && b[1] == 0x02) return PrivateV4(V4At(b, 2));  // 2002::/16 6to4
  return zero(0, 12)  // ::/96: unspecified, loopback, the deprecated IPv4-compatible form
         || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 &&
             b[5] == 1)                                               // 64:ff9b:1::/48 local NAT64
         || (b[0] == 0x01 && b[1] == 0x00 && zero(2, 8))              // 100::/64 discard
         || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)  // 2001::/32 Teredo
         || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)  // documentation
         || (b[0] & 0xfe) == 0xfc                                           // fc00::/7 unique local
         || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)                         // fe80::/10 link-local
         || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)  // fec0::/10 site-local (deprecated)
         || b[0] == 0xff;                            // multicast
}

std::optional<std::string> UnsafeUrlReason(std::string_view url) {
  // The line break first: it is what an injection needs, so it is what the message names.
  if (url.find_first_of("\r\n") != std::string_view::npos) {
    return std::string("the URL contains a line break");
  }
  for (unsigned char c : url) {
    if (c < 0x21 || c == 0x7f) {
      return std::string(c == ' ' ? "the URL contains a space"
                                  : "the URL contains a control character");
    }
    if (c >= 0x80) return std::string("the URL contains a non-ASCII byte (percent-encode it)");
  }
  return std::nullopt;
}

asio::awaitable<std::variant<Fetched, std::string>> FetchUrl(
    asio::any_io_executor executor, std::string url, std::shared_ptr<asio::ssl::context> tls,
    FetchLimits limits) {
  auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  for (int hop = 0; hop <= limits.max_redirects; ++hop) {
    // Before anything is parsed or sent: a line break would end the request line and start
    // headers of the client's choosing. A redirect's Location is checked the same way.
    if (auto bad = UnsafeUrlReason(url)) co_return *bad;
    auto parsed = ParseUrl(url);
    if (!parsed) co_return std::string("not an http(s) URL");
    auto resolver = std::make_shared<tcp::resolver>(executor);
    auto resolved = co_await ResolveBefore(resolver, parsed->host, parsed->port, deadline);
    if (auto* why = std::get_if<std::string>(&resolved)) co_return *why;
    std::vector<tcp::endpoint> allowed;
    for (const auto& ep : std::get<std::vector<tcp::endpoint>>(resolved)) {
      if (!limits.allow_private && IsPrivateAddress(ep.address())) {
        co_return parsed->host + " resolves to a private address";
      }
      allowed.push_back(ep);
    }
    if (allowed.empty()) co_return "cannot resolve " + parsed->host;
    beast::tcp_stream tcp(executor);
    tcp.expires_at(deadline);
    auto [cec, ep] = co_await tcp.async_connect(allowed, as_tuple(use_awaitable));
    (void)ep;
    if (cec) co_return "cannot connect to " + parsed->host + ": " + cec.message();
    std::string redirect;
    std::variant<Fetched, std::string> out;
    if (parsed->tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *tls);
      SSL_set_tlsext_host_name(stream.native_handle(), parsed->host.c_str());
      stream.set_verify_callback(asio::ssl::host_name_verification(parsed->host));
      beast::get_lowest_layer(stream).expires_at(deadline);
      auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client,
                                                   as_tuple(use_awaitable));
      if (hec) co_return "TLS with " + parsed->host + " failed: " + hec.message();
      out = co_await Exchange(stream, beast::get_lowest_layer(stream), *parsed, deadline, limits,
                              &redirect);
    } else {
      out = co_await Exchange(tcp, tcp, *parsed, deadline, limits, &redirect);
    }
    if (redirect.empty()) co_return out;
    if (redirect.starts_with("/")) {
      redirect = std::string(parsed->tls ? "https://" : "http://") + parsed->host + ":" +
                 parsed->port + redirect;
    }
    url = redirect;
  }
  co_return std::string("too many redirects");
}

}  // namespace gkm
