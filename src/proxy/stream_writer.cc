#include "proxy/stream_writer.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gkm {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

http::response<http::buffer_body>& Prepared(http::response<http::buffer_body>& res,
                                            std::optional<uint64_t> length) {
  if (res.find(http::field::date) == res.end()) res.set(http::field::date, HttpDateNow());
  if (length) {
    res.content_length(*length);
  } else {
    res.chunked(true);
  }
  res.body().data = nullptr;
  res.body().size = 0;
  res.body().more = true;
  return res;
}

}  // namespace

StreamWriter::StreamWriter(ClientConn& client, http::response<http::buffer_body>& res,
                           std::optional<uint64_t> length)
    : client_(client), res_(Prepared(res, length)), sr_(res_) {}

asio::awaitable<bool> StreamWriter::Start() {
  if (!ok_) co_return false;
  client_.deadline.Arm(client_.timeout);
  auto [ec, n] = co_await http::async_write_header(client_.stream, sr_, as_tuple(use_awaitable));
  (void)n;
  client_.deadline.Disarm();
  ok_ = !ec;
  co_return ok_;
}

asio::awaitable<bool> StreamWriter::Write(std::string_view bytes) {
  if (!ok_ || bytes.empty()) co_return ok_;
  res_.body().data = const_cast<char*>(bytes.data());
  res_.body().size = bytes.size();
  res_.body().more = true;
  client_.deadline.Arm(client_.timeout);
  auto [ec, n] = co_await http::async_write(client_.stream, sr_, as_tuple(use_awaitable));
  (void)n;
  client_.deadline.Disarm();
  if (ec && ec != http::error::need_buffer) ok_ = false;
  co_return ok_;
}

asio::awaitable<bool> StreamWriter::End() {
  if (!ok_) co_return false;
  res_.body().data = nullptr;
  res_.body().size = 0;
  res_.body().more = false;
  client_.deadline.Arm(client_.timeout);
  auto [ec, n] = co_await http::async_write(client_.stream, sr_, as_tuple(use_awaitable));
  (void)n;
  client_.deadline.Disarm();
  if (ec && ec != http::error::need_buffer) ok_ = false;
  co_return ok_;
}

}  // namespace gkm
