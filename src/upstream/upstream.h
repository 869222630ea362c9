// Upstream: kept-alive HTTP/1.1 connections to the Gemini API (or a mock), plain or TLS.
//
// One UpstreamPool per I/O thread: it is not thread-safe and all its work runs on that
// thread's executor, so taking and returning a connection costs no lock. TLS verifies the
// certificate chain against the system CAs (plus --upstream-ca) and the host name, and
// sends SNI. Connect has its own timeout; the caller sets the timeouts of each exchange on
// the connection's Deadline.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/deadline.h"
#include "config/config.h"
#include "upstream/egress.h"

namespace gkm {

namespace asio = boost::asio;
namespace beast = boost::beast;

// A TLS context for the upstream, or nullopt for http:// upstreams. *error on failure
// (unreadable --upstream-ca).
std::shared_ptr<asio::ssl::context> MakeUpstreamTls(const Config& config, std::string* error);

class UpstreamConnection {
 public:
  using Plain = asio::ip::tcp::socket;
  using Secure = beast::ssl_stream<asio::ip::tcp::socket>;

  // A connected socket, used as is or wrapped in TLS (the handshake is still to be done).
  UpstreamConnection(Plain socket, asio::ssl::context* tls);
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  // The TCP socket under any TLS, for closing.
  asio::ip::tcp::socket& socket();
  // The time limit of the exchange in progress; a read or write that fails after it
  // expired failed because of it.
  Deadline& deadline() { return deadline_; }
  // The TLS layer, or null on a plain connection.
  Secure* secure() { return std::get_if<Secure>(&stream_); }
  // Calls f(stream) with the concrete stream type.
  template <class F>
  auto Visit(F&& f) {
    return std::visit(std::forward<F>(f), stream_);
  }
  beast::flat_buffer& buffer() { return buffer_; }
  // True when this connection has carried an exchange before (a failure on its first write
  // or read may then just mean the server closed it while idle).
  bool reused = false;
  // The EgressRoute::pool_key it goes through; empty: direct.
  std::string route;

 private:
  std::variant<Plain, Secure> stream_;
  Deadline deadline_;
  beast::flat_buffer buffer_;
};

class UpstreamPool {
 public:
  UpstreamPool(asio::any_io_executor executor, UpstreamUrl url,
               std::shared_ptr<asio::ssl::context> tls, std::chrono::seconds connect_timeout,
               size_t max_idle = 256);
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Egress proxies by key (null, the default: every connection direct).
  void SetEgress(std::shared_ptr<const Egress> egress) { egress_ = std::move(egress); }

  // An idle connection for the key's route if there is one, else a new one. Throws
  // boost::system::system_error when connecting fails (refused, unreachable, TLS refused,
  // timeout), EgressError (a system_error) when its egress proxy does.
  asio::awaitable<std::unique_ptr<UpstreamConnection>> Acquire(const std::string& key_id,
                                                               bool fresh = false);
  // The route of a key's connections ("direct" or the proxy, redacted), for messages.
  std::string RouteOf(const std::string& key_id) const;
  // Keeps the connection for reuse (the caller has read the whole response and the
  // server did not ask to close).
  void Release(std::unique_ptr<UpstreamConnection> conn);
  // Closes every idle connection (shutdown).
  void CloseIdle();

  const UpstreamUrl& url() const { return url_; }
  // The Host header value.
  const std::string& host_header() const { return host_header_; }

 private:
  asio::any_io_executor executor_;
  UpstreamUrl url_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::chrono::seconds connect_timeout_;
  size_t max_idle_;
  std::string host_header_;
  std::shared_ptr<const Egress> egress_;
  // Idle connections by route (UpstreamConnection::route); max_idle_ bounds them all.
  std::map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  size_t idle_count_ = 0;
};

}  // namespace gkm
