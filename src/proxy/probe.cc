#include "proxy/probe.h"

#include <boost/asio/use_awaitable.hpp>

#include "proxy/attempts.h"
#include "proxy/exchange.h"
#include "upstream/tunnel.h"

namespace gkm {
namespace {

constexpr size_t kProbeBodyLimit = 1 << 20;  // as the request path's error bodies

}  // namespace

ProbeEffect EffectOf(const ProbeResult& r) {
  if (r.verdict.outcome == Outcome::kInvalid) return ProbeEffect::kInvalid;
  if (r.verdict.outcome == Outcome::kSuccess || r.status == 429) return ProbeEffect::kActive;
  return ProbeEffect::kUnknown;
}

std::string ProbeBody(const ProbeOptions& o) {
  if (o.model.empty()) return {};
  return R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}],)"
         R"("generationConfig":{"maxOutputTokens":1}})";
}

std::string ProbeHead(const UpstreamPool& up, const ApiKey& key, const ProbeOptions& o,
                      std::string_view body) {
  std::string h = o.model.empty() ? "GET " : "POST ";
  h += up.url().base_path;
  h += o.model.empty() ? "/v1beta/models?pageSize=1"
                       : "/v1beta/models/" + o.model + ":generateContent";
  h += " HTTP/1.1\r\nHost: ";
  h += up.host_header();
  h += "\r\n";
  // Plain bodies, as on the request path (ReadBody still undoes a coding sent anyway).
  h += "Accept-Encoding: identity\r\n";
  if (!o.model.empty()) {
    AppendField(h, "Content-Type", "application/json");
    AppendField(h, "Content-Length", std::to_string(body.size()));
  }
  h += "x-goog-api-key: ";
  h += key.reveal();
  h += "\r\n\r\n";
  return h;
}

boost::asio::awaitable<ProbeResult> ProbeKey(UpstreamPool& up, std::shared_ptr<const ApiKey> key,
                                             ProbeOptions options) {
  const std::string body = ProbeBody(options);
  const std::string head = ProbeHead(up, *key, options, body);
  ProbeResult r;
  Answer a;
  a.picked = PickedKey{0, key.get()};  // `key` lives as long as this frame
  const auto t0 = std::chrono::steady_clock::now();
  auto done = [&] {
    r.latency_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  boost::system::error_code ec;
  // A reused idle connection the server closed meanwhile gets one more try on a fresh one.
  for (int round = 0; round < 2; ++round) {
    try {
      a.conn = co_await up.Acquire(key->id(), round > 0);
    } catch (const EgressError& e) {
      r.verdict = TransportFailure(e.reason());
      done();
      co_return r;
    } catch (const boost::system::system_error& e) {
      ec = e.code();
      a.conn.reset();
      break;
    }
    a.parser = std::make_unique<AnswerParser>();
    bool reused = a.conn->reused;
    ec = co_await SendAndReadHead(*a.conn, head, body, *a.parser, options.timeout);
    if (!ec || !reused || ec == boost::beast::error::timeout) break;
    a.conn.reset();
  }
  if (ec) {
    r.verdict = TransportFailure(DescribeTransport(ec));
    done();
    co_return r;
  }
  r.status = a.parser->status();
  std::string text;
  // The body is read whole (for the verdict, and so that the connection can serve again).
  const bool whole = co_await ReadBody(a, text, kProbeBodyLimit, options.timeout);
  done();
  if (r.status < 400) {
    r.verdict = Verdict{};
  } else if (whole) {
    r.verdict = Classify(r.status, text, options.bare429);
  } else {
    // As on the request path: nothing of an unreadable body is judged.
    r.verdict = r.status == 429
                    ? Verdict{Outcome::kCooling, Millis(0), "429, body unreadable", false, {}}
                    : Classify(r.status, "", Bare429::kCooling);
  }
  if (whole && a.parser->is_done() && a.parser->keep_alive()) up.Release(std::move(a.conn));
  co_return r;
}

}  // namespace gkm
