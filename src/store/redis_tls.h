// RedisTls: rediss:// (SPEC 6) under hiredis 0.14, which has no TLS of its own. Dial() makes
// the TCP connection and the TLS handshake itself (OpenSSL through Boost.Asio, the server's
// certificate checked against the system CAs plus --redis-ca, the host name or IP address
// against the certificate, SNI for a name), then hands hiredis one end of a socket pair
// (redisConnectFd); a TlsBridge thread pumps bytes between the other end and the TLS stream,
// both ways. hiredis still builds and parses all RESP and keeps its own time-outs on its end.
//
// When either side closes, the bridge closes both: Redis gone shows as end-of-stream to
// hiredis (the link fails and its owner dials again, as for redis://), and hiredis's end
// closed (redisFree) ends the TLS connection. The TlsBridge's destructor stops the thread
// and joins it; destroy it after redisFree. A RedisTls is immutable once made and may be
// shared by any number of threads dialing at once.
//
// TlsPeer and HandshakeError are pure (unit tested).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace gkm {

class TlsBridge;

class RedisTls {
 public:
  // The client context: TLS 1.2 or later, peer verification, the system CAs plus the PEM
  // certificates of `ca_file` (none when empty). Null with why in *error.
  static std::shared_ptr<const RedisTls> Make(const std::string& ca_file, std::string* error);
  ~RedisTls();
  RedisTls(const RedisTls&) = delete;
  RedisTls& operator=(const RedisTls&) = delete;

  // Connects to host:port (each resolved address in turn) and completes the handshake within
  // `timeout`. Null with one line naming host:port in *error: unreachable, timed out, the
  // certificate refused (and why), not a TLS server.
  std::unique_ptr<TlsBridge> Dial(const std::string& host, int port,
                                  std::chrono::milliseconds timeout, std::string* error) const;

  struct Context;

 private:
  explicit RedisTls(std::unique_ptr<Context> ctx);
  std::unique_ptr<Context> ctx_;
};

class TlsBridge {
 public:
  ~TlsBridge();  // stops the pump and joins its thread
  TlsBridge(const TlsBridge&) = delete;
  TlsBridge& operator=(const TlsBridge&) = delete;

  // hiredis's end of the socket pair, once: the caller owns it from then on (redisConnectFd,
  // and redisFree closes it). -1 on a second call.
  int TakeFd();

  struct Pump;
  explicit TlsBridge(std::unique_ptr<Pump> pump);

 private:
  std::unique_ptr<Pump> pump_;
};

// How the server is named in the handshake: an IP literal (v4, or v6 without brackets) is
// checked against the certificate's IP addresses and sent without SNI (RFC 6066 allows names
// only); anything else is a DNS name, checked against the certificate's names and sent as SNI.
struct TlsPeer {
  bool ip = false;
  std::string name;  // the host as given
};
TlsPeer TlsPeerOf(const std::string& host);

// The one line for a failed handshake with `where` ("host:port"): the certificate check's
// reason when there is one (`verify_result` X509_V_OK = 0 when none), else the TLS error.
// An unknown issuer or a self-signed chain adds a hint at --redis-ca.
std::string HandshakeError(const std::string& where, long verify_result,
                           const std::string& tls_error);

}  // namespace gkm
