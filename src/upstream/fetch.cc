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

bool IsPrivateAddress(const asio::ip::address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 169 && b[1] == 254) ||
           (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] >= 224;
  }
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    return IsPrivateAddress(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
  }
  auto b = v6.to_bytes();
  return v6.is_loopback() || v6.is_unspecified() || v6.is_link_local() || v6.is_multicast() ||
         (b[0] & 0xfe) == 0xfc;
}

asio::awaitable<std::variant<Fetched, std::string>> FetchUrl(
    asio::any_io_executor executor, std::string url, std::shared_ptr<asio::ssl::context> tls,
    FetchLimits limits) {
  auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  for (int hop = 0; hop <= limits.max_redirects; ++hop) {
    auto parsed = ParseUrl(url);
    if (!parsed) co_return std::string("not an http(s) URL");
    tcp::resolver resolver(executor);
    auto [rec, results] = co_await resolver.async_resolve(parsed->host, parsed->port,
                                                          as_tuple(use_awaitable));
    if (rec) co_return "cannot resolve " + parsed->host + ": " + rec.message();
    std::vector<tcp::endpoint> allowed;
    for (const auto& r : results) {
      if (!limits.allow_private && IsPrivateAddress(r.endpoint().address())) {
        co_return parsed->host + " resolves to a private address";
      }
      allowed.push_back(r.endpoint());
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
