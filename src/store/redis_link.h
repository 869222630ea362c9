// RedisLink: one connection to Redis through hiredis's blocking API, used by one thread
// (store/redis_sync.h gives each of its two threads its own), never by an I/O thread.
// Commands go out as argument vectors (hiredis builds the RESP), several at once when the
// caller pipelines them: Send() appends, Flush() writes them all and reads every reply in
// one round trip. A failed connection stays failed: the owner drops it and dials again.
//
// rediss:// goes through a TlsBridge (store/redis_tls.h): hiredis talks RESP over one end of
// a socket pair, the bridge's thread carries the bytes over TLS; the link owns the bridge.
//
// ParseRedisUrl is pure: redis://[[user]:password@]host[:port][/db] (rediss:// is TLS).
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/redis_tls.h"

namespace gkm {

struct RedisUrl {
  bool tls = false;
  std::string host;
  int port = 6379;
  std::string user;      // empty: the default user (AUTH with the password alone)
  std::string password;  // empty: no AUTH
  int db = 0;
  // "host:port" for messages: never the password.
  std::string Where() const;
};

// The URL, or nullopt with why in *error (never quoting the password).
std::optional<RedisUrl> ParseRedisUrl(std::string_view url, std::string* error);

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

class RedisLink {
 public:
  // Dials, authenticates and selects the db. Null with one line in *error: unreachable,
  // refused password, db index out of range, and for rediss:// (`tls` required then) the
  // handshake or the server's certificate refused.
  static std::unique_ptr<RedisLink> Open(const RedisUrl& url, std::chrono::milliseconds timeout,
                                         std::string* error, const RedisTls* tls = nullptr);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // One command, one round trip: the reply, or null when the connection failed (see
  // error()). A Redis error reply is a reply (type REDIS_REPLY_ERROR).
  Reply Command(const std::vector<std::string>& args);
  // Pipelining: Send() queues a command, Flush() sends all queued ones and returns their
  // replies in order (one round trip); empty when the connection failed.
  void Send(const std::vector<std::string>& args);
  std::vector<Reply> Flush();
  // Subscriber side: waits up to `wait` for a pushed message. Null on time-out (ok() stays
  // true) or failure (ok() false).
  Reply Receive(std::chrono::milliseconds wait);

  bool ok() const { return ctx_ != nullptr && ctx_->err == 0 && !failed_; }
  std::string error() const;
  // Round trips made on this connection (a pipeline counts once).
  uint64_t round_trips() const { return round_trips_; }

 private:
  RedisLink(redisContext* ctx, std::unique_ptr<TlsBridge> bridge)
      : ctx_(ctx), bridge_(std::move(bridge)) {}
  redisContext* ctx_;
  std::unique_ptr<TlsBridge> bridge_;  // rediss:// only; destroyed after ctx_ is freed
  size_t queued_ = 0;
  bool failed_ = false;
  uint64_t round_trips_ = 0;
};

// "ERR ..." text of an error reply, or "" when `r` is not one.
std::string ErrorOf(const redisReply* r);

}  // namespace gkm
