// RelayStream: the "stream back" phase shared by every route that streams an upstream
// answer to its client (native pass-through, OpenAI chat streams, and the surfaces to come).
//
// The body is read piece by piece as it arrives and each piece goes to the client through
// the route's Relay, which decides what the client sees: the bytes as they are (native) or
// their translation (OpenAI events). The usage is recorded before the client can see the
// end of the answer; a break of the upstream stream after the answer began is reported the
// route's way (a closed connection, or an error event). Runs on the request's coroutine.
//
// A Relay provides:
//   std::string_view Piece(std::string_view raw)  bytes to send for raw body bytes (valid
//                                                 until the next call)
//   bool Done() const                             the client's answer is complete already
//   TokenUsage Usage() const                      what the answer reported so far
//   std::string End()                             bytes that end a complete answer
//   std::optional<std::string> Broken()           bytes that end a broken one, or nullopt
//                                                 to close the connection instead
// and optionally
//   std::string Ping() const                      a keepalive event, written whenever the
//                                                 upstream is silent for svc.ping_every
//                                                 (idle_ping.h); a Relay without one costs
//                                                 nothing for it
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <memory>
#include <optional>
#include <string>

#include "proxy/attempts.h"
#include "proxy/idle_ping.h"
#include "proxy/stream_writer.h"

namespace gkm {

// How a relayed answer ended.
struct RelayEnd {
  bool upstream_ok = true;  // the upstream's body arrived whole
  bool client_ok = true;    // the client took all of it
};

template <class Relay>
boost::asio::awaitable<RelayEnd> RelayStream(Answer& a, Request& req, Services& svc,
                                             UpstreamPool& up, StreamWriter& out, Relay& relay) {
  constexpr size_t kChunk = 8192;  // relay buffer per stream
  // The head goes at once, unless body bytes are already here to go out with it.
  if (a.conn->buffer().size() == 0) co_await out.Start();
  constexpr bool kPings = requires { relay.Ping(); };
  std::optional<IdlePing> ping;
  if constexpr (kPings) {
    ping.emplace(req.ping_list, out, relay.Ping(), svc.ping_every);
  }
  auto buf = std::make_unique<char[]>(kChunk);
  RelayEnd end;
  bool finished = false;
  std::string last;  // the final piece, sent along with the end of the body
  while (out.ok() && !a.parser->is_done() && !relay.Done()) {
    if constexpr (kPings) ping->Waiting();
    auto [ec, got] = co_await ReadSome(a, buf.get(), kChunk, svc.config->upstream_timeout);
    if constexpr (kPings) {
      if (ping->Arrived()) co_await ping->Quiet();  // no ping is being written after this
    }
    if (ec) {
      end.upstream_ok = false;
      break;
    }
    std::string_view piece = relay.Piece(std::string_view(buf.get(), got));
    if (a.parser->is_done() || relay.Done()) {
      last = piece;
      if (a.parser->is_done()) {
        // Counted before the client can see the end of the answer.
        FinishAnswer(a, req, svc, up, relay.Usage());
        finished = true;
      }
      break;
    }
    co_await out.Write(piece);
    FaultPoint(svc, req, "relay");
  }
  ping.reset();  // the relay alone writes from here on
  if (!finished) {
    if (!a.parser->is_done()) a.conn.reset();  // not reusable in the middle of a body
    FinishAnswer(a, req, svc, up, relay.Usage());
  }
  if (!end.upstream_ok) {
    spdlog::warn("req={} key={} model={}: upstream stream broke after the answer began", req.id,
                 req.key_id, req.model);
    std::optional<std::string> tail = relay.Broken();
    if (!tail) {
      co_await out.Start();  // the client sees the answer begin, then the connection close
      end.client_ok = false;
      co_return end;
    }
    last += *tail;
  } else {
    last += relay.End();
  }
  end.client_ok = co_await out.End(last);
  co_return end;
}

}  // namespace gkm
