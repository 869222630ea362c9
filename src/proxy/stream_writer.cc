#include "proxy/stream_writer.h"

#include <array>
#include <cstdio>
#include <utility>

#include "common/http_io.h"

namespace gkm {

namespace asio = boost::asio;

namespace {

http::response<http::buffer_body>& Prepared(http::response<http::buffer_body>& res,
                                            std::optional<uint64_t> length) {
  if (res.find(http::field::date) == res.end()) res.set(http::field::date, HttpDateNow());
  if (length) {
    res.content_length(*length);
  } else {
    res.chunked(true);
  }
  return res;
}

}  // namespace

StreamWriter::StreamWriter(ClientConn& client, http::response<http::buffer_body>& res,
                           std::optional<uint64_t> length)
    : client_(client), head_(HeadBytes(Prepared(res, length).base())), chunked_(!length) {}

StreamWriter::StreamWriter(ClientConn& client, std::string head)
    : client_(client), head_(std::move(head)), chunked_(true) {}

std::string SseHead(bool keep_alive) {
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "Date: ";
  head += HttpDateNow();
  head += "\r\nTransfer-Encoding: chunked\r\n\r\n";
  return head;
}

asio::awaitable<bool> StreamWriter::Start() {
  if (!ok_ || head_.empty()) co_return ok_;
  co_return co_await Send({}, false);
}

asio::awaitable<bool> StreamWriter::Write(std::string_view bytes) {
  if (!ok_ || ended_ || (bytes.empty() && head_.empty())) co_return ok_;
  co_return co_await Send(bytes, false);
}

asio::awaitable<bool> StreamWriter::End(std::string_view last) {
  if (!ok_ || ended_) co_return ok_;
  ended_ = true;
  co_return co_await Send(last, true);
}

// One gather write: the head if it is still due, the piece in its chunk frame, and the
// chunked body's end when `last`.
asio::awaitable<bool> StreamWriter::Send(std::string_view bytes, bool last) {
  char size_line[24] = "";
  size_t size_len = 0;
  if (chunked_ && !bytes.empty()) {
    size_len =
        static_cast<size_t>(std::snprintf(size_line, sizeof size_line, "%zx\r\n", bytes.size()));
  }
  std::string_view after = !chunked_ || bytes.empty() ? "" : "\r\n";
  std::string_view end = chunked_ && last ? "0\r\n\r\n" : "";
  std::array<asio::const_buffer, 5> out{asio::buffer(head_), asio::buffer(size_line, size_len),
                                        asio::buffer(bytes.data(), bytes.size()),
                                        asio::buffer(after.data(), after.size()),
                                        asio::buffer(end.data(), end.size())};
  ok_ = !client_.deadline.Done(co_await WriteToClient(client_, out));
  head_.clear();
  co_return ok_;
}

}  // namespace gkm
