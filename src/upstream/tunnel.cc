#include "upstream/tunnel.h"

#include <openssl/evp.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/status.hpp>

#include "common/http_io.h"
#include "upstream/answer_parser.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;

constexpr uint8_t kVersion = 5;
constexpr uint8_t kNoAuth = 0x00;
constexpr uint8_t kUserPass = 0x02;
constexpr uint8_t kNoAcceptable = 0xff;

[[noreturn]] void Fail(const ProxyUrl& proxy, const std::string& what,
                       error_code ec = asio::error::connection_refused) {
  throw EgressError(ec, "egress proxy " + proxy.redacted + " " + what);
}

std::string Describe(const error_code& ec) {
  if (ec == asio::error::eof || ec == asio::error::connection_reset) return "closed the connection";
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) return "timed out";
  return "failed: " + ec.message();
}

asio::awaitable<void> Write(tcp::socket& s, const ProxyUrl& proxy, const std::string& bytes,
                            const char* step) {
  error_code ec = co_await WriteAll(s, std::array<asio::const_buffer, 1>{asio::buffer(bytes)});
  if (ec) Fail(proxy, std::string("(") + step + "): " + Describe(ec), ec);
}

// Reads exactly n bytes (SOCKS5's replies have fixed or announced lengths).
template <size_t N>
asio::awaitable<void> ReadExactly(tcp::socket& s, const ProxyUrl& proxy,
                                  std::array<uint8_t, N>& out, size_t n, const char* step) {
  auto [ec, got] =
      co_await asio::async_read(s, asio::buffer(out.data(), n), as_tuple(use_awaitable));
  if (ec || got != n) Fail(proxy, std::string("(") + step + "): " + Describe(ec), ec);
}

asio::awaitable<void> HttpConnect(tcp::socket& s, const ProxyUrl& proxy, const std::string& host,
                                  uint16_t port) {
  const std::string authority =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (proxy.has_auth) {
    req += "Proxy-Authorization: " + BasicCredentials(proxy.user, proxy.password) + "\r\n";
  }
  req += "\r\n";
  co_await Write(s, proxy, req, "CONNECT");
  // The answer's head, read a byte range at a time by the strict parser. A 2xx CONNECT
  // answer has no body (RFC 9110 9.3.6); nothing may follow it before the upstream's TLS
  // server speaks, and a TLS server speaks only after the client's hello.
  AnswerParser parser;
  parser.SetNoBody();
  boost::beast::flat_buffer buffer(AnswerParser::kHeadLimit);
  error_code ec = co_await ReadHead(s, buffer, parser);
  if (ec) Fail(proxy, "gave no valid answer to CONNECT: " + Describe(ec), ec);
  const int status = parser.status();
  if (status < 200 || status > 299) {
    std::string reason(
        boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status)));
    Fail(proxy, "answered CONNECT with " + std::to_string(status) +
                    (reason.empty() || reason == "<unknown-status>" ? "" : " " + reason));
  }
  if (buffer.size() > 0) Fail(proxy, "sent bytes after its CONNECT answer", asio::error::fault);
}

