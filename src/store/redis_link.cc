#include "store/redis_link.h"

#include <poll.h>
#include <unistd.h>

#include <charconv>
#include <utility>

#include "common/names.h"

namespace gkm {
namespace {

bool Number(std::string_view s, int lo, int hi, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= lo && *out <= hi;
}

std::vector<const char*> Argv(const std::vector<std::string>& args, std::vector<size_t>* lens) {
  std::vector<const char*> argv;
  argv.reserve(args.size());
  lens->clear();
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens->push_back(a.size());
  }
  return argv;
}

}  // namespace

std::string RedisUrl::Where() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

std::optional<RedisUrl> ParseRedisUrl(std::string_view url, std::string* error) {
  RedisUrl u;
  if (url.starts_with("redis://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("rediss://")) {
    url.remove_prefix(9);
    u.tls = true;
  } else {
    *error = "not a redis:// or rediss:// URL";
    return std::nullopt;
  }
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash + 1);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    size_t colon = info.find(':');
    std::string_view user =
        colon == std::string_view::npos ? std::string_view() : info.substr(0, colon);
    std::string_view pass = colon == std::string_view::npos ? info : info.substr(colon + 1);
    auto user_decoded = PercentDecode(user), pass_decoded = PercentDecode(pass);
    if (!user_decoded || !pass_decoded) {
      *error = "bad percent-encoding in the user info";
      return std::nullopt;
    }
    u.user = std::move(*user_decoded);
    u.password = std::move(*pass_decoded);
  }
  std::string_view port;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = "unclosed [ in the host";
      return std::nullopt;
    }
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') {
      *error = "bad host";
      return std::nullopt;
    }
    if (!rest.empty()) port = rest.substr(1);
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) {
    *error = "no host";
    return std::nullopt;
  }
  if (!port.empty() && !Number(port, 1, 65535, &u.port)) {
    *error = "the port is not 1..65535";
    return std::nullopt;
  }
  if (!path.empty() && !Number(path, 0, 1 << 20, &u.db)) {
    *error = "the db is not a number";
    return std::nullopt;
  }
  return u;
}

std::string ErrorOf(const redisReply* r) {
  if (r == nullptr || r->type != REDIS_REPLY_ERROR) return "";
  return std::string(r->str, r->len);
}

std::unique_ptr<RedisLink> RedisLink::Open(const RedisUrl& url, std::chrono::milliseconds timeout,
                                           std::string* error, const RedisTls* tls) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  std::unique_ptr<TlsBridge> bridge;
  redisContext* ctx = nullptr;
  if (url.tls) {
    if (tls == nullptr) {
      *error = "cannot connect to " + url.Where() + ": rediss:// without a TLS context";
      return nullptr;
    }
    bridge = tls->Dial(url.host, url.port, timeout, error);
    if (!bridge) return nullptr;
    int fd = bridge->TakeFd();
    ctx = redisConnectFd(fd);
    if (ctx == nullptr) ::close(fd);
  } else {
    ctx = redisConnectWithTimeout(url.host.c_str(), url.port, tv);
  }
  if (ctx == nullptr) {
    *error = "cannot connect to " + url.Where() + ": out of memory";
    return nullptr;
  }
  if (ctx->err != 0) {
    *error = "cannot connect to " + url.Where() + ": " + ctx->errstr;
    redisFree(ctx);
    return nullptr;
  }
  std::unique_ptr<RedisLink> link(new RedisLink(ctx, std::move(bridge)));
  // A Redis that stops answering fails the command, not the thread (over TLS, on hiredis's
  // end of the socket pair; the bridge keeps the TCP connection alive itself).
  redisSetTimeout(ctx, tv);
  if (!url.tls) redisEnableKeepAlive(ctx);
  auto step = [&](const std::vector<std::string>& args, const char* what) {
    Reply r = link->Command(args);
    if (!r) {
      *error = std::string(what) + " on " + url.Where() + " failed: " + link->error();
      return false;
    }
    if (std::string e = ErrorOf(r.get()); !e.empty()) {
      *error = std::string(what) + " refused by " + url.Where() + ": " + e;
      return false;
    }
    return true;
  };
  if (!url.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!url.user.empty()) auth.push_back(url.user);
    auth.push_back(url.password);
    if (!step(auth, "authentication")) return nullptr;
  }
  if (!step({"SELECT", std::to_string(url.db)}, "selecting the db")) return nullptr;
  return link;
}

RedisLink::~RedisLink() {
  if (ctx_ != nullptr) redisFree(ctx_);  // closes hiredis's end; bridge_ goes after
}

std::string RedisLink::error() const {
  if (ctx_ == nullptr) return "no connection";
  if (ctx_->err != 0) return ctx_->errstr[0] != 0 ? ctx_->errstr : "connection failed";
  return failed_ ? "connection failed" : "";
}

Reply RedisLink::Command(const std::vector<std::string>& args) {
  Send(args);
  std::vector<Reply> r = Flush();
  if (r.empty()) return nullptr;
  return std::move(r.front());
}

void RedisLink::Send(const std::vector<std::string>& args) {
  if (!ok()) return;
  std::vector<size_t> lens;
  std::vector<const char*> argv = Argv(args, &lens);
  if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
      REDIS_OK) {
    failed_ = true;
    return;
  }
  ++queued_;
}

std::vector<Reply> RedisLink::Flush() {
  std::vector<Reply> out;
  size_t n = std::exchange(queued_, 0);
  if (!ok() || n == 0) return out;
  ++round_trips_;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || r == nullptr) {
      failed_ = true;
      return {};
    }
    out.emplace_back(static_cast<redisReply*>(r));
  }
  return out;
}

Reply RedisLink::Receive(std::chrono::milliseconds wait) {
  if (!ok()) return nullptr;
  void* r = nullptr;
  // A message already read into the buffer first.
  if (redisGetReplyFromReader(ctx_, &r) != REDIS_OK) {
    failed_ = true;
    return nullptr;
  }
  if (r != nullptr) return Reply(static_cast<redisReply*>(r));
  pollfd p{ctx_->fd, POLLIN, 0};
  int n = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (n <= 0) return nullptr;  // time-out (or EINTR): the caller looks again
  if (redisGetReply(ctx_, &r) != REDIS_OK || r == nullptr) {
    failed_ = true;
    return nullptr;
  }
  return Reply(static_cast<redisReply*>(r));
}

}  // namespace gkm
