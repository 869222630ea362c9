#include "upstream/upstream.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

namespace gkm {

using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

std::shared_ptr<asio::ssl::context> MakeUpstreamTls(const Config& config, std::string* error) {
  if (!config.upstream.tls) return nullptr;
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  ctx->set_default_verify_paths(ec);
  if (ec) {
    *error = "cannot load the system CA certificates: " + ec.message();
    return nullptr;
  }
  if (config.upstream_ca) {
    ctx->load_verify_file(*config.upstream_ca, ec);
    if (ec) {
      *error = "--upstream-ca: cannot load '" + *config.upstream_ca + "': " + ec.message();
      return nullptr;
    }
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

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::Acquire(bool fresh) {
  if (!fresh) {
    while (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->socket().is_open()) {
        conn->reused = true;
        co_return conn;
      }
    }
  }
  tcp::resolver resolver(executor_);
  auto endpoints =
      co_await resolver.async_resolve(url_.host, std::to_string(url_.port), use_awaitable);
  tcp::socket socket(executor_);
  {
    Deadline deadline(executor_, socket);
    deadline.Arm(connect_timeout_);
    auto [ec, ep] = co_await asio::async_connect(socket, endpoints, as_tuple(use_awaitable));
    (void)ep;
    if (deadline.expired()) ec = beast::error::timeout;
    if (ec) throw boost::system::system_error(ec);
  }
  socket.set_option(tcp::no_delay(true));
  auto conn = std::make_unique<UpstreamConnection>(std::move(socket), tls_.get());
  if (!tls_) co_return conn;
  auto& secure = *conn->secure();
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
  if (idle_.size() >= max_idle_) return;  // closes it
  idle_.push_back(std::move(conn));
}

void UpstreamPool::CloseIdle() { idle_.clear(); }

}  // namespace gkm
