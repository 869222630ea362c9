// FetchUrl: downloads a remote image for the OpenAI routes (--fetch-image-urls).
//
// The URL comes from a client, so the fetch is fenced: http and https only; every address
// the host resolves to must be public unless allow_private (loopback, private, link-local,
// CGNAT, multicast and unique-local ranges are refused, and the connection goes to the
// checked address, so a second DNS answer cannot swap it); one deadline for the whole
// fetch; a size limit; at most max_redirects redirects, each checked again; the answer
// must be 200 with an image/* (or audio/*) content type. TLS verifies against the system
// CAs. Runs on the caller's executor; no shared state.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <variant>

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

// True for addresses a client-supplied URL must not reach.
bool IsPrivateAddress(const boost::asio::ip::address& a);

// The fetched body, or a one-line reason ("host resolves to a private address", ...).
boost::asio::awaitable<std::variant<Fetched, std::string>> FetchUrl(
    boost::asio::any_io_executor executor, std::string url,
    std::shared_ptr<boost::asio::ssl::context> tls, FetchLimits limits);

}  // namespace gkm
