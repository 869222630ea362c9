// ConfigureTlsClient: the client side of TLS towards servers the proxy does not run (the
// upstream, a rediss:// Redis): TLS 1.2 or later, the peer's certificate verified against
// the system CAs plus an optional file of extra CAs. One piece for both, so that what the
// upstream and Redis connections accept cannot drift apart. Host-name checks and SNI stay
// with the caller (they depend on the peer, not on the context).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>
#include <string_view>

namespace gkm {

// Sets up `ctx`; `extra_ca` empty means none. On failure returns false with a one-line
// `error` naming `flag` (the option that gave `extra_ca`, e.g. "--upstream-ca").
inline bool ConfigureTlsClient(boost::asio::ssl::context& ctx, const std::string& extra_ca,
                               std::string_view flag, std::string* error) {
  namespace ssl = boost::asio::ssl;
  boost::system::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.set_verify_mode(ssl::verify_peer, ec);
  ctx.set_default_verify_paths(ec);
  if (ec) {
    *error = "cannot load the system CA certificates: " + ec.message();
    return false;
  }
  if (!extra_ca.empty()) {
    ctx.load_verify_file(extra_ca, ec);
    if (ec) {
      *error = std::string(flag) + ": cannot load '" + extra_ca + "': " + ec.message();
      return false;
    }
  }
  return true;
}

}  // namespace gkm
