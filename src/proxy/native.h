// Native pass-through (SPEC 3.2, 3.3, 4): the request path for Gemini REST clients.
//
// Phases, one place each: pick a key (affinity first) → forward the raw request with the
// real key → judge the status line (and the error body) → retry on another key while
// nothing has reached the client → stream the answer back as it arrives → record usage.
// Runs on the connection's I/O thread with that thread's UpstreamPool.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "proxy/exchange.h"
#include "upstream/upstream.h"

namespace gkm {

// Serves one native request. Returns whether the client connection may be kept alive.
// Sets req.status-related fields for the log line.
boost::asio::awaitable<int> ServeNative(Request& req, ClientConn& client, Services& svc,
                                        UpstreamPool& upstream, bool keep_alive);

// The return value packs the status sent and whether the connection stays open.
inline int PackResult(int status, bool keep_alive) { return keep_alive ? status : -status; }
inline int StatusOf(int packed) { return packed < 0 ? -packed : packed; }
inline bool KeepAliveOf(int packed) { return packed > 0; }

}  // namespace gkm
