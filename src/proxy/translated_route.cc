#include "proxy/translated_route.h"

#include <cstdint>
#include <cstring>
#include <random>

#include "proxy/native.h"  // PackResult, kClientGone

namespace gkm {

std::string RandomId(std::string_view prefix, size_t n) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr uint64_t kBase = sizeof kChars - 1;  // 62
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id(prefix.size() + n, '\0');
  std::memcpy(id.data(), prefix.data(), prefix.size());
  // Nine characters from each 64-bit draw rather than one draw per character (62^9 < 2^64;
  // the ninth is off uniform by about 1 in 80,000).
  char* out = id.data() + prefix.size();
  for (size_t i = 0; i < n;) {
    uint64_t r = rng();
    for (int k = 0; k < 9 && i < n; ++k, ++i) {
      out[i] = kChars[r % kBase];
      r /= kBase;
    }
  }
  return id;
}

boost::asio::awaitable<int> SendAnswer(ClientConn& client, http::response<http::string_body>& res,
                                       bool keep_alive) {
  const int status = res.result_int();
  const bool sent = co_await SendResponse(client, res);
  co_return PackResult(status, sent && keep_alive);
}

boost::asio::awaitable<int> SendNoAnswer(ClientConn& client, const NoAnswer& none, ErrorShape shape,
                                         bool keep_alive) {
  if (none.client_gone) co_return PackResult(kClientGone, false);
  auto res = NoAnswerResponse(none, shape, keep_alive);
  co_return co_await SendAnswer(client, res, keep_alive);
}

UpstreamCall ModelPost(const std::string& model, std::string_view method, std::string_view body) {
  UpstreamCall call;
  call.method = http::verb::post;
  call.target = "/v1beta/models/" + model + std::string(method);
  call.body = body;
  call.content_type = "application/json";
  call.model = model;
  return call;
}

}  // namespace gkm
