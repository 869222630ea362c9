#include "upstream/upstream.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include "common/tls_client.h"
#include "upstream/tunnel.h"

namespace gkm {

using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

std::shared_ptr<asio::ssl::context> MakeUpstreamTls(const Config& config, std::string* error) {
  if (!config.upstream.tls) return nullptr;
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (!ConfigureTlsClient(*ctx, config.upstream_ca.value_or(""), "--upstream-ca", error)) {
    return nullptr;
  }
  return ctx;
}

namespace {

std::variant<UpstreamConnection::Plain, UpstreamConnection::Secure> Wrap(
    UpstreamConnection::Plain socket, asio::ssl::context* tls) {
  if (!tls) return socket;
  return UpstreamConnection::Secure(std::move(socket), *tls);
}

}  // namespace

UpstreamConnection::UpstreamConnection(Plain socket, asio::ssl::context* tls)
    : stream_(Wrap(std::move(socket), tls)),
      deadline_(this->socket().get_executor(), this->socket()) {}

tcp::socket& UpstreamConnection::socket() {
  if (auto* p = std::get_if<Plain>(&stream_)) return *p;
  return beast::get_lowest_layer(std::get<Secure>(stream_));
}

UpstreamPool::UpstreamPool(asio::any_io_executor executor, UpstreamUrl url,
                           std::shared_ptr<asio::ssl::context> tls,
                           std::chrono::seconds connect_timeout, size_t max_idle)
    : executor_(std::move(executor)),
      url_(std::move(url)),
      tls_(std::move(tls)),
      connect_timeout_(connect_timeout),
      max_idle_(max_idle) {
  host_header_ = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
  if (url_.port != (url_.tls ? 443 : 80)) host_header_ += ":" + std::to_string(url_.port);
}

std::string UpstreamPool::RouteOf(const std::string& key_id) const {
  auto route = egress_ ? egress_->ForKey(key_id) : nullptr;
  return route ? route->proxy.redacted : "direct";
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::Acquire(
    const std::string& key_id, bool fresh) {
  std::shared_ptr<const EgressRoute> route = egress_ ? egress_->ForKey(key_id) : nullptr;
  if (route && !route->broken.empty()) {
    throw EgressError(asio::error::invalid_argument, route->broken);
  }
  const std::string route_key = route ? route->pool_key : std::string();
  if (!fresh) {
    if (auto it = idle_.find(route_key); it != idle_.end()) {
      auto& idle = it->second;
      while (!idle.empty()) {
        auto conn = std::move(idle.back());
        idle.pop_back();
        --idle_count_;
        if (conn->socket().is_open()) {
          conn->reused = true;
          co_return conn;
        }
      }
    }
  }
  // Direct: the upstream's address. Through a proxy: the proxy's; the upstream's name goes
  // to the proxy (CONNECT, socks5h) or is resolved here (socks5) by OpenTunnel.
  const std::string& connect_host = route ? route->proxy.host : url_.host;
  const uint16_t connect_port = route ? route->proxy.port : url_.port;
  tcp::resolver resolver(executor_);
  auto [rec, endpoints] = co_await resolver.async_resolve(
      connect_host, std::to_string(connect_port), as_tuple(use_awaitable));
  if (rec) {
    if (!route) throw boost::system::system_error(rec);
    throw EgressError(rec, "egress proxy " + route->proxy.redacted + ": cannot resolve " +
                               connect_host + ": " + rec.message());
  }
  tcp::socket socket(executor_);
  {
    Deadline deadline(executor_, socket);
    deadline.Arm(connect_timeout_);
    auto [ec, ep] = co_await asio::async_connect(socket, endpoints, as_tuple(use_awaitable));
    (void)ep;
    if (deadline.expired()) ec = beast::error::timeout;
    if (ec && route) {
      throw EgressError(
          ec, "egress proxy " + route->proxy.redacted + " " +
                  (ec == beast::error::timeout             ? std::string("did not accept in time")
                   : ec == asio::error::connection_refused ? std::string("refused the connection")
                                                           : "cannot be reached: " + ec.message()));
    }
    if (ec) throw boost::system::system_error(ec);
    if (route) {
      try {
        co_await OpenTunnel(socket, route->proxy, url_.host, url_.port);
      } catch (const EgressError& e) {
        if (!deadline.expired()) throw;
        throw EgressError(beast::error::timeout,
                          "egress proxy " + route->proxy.redacted + " timed out opening a tunnel");
      }
    }
  }
  socket.set_option(tcp::no_delay(true));
  auto conn = std::make_unique<UpstreamConnection>(std::move(socket), tls_.get());
  conn->route = route_key;
  if (!tls_) co_return conn;
  auto& secure = *conn->secure();
  // SNI and verification name the upstream, also through a tunnel: the proxy only relays
  // bytes and never sees inside the TLS session.
  if (!SSL_set_tlsext_host_name(secure.native_handle(), url_.host.c_str())) {
    throw boost::system::system_error(boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                                                asio::error::get_ssl_category()));
  }
  secure.set_verify_callback(asio::ssl::host_name_verification(url_.host));
  conn->deadline().Arm(connect_timeout_);
  auto [hec] =
      co_await secure.async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
  if (conn->deadline().expired()) hec = beast::error::timeout;
  if (hec) throw boost::system::system_error(hec);
  conn->deadline().Disarm();
  co_return conn;
}

void UpstreamPool::Release(std::unique_ptr<UpstreamConnection> conn) {
  if (!conn || !conn->socket().is_open()) return;
  conn->deadline().Disarm();
  if (idle_count_ >= max_idle_) return;  // closes it
  idle_[conn->route].push_back(std::move(conn));
  ++idle_count_;
}

void UpstreamPool::CloseIdle() {
  idle_.clear();
  idle_count_ = 0;
}

}  // namespace gkm
