// Server: accepts client connections and runs one coroutine per connection.
//
// Each I/O thread owns an io_context and an UpstreamPool; the acceptor hands every new
// connection to the next thread in turn, and the connection lives on that thread for
// good, so a request never crosses threads. Per connection: read the header within
// --client-timeout, authenticate before reading the body, enforce the size limit, route,
// answer, repeat while keep-alive. Drain(): stop accepting, close idle connections, let
// busy ones finish their request.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "proxy/exchange.h"
#include "proxy/openai.h"
#include "upstream/upstream.h"

namespace gkm {

class Server {
 public:
  // What a request's path routes it to.
  enum class Route { kHealth, kMetrics, kAdmin, kOpenAi, kAnthropic, kNative, kNotFound };

  Server(Services& services, std::shared_ptr<boost::asio::ssl::context> upstream_tls);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket. False and *error ("127.0.0.1:5000 is in use") on failure.
  bool Listen(std::string* error);
  // Starts the I/O threads; returns at once.
  void Start();
  // Stops accepting and closes idle connections; thread-safe.
  void Drain();
  // Connections still open.
  size_t open_connections() const { return open_.load(); }
  // Stops the I/O threads and joins them.
  void Stop();

  uint16_t port() const { return port_; }

 private:
  struct Worker;
  struct Session;
  struct SessionScope;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> RunSession(Worker& worker, boost::asio::ip::tcp::socket socket);
  // The request's phases, in order (RunSession reads the head and the body itself: a
  // coroutine frame per phase showed in the cost of a request).
  std::optional<Response> AnswerToBadHead(boost::system::error_code hec) const;
  void Describe(Request& req, const std::string& local) const;
  Route RouteOf(const Request& req, OpenAiRoute* openai) const;
  std::optional<Response> Admit(Request& req, Route kind, bool keep_alive) const;
  std::optional<Response> AnswerToBadBody(boost::system::error_code bec) const;
  boost::asio::awaitable<int> Serve(Worker& worker, Request& req, Route kind, OpenAiRoute openai,
                                    ClientConn& client, bool keep_alive);
  Response AdminAnswer(const Request& req);
  void Record(const Request& req, int status) const;
  void LogRequestJson(const Request& req, int status, double secs) const;

  Services& svc_;
  std::shared_ptr<boost::asio::ssl::context> upstream_tls_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::atomic<size_t> open_{0};
  mutable std::atomic<uint64_t> next_request_id_{1};
  uint16_t port_ = 0;
  bool started_ = false;
};

}  // namespace gkm
