// Tunnel: turns a TCP connection to an egress proxy into a byte stream to the upstream,
// before any TLS: HTTP CONNECT (RFC 9110 9.3.6; Proxy-Authorization: Basic when the URL has
// a user) or SOCKS5 (RFC 1928, username/password authentication per RFC 1929; socks5h
// passes the upstream's name, socks5 its address resolved here).
//
// The CONNECT answer is read by the proxy's strict AnswerParser (a 2xx has no body, RFC 9110
// 9.3.6); SOCKS5's few fixed messages are read with exact lengths (Debian packages no SOCKS5
// client library that works with Asio: see docs/DECISIONS.md). Every failure is an
// EgressError whose reason names the proxy with its password redacted; the caller bounds
// the whole exchange with the connection's Deadline.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_error.hpp>
#include <string>

#include "common/proxy_url.h"

namespace gkm {

// A failure to reach the upstream through an egress proxy: the proxy refused or could not
// be reached, or its answer was not a tunnel. Transient for the attempt, never the key's
// fault. what() and reason() never hold the proxy's password.
class EgressError : public boost::system::system_error {
 public:
  EgressError(boost::system::error_code ec, std::string reason)
      : boost::system::system_error(ec, reason), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// The Proxy-Authorization value for a user and password: "Basic " + base64(user:password).
std::string BasicCredentials(const std::string& user, const std::string& password);

// SOCKS5 messages (RFC 1928, 1929), pure, for the coroutine and its tests.
namespace socks5 {
// The greeting: version 5 and the methods offered (no authentication; username/password
// too when `auth`).
std::string Greeting(bool auth);
// The RFC 1929 request, or "" when a part is longer than 255 bytes.
std::string Credentials(const std::string& user, const std::string& password);
// The CONNECT request to host:port: an IPv4 or IPv6 literal as an address, else a domain
// name (at most 255 bytes; "" when longer).
std::string Connect(const std::string& host, uint16_t port);
// The meaning of a reply code (X'01' .. X'08').
std::string ReplyText(unsigned code);
}  // namespace socks5

// Speaks the proxy's protocol on `socket` (connected to the proxy) until bytes written to it
// reach upstream_host:upstream_port. Throws EgressError.
boost::asio::awaitable<void> OpenTunnel(boost::asio::ip::tcp::socket& socket, const ProxyUrl& proxy,
                                        const std::string& upstream_host, uint16_t upstream_port);

}  // namespace gkm
