// Native pass-through (SPEC 3.2, 3.3, 4): the request path for Gemini REST clients.
//
// Phases, one place each: pick a key (affinity first) → forward the raw request with the
// real key → judge the status line (and the error body) → retry on another key while
// nothing has reached the client → stream the answer back as it arrives → record usage.
// Runs on the connection's I/O thread with that thread's UpstreamPool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "proxy/exchange.h"
#include "upstream/upstream.h"

namespace gkm {

// Variations for routes that relay like a native request (--openai-mode google).
struct NativeOptions {
  std::string target_path;          // upstream path instead of the request's own
  std::string model;                // accounting model instead of the one in the path
  std::optional<std::string> body;  // upstream body instead of the request's own
  bool openai_errors = false;       // the proxy's own errors in OpenAI's shape
};

// Serves one native request. Returns PackResult(status sent, keep-alive).
boost::asio::awaitable<int> ServeNative(Request& req, ClientConn& client, Services& svc,
                                        UpstreamPool& upstream, bool keep_alive,
                                        NativeOptions options);

// The status logged for a request whose client left before its answer (nginx's 499).
inline constexpr int kClientGone = 499;

// The return value packs the status sent and whether the connection stays open.
inline int PackResult(int status, bool keep_alive) { return keep_alive ? status : -status; }
inline int StatusOf(int packed) { return packed < 0 ? -packed : packed; }
inline bool KeepAliveOf(int packed) { return packed > 0; }

}  // namespace gkm