asio::awaitable<void> Socks5Connect(tcp::socket& s, const ProxyUrl& proxy, std::string host,
                                    uint16_t port) {
  // socks5://: the name is resolved here and the proxy gets an address.
  if (proxy.scheme == ProxyUrl::Scheme::kSocks5) {
    error_code ec;
    asio::ip::make_address(host, ec);
    if (ec) {
      tcp::resolver resolver(s.get_executor());
      auto [rec, results] =
          co_await resolver.async_resolve(host, std::to_string(port), as_tuple(use_awaitable));
      if (rec || results.empty()) {
        throw EgressError(rec ? rec : asio::error::host_not_found,
                          "cannot resolve " + host + " for socks5 proxy " + proxy.redacted +
                              (rec ? ": " + rec.message() : ""));
      }
      host = results.begin()->endpoint().address().to_string();
    }
  }
  co_await Write(s, proxy, socks5::Greeting(proxy.has_auth), "SOCKS5 greeting");
  std::array<uint8_t, 262> in{};
  co_await ReadExactly(s, proxy, in, 2, "SOCKS5 greeting");
  if (in[0] != kVersion)
    Fail(proxy, "is not a SOCKS5 proxy (version byte " + std::to_string(in[0]) + ")");
  if (in[1] == kNoAcceptable) {
    Fail(proxy, proxy.has_auth ? "accepts neither no authentication nor username/password"
                               : "requires authentication (give user:password in the URL)");
  }
  if (in[1] == kUserPass && proxy.has_auth) {
    co_await Write(s, proxy, socks5::Credentials(proxy.user, proxy.password), "SOCKS5 auth");
    co_await ReadExactly(s, proxy, in, 2, "SOCKS5 auth");
    if (in[0] != 0x01) Fail(proxy, "sent a malformed authentication answer");
    if (in[1] != 0x00) Fail(proxy, "refused the user name and password");
  } else if (in[1] != kNoAuth) {
    Fail(proxy,
         "chose an authentication method it was not offered (" + std::to_string(in[1]) + ")");
  }
  std::string connect = socks5::Connect(host, port);
  if (connect.empty())
    Fail(proxy, "cannot be given a host name over 255 bytes", asio::error::invalid_argument);
  co_await Write(s, proxy, connect, "SOCKS5 connect");
  // VER REP RSV ATYP, then the bound address (its length by ATYP) and port.
  co_await ReadExactly(s, proxy, in, 4, "SOCKS5 connect");
  if (in[0] != kVersion || in[2] != 0x00) Fail(proxy, "sent a malformed CONNECT reply");
  if (in[1] != 0x00) Fail(proxy, "could not connect to " + host + ": " + socks5::ReplyText(in[1]));
  size_t rest = 0;
  switch (in[3]) {
    case 0x01:
      rest = 4 + 2;
      break;
    case 0x04:
      rest = 16 + 2;
      break;
    case 0x03:
      co_await ReadExactly(s, proxy, in, 1, "SOCKS5 connect");
      rest = size_t{in[0]} + 2;
      break;
    default:
      Fail(proxy, "sent a CONNECT reply with an unknown address type " + std::to_string(in[3]));
  }
  co_await ReadExactly(s, proxy, in, rest, "SOCKS5 connect");
}

}  // namespace

std::string BasicCredentials(const std::string& user, const std::string& password) {
  const std::string plain = user + ":" + password;
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  out.resize(static_cast<size_t>(n));
  return "Basic " + out;
}

namespace socks5 {

std::string Greeting(bool auth) {
  std::string g{static_cast<char>(kVersion)};
  if (auth) {
    g += {2, static_cast<char>(kNoAuth), static_cast<char>(kUserPass)};
  } else {
    g += {1, static_cast<char>(kNoAuth)};
  }
  return g;
}

std::string Credentials(const std::string& user, const std::string& password) {
  if (user.empty() || user.size() > 255 || password.size() > 255) return {};
  std::string m{0x01, static_cast<char>(user.size())};
  m += user;
  m += static_cast<char>(password.size());
  m += password;
  return m;
}

std::string Connect(const std::string& host, uint16_t port) {
  std::string m{static_cast<char>(kVersion), 0x01, 0x00};
  error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (!ec && a.is_v4()) {
    m += 0x01;
    for (uint8_t b : a.to_v4().to_bytes()) m += static_cast<char>(b);
  } else if (!ec) {
    m += 0x04;
    for (uint8_t b : a.to_v6().to_bytes()) m += static_cast<char>(b);
  } else {
    if (host.empty() || host.size() > 255) return {};
    m += 0x03;
    m += static_cast<char>(host.size());
    m += host;
  }
  m += static_cast<char>(port >> 8);
  m += static_cast<char>(port & 0xff);
  return m;
}

std::string ReplyText(unsigned code) {
  switch (code) {
    case 0x01:
      return "general SOCKS server failure";
    case 0x02:
      return "connection not allowed by ruleset";
    case 0x03:
      return "network unreachable";
    case 0x04:
      return "host unreachable";
    case 0x05:
      return "connection refused";
    case 0x06:
      return "TTL expired";
    case 0x07:
      return "command not supported";
    case 0x08:
      return "address type not supported";
    default:
      return "reply code " + std::to_string(code);
  }
}

}  // namespace socks5

asio::awaitable<void> OpenTunnel(tcp::socket& socket, const ProxyUrl& proxy,
                                 const std::string& upstream_host, uint16_t upstream_port) {
  if (proxy.scheme == ProxyUrl::Scheme::kHttp) {
    co_await HttpConnect(socket, proxy, upstream_host, upstream_port);
  } else {
    co_await Socks5Connect(socket, proxy, upstream_host, upstream_port);
  }
}

}  // namespace gkm
