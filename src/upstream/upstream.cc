#include "upstream/upstream.h"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gkm {

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

beast::tcp_stream& UpstreamConnection::tcp() {
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
      if (conn->tcp().socket().is_open()) {
        conn->reused = true;
        co_return conn;
      }
    }
  }
  tcp::resolver resolver(executor_);
  auto endpoints =
      co_await resolver.async_resolve(url_.host, std::to_string(url_.port), use_awaitable);
  beast::tcp_stream plain(executor_);
  plain.expires_after(connect_timeout_);
  co_await plain.async_connect(endpoints, use_awaitable);
  plain.socket().set_option(tcp::no_delay(true));
  if (!tls_) {
    plain.expires_never();
    co_return std::make_unique<UpstreamConnection>(std::move(plain));
  }
  UpstreamConnection::Secure secure(std::move(plain), *tls_);
  if (!SSL_set_tlsext_host_name(secure.native_handle(), url_.host.c_str())) {
    throw boost::system::system_error(
        boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                  asio::error::get_ssl_category()));
  }
  secure.set_verify_callback(asio::ssl::host_name_verification(url_.host));
  co_await secure.async_handshake(asio::ssl::stream_base::client, use_awaitable);
  beast::get_lowest_layer(secure).expires_never();
  co_return std::make_unique<UpstreamConnection>(std::move(secure));
}

void UpstreamPool::Release(std::unique_ptr<UpstreamConnection> conn) {
  if (!conn || !conn->tcp().socket().is_open()) return;
  conn->tcp().expires_never();
  if (idle_.size() >= max_idle_) return;  // closes it
  idle_.push_back(std::move(conn));
}

void UpstreamPool::CloseIdle() { idle_.clear(); }

}  // namespace gkm
