// FetchUrl: downloads a remote image for the OpenAI routes (--fetch-image-urls).
//
// The URL comes from a client, so the fetch is fenced: http and https only, and no byte
// that could end the request line or a header (control bytes, spaces, non-ASCII) anywhere
// in it; every address the host resolves to must be public unless allow_private (see
// IsPrivateAddress; the connection goes to the checked address, so a second DNS answer
// cannot swap it); one deadline for the whole fetch, name resolution included (getaddrinfo
// has none: the lookup is abandoned when the deadline passes); a size limit; at most
// max_redirects redirects, each checked again; the answer must be 200 with an image/* (or
// audio/*) content type. TLS verifies against the system CAs. Runs on the caller's
// executor; no shared state.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gkm {

struct FetchLimits {
  size_t max_bytes = 20u << 20;
  std::chrono::seconds timeout{10};
  int max_redirects = 3;
  bool allow_private = false;
};

struct Fetched {
  std::string mime;   // "image/png"
  std::string bytes;  // the raw body
};

// A context for fetches: system CAs, peer verification.
std::shared_ptr<boost::asio::ssl::context> MakeFetchTls();

// True for addresses a client-supplied URL must not reach: this-network, private, CGNAT,
// loopback, link-local, the IETF, benchmarking and documentation ranges, multicast,
// reserved and broadcast; in IPv6 also unique-local, site-local, discard, Teredo, the
// local-use NAT64 prefix, and the forms that embed an IPv4 address (mapped, translated,
// NAT64 64:ff9b::/96, 6to4 2002::/16), judged by that address.
bool IsPrivateAddress(const boost::asio::ip::address& a);

// Why a URL must not be used as is (a control byte, a space, a line break, a non-ASCII
// byte), or nullopt. For every URL built from client input.
std::optional<std::string> UnsafeUrlReason(std::string_view url);

// Resolves host:port, giving up when `deadline` passes: a timer cancels the lookup. The
// resolver is shared with the timer's handler so that a handler that fires as the lookup
// completes never touches a destroyed resolver. A template so that tests can give a
// resolver that never answers.
template <class Resolver>
boost::asio::awaitable<std::variant<std::vector<typename Resolver::endpoint_type>, std::string>>
ResolveBefore(std::shared_ptr<Resolver> resolver, std::string host, std::string port,
              std::chrono::steady_clock::time_point deadline) {
  namespace asio = boost::asio;
  using Endpoints = std::vector<typename Resolver::endpoint_type>;
  if (std::chrono::steady_clock::now() >= deadline) {
    co_return "timed out before resolving " + host;
  }
  asio::steady_timer timer(resolver->get_executor());
  timer.expires_at(deadline);
  auto fired = std::make_shared<std::atomic<bool>>(false);
  timer.async_wait([resolver, fired](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the lookup finished first
    *fired = true;
    resolver->cancel();
  });
  auto [ec, results] =
      co_await resolver->async_resolve(host, port, asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  if (*fired) co_return "timed out resolving " + host;
  if (ec) co_return "cannot resolve " + host + ": " + ec.message();
  Endpoints out;
  for (const auto& r : results) out.push_back(r.endpoint());
  co_return out;
}

// The fetched body, or a one-line reason ("host resolves to a private address", ...).
boost::asio::awaitable<std::variant<Fetched, std::string>> FetchUrl(
    boost::asio::any_io_executor executor, std::string url,
    std::shared_ptr<boost::asio::ssl::context> tls, FetchLimits limits);

}  // namespace gkm
