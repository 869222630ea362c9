// The request path's shared vocabulary: one client request as the server read it, the
// client connection it is answered on, and the services every request may use.
//
// A Request is owned by its connection's coroutine and never shared. Services are shared
// by all I/O threads; each member documents its own thread safety (KeyPool, Affinity and
// Metrics lock inside; Config is read-only after start).
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/metrics.h"
#include "common/deadline.h"
#include "common/http_io.h"
#include "common/request_parser.h"
#include "common/time.h"
#include "common/usage_query.h"
#include "config/config.h"
#include "keypool/affinity.h"
#include "keypool/key_pool.h"
#include "keypool/sessions.h"

namespace boost::asio::ssl {
class context;
}

namespace gkm {

class Client;
class Clients;
class Egress;
class ClientWatchList;
class PingList;
class SignatureCache;
class WaitQueue;

namespace http = boost::beast::http;

struct Request {
  explicit Request(const RequestParser& message) : msg(message) {}
  uint64_t id = 0;           // for logs
  const RequestParser& msg;  // the head and body as read; owned by the connection
  std::string path;          // target before '?'
  std::string query;         // after '?', without it
  std::string origin;        // "http://host:port" as the client addressed us
  std::chrono::steady_clock::time_point started;
  // The client's socket, watched while the upstream thinks (a client that leaves cancels
  // the upstream call); null in tests that have no client.
  boost::asio::ip::tcp::socket* client_socket = nullptr;
  ClientWatchList* client_watch = nullptr;  // the I/O thread's (client_watch.h)
  PingList* ping_list = nullptr;            // the I/O thread's (idle_ping.h)
  // The named client (SPEC 2.3) whose token authenticated the request, and that token's
  // SHA-256 (it tells apart the sessions and stored responses of different tokens); null
  // before authentication and on routes without client tokens.
  Client* client = nullptr;
  const std::array<unsigned char, 32>* token_sha256 = nullptr;
  bool client_admitted = false;  // the client's limits passed (once per request)
  // Filled in while serving, for the log line and metrics.
  std::string route = "other";
  std::string model = "-";
  std::string key_id = "-";
  int attempts = 0;
  int64_t queued_ms = 0;  // time spent waiting for a key (SPEC 4.7)
};

struct ClientToken {
  std::array<unsigned char, 32> sha256{};
  Client* client = nullptr;
};

// What a usage history read found.
struct UsageAnswer {
  std::vector<UsageRow> rows;
  std::string error;      // empty when the read succeeded
  bool too_many = false;  // the error is "more rows than an answer may hold"
};

struct Services {
  const Config* config = nullptr;
  KeyPool* pool = nullptr;
  Affinity* affinity = nullptr;
  SessionStore* sessions = nullptr;  // soft session affinity; null: none
  Metrics* metrics = nullptr;
  Clients* clients = nullptr;  // the named clients and their limits; null: none (tests)
  // Every accepted client token, as its SHA-256, and whose it is (one of `clients`).
  std::vector<ClientToken> client_tokens;
  WaitQueue* queue = nullptr;  // requests waiting for a key (--max-queue-wait); null: none
  SignatureCache* signatures = nullptr;                  // OpenAI tool-call signatures
  std::shared_ptr<boost::asio::ssl::context> fetch_tls;  // --fetch-image-urls
  // Egress proxies by key (--upstream-proxy, HTTPS_PROXY, the key file's proxy=; the pins
  // are replaced on reload); null: every connection direct. Given to each UpstreamPool.
  std::shared_ptr<Egress> egress;
  std::atomic<bool> draining{false};
  // With --redis: whether Redis answers now (/healthz says "redis":"down" when not); null
  // without Redis.
  const std::atomic<bool>* redis_up = nullptr;
  // Asks the store to write pending state changes now (a ticket), and whether the write
  // with that ticket has committed. Empty in tests without a store.
  std::function<uint64_t()> request_flush;
  std::function<bool(uint64_t)> flushed;
  // Reloads the key file (SIGHUP, POST /admin/reload): a one-line summary, or an error
  // text starting with "error: ".
  std::function<std::string()> reload;
  // Probes a key now (POST /admin/keys/{id}/check): the JSON answer, or nullopt when there
  // is no such key. Runs on the key checker's thread; empty when there is none.
  std::function<boost::asio::awaitable<std::optional<std::string>>(std::string key_id)> check_key;
  // Reads usage history (GET /admin/usage) on a thread of its own: the rows, or an error
  // (too_many: more rows than an answer may hold). Empty when there is no store.
  std::function<boost::asio::awaitable<UsageAnswer>(UsageQuery)> usage_history;
  // Today's quota day, for the defaults of GET /admin/usage. Empty in tests.
  std::function<std::string()> quota_day;
  bool fault_injection = false;  // GKM_FAULT_INJECTION=1 (tests only): see FaultPoint
  // A stream that has keepalive events (Anthropic's ping) sends one after this long without
  // upstream bytes (relay.h). GKM_TEST_PING_MS=<ms> (tests only) shortens it.
  std::chrono::milliseconds ping_every{15000};
};

// The client side of one connection: its socket, the socket's deadline and the time each
// read or write of it may take.
struct ClientConn {
  boost::asio::ip::tcp::socket& stream;
  Deadline& deadline;
  std::chrono::seconds timeout;
  bool answer_begun = false;  // bytes of the current request's answer went out
};

// Starts writing bytes of an answer to the client within its timeout: co_await the result
// and hand it to client.deadline.Done(). (Not a coroutine of its own: a frame per write
// showed in the request's cost.)
template <size_t N>
boost::asio::awaitable<boost::system::error_code> WriteToClient(
    ClientConn& client, std::array<boost::asio::const_buffer, N> buffers) {
  client.answer_begun = true;
  client.deadline.Arm(client.timeout);
  return WriteAll(client.stream, buffers);
}

// Test-only fault injection: with GKM_FAULT_INJECTION=1 in the proxy's environment at
// start (Services::fault_injection), a request carrying `x-gkm-fault: <where>` throws at
// the named point, so that the tests can show what an unexpected exception does to a
// request and to the bookkeeping of others. Nothing happens otherwise.
void FaultPoint(const Services& svc, const Request& req, std::string_view where);

// A Gemini-shaped error body: {"error":{"code":..,"message":..,"status":..}}.
std::string GeminiErrorBody(int code, std::string_view message);
// The gRPC status name Google uses for an HTTP status.
std::string_view StatusNameOf(int code);

// Pieces of a message head as wire bytes: "HTTP/1.1 200 OK\r\n" and "Name: value\r\n".
void AppendStatusLine(std::string& out, unsigned version, int status, std::string_view reason);
void AppendField(std::string& out, std::string_view name, std::string_view value);

// A response head as wire bytes: status line, the fields as they are, the empty line.
std::string HeadBytes(const http::response_header<>& head);

// Sends a complete response with a Date header. False when the client is gone.
boost::asio::awaitable<bool> SendResponse(ClientConn& client,
                                          http::response<http::string_body>& res);

// A JSON response with the route's error shape (Gemini's).
http::response<http::string_body> JsonResponse(int code, std::string body, bool keep_alive);

// The HTTP Date header value for now (cached per second).
std::string HttpDateNow();

}  // namespace gkm
