#include "store/redis_tls.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "common/tls_client.h"

namespace gkm {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct RedisTls::Context {
  asio::ssl::context ssl{asio::ssl::context::tls_client};
};

// One connection: the TLS stream to Redis, our end of the socket pair, a buffer each way, and
// the thread that runs the io_context they belong to.
struct TlsBridge::Pump {
  explicit Pump(asio::ssl::context& ctx) : tls(io, ctx), local(io) {}
  asio::io_context io{1};
  asio::ssl::stream<tcp::socket> tls;
  asio::local::stream_protocol::socket local;
  int hiredis_fd = -1;
  std::array<char, 16384> up{}, down{};  // hiredis -> Redis, Redis -> hiredis
  std::thread thread;

  void Close() {
    error_code ignored;
    local.close(ignored);
    tls.lowest_layer().close(ignored);
  }
  // Carries what `from` reads to `to`, one buffer at a time, until either fails or closes.
  template <typename From, typename To>
  void Pipe(From& from, To& to, std::array<char, 16384>& buf) {
    from.async_read_some(asio::buffer(buf), [this, &from, &to, &buf](error_code ec, size_t n) {
      if (ec) return Close();
      asio::async_write(to, asio::buffer(buf.data(), n),
                        [this, &from, &to, &buf](error_code ec, size_t) {
                          if (ec) return Close();
                          Pipe(from, to, buf);
                        });
    });
  }
};

RedisTls::RedisTls(std::unique_ptr<Context> ctx) : ctx_(std::move(ctx)) {}
RedisTls::~RedisTls() = default;

std::shared_ptr<const RedisTls> RedisTls::Make(const std::string& ca_file, std::string* error) {
  auto ctx = std::make_unique<Context>();
  if (!ConfigureTlsClient(ctx->ssl, ca_file, "--redis-ca", error)) return nullptr;
  return std::shared_ptr<const RedisTls>(new RedisTls(std::move(ctx)));
}

TlsPeer TlsPeerOf(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return {!ec, host};
}

std::string HandshakeError(const std::string& where, long verify_result,
                           const std::string& tls_error) {
  std::string out = "TLS handshake with " + where + " failed: ";
  if (verify_result == X509_V_OK) return out + tls_error;
  out += std::string("the server's certificate was refused: ") +
         X509_verify_cert_error_string(verify_result);
  switch (verify_result) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      out += " (give its CA with --redis-ca)";
      break;
    default:
      break;
  }
  return out;
}

namespace {

// hiredis's own keep-alive (redisEnableKeepAlive) cannot reach through the socket pair: the
// TCP connection gets the same settings (probes after 15 s idle) here.
void KeepAlive(tcp::socket& s) {
  int fd = s.native_handle(), on = 1, idle = 15, interval = 5, count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

std::unique_ptr<TlsBridge> RedisTls::Dial(const std::string& host, int port,
                                          std::chrono::milliseconds timeout,
                                          std::string* error) const {
  const std::string where =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  auto pump = std::make_unique<TlsBridge::Pump>(ctx_->ssl);
  SSL* ssl = pump->tls.native_handle();
  const TlsPeer peer = TlsPeerOf(host);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (peer.ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, peer.name.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, peer.name.c_str()) != 1 ||
        SSL_set_tlsext_host_name(ssl, peer.name.c_str()) != 1) {
      *error = "cannot connect to " + where + ": the host name is not usable for TLS";
      return nullptr;
    }
  }

  error_code ec;
  tcp::resolver resolver(pump->io);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    *error = "cannot connect to " + where + ": " + ec.message();
    return nullptr;
  }
  // Connect and handshake under one deadline; the timer closing the socket ends either.
  enum class Stage { kConnect, kHandshake, kDone } stage = Stage::kConnect;
  bool timed_out = false;
  ec = asio::error::would_block;
  asio::steady_timer timer(pump->io, timeout);
  timer.async_wait([&](error_code e) {
    if (e) return;
    timed_out = true;
    error_code ignored;
    pump->tls.lowest_layer().close(ignored);
  });
  asio::async_connect(pump->tls.lowest_layer(), endpoints, [&](error_code e, const tcp::endpoint&) {
    if (e) {
      ec = e;
      timer.cancel();
      return;
    }
    stage = Stage::kHandshake;
    pump->tls.async_handshake(asio::ssl::stream_base::client, [&](error_code h) {
      ec = h;
      if (!h) stage = Stage::kDone;
      timer.cancel();
    });
  });
  pump->io.run();
  pump->io.restart();
  if (stage != Stage::kDone) {
    if (timed_out) {
      *error = (stage == Stage::kConnect ? "cannot connect to " + where
                                         : "TLS handshake with " + where + " failed") +
               ": timed out after " + std::to_string(timeout.count()) + " ms" +
               (stage == Stage::kHandshake ? " (not a TLS port?)" : "");
    } else if (stage == Stage::kConnect) {
      *error = "cannot connect to " + where + ": " + ec.message();
    } else {
      *error = HandshakeError(where, SSL_get_verify_result(ssl), ec.message());
    }
    return nullptr;
  }
  KeepAlive(pump->tls.next_layer());

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    *error = "cannot connect to " + where + ": socketpair: " + std::strerror(errno);
    return nullptr;
  }
  pump->local.assign(asio::local::stream_protocol(), pair[0], ec);
  if (ec) {
    ::close(pair[0]);
    ::close(pair[1]);
    *error = "cannot connect to " + where + ": " + ec.message();
    return nullptr;
  }
  pump->hiredis_fd = pair[1];
  pump->Pipe(pump->local, pump->tls, pump->up);
  pump->Pipe(pump->tls, pump->local, pump->down);
  TlsBridge::Pump* p = pump.get();
  p->thread = std::thread([p] { p->io.run(); });
  return std::make_unique<TlsBridge>(std::move(pump));
}

TlsBridge::TlsBridge(std::unique_ptr<Pump> pump) : pump_(std::move(pump)) {}

TlsBridge::~TlsBridge() {
  pump_->io.stop();
  if (pump_->thread.joinable()) pump_->thread.join();
  pump_->Close();
  if (pump_->hiredis_fd >= 0) ::close(pump_->hiredis_fd);
}

int TlsBridge::TakeFd() { return std::exchange(pump_->hiredis_fd, -1); }

}  // namespace gkm
