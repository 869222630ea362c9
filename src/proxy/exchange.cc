#include "proxy/exchange.h"

#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <ctime>
#include <stdexcept>

#include "common/http_io.h"

namespace gkm {

std::string_view StatusNameOf(int code) {
  switch (code) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 408:
      return "DEADLINE_EXCEEDED";
    case 413:
      return "INVALID_ARGUMENT";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 500:
      return "INTERNAL";
    case 502:
      return "UNAVAILABLE";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
  }
}

std::string GeminiErrorBody(int code, std::string_view message) {
  boost::json::object err;
  err["code"] = code;
  err["message"] = message;
  err["status"] = StatusNameOf(code);
  boost::json::object root;
  root["error"] = std::move(err);
  return boost::json::serialize(root);
}

std::string HttpDateNow() {
  thread_local std::time_t cached_at = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm;
    gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_at = now;
  }
  return cached;
}

http::response<http::string_body> JsonResponse(int code, std::string body, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(code), 11};
  res.set(http::field::content_type, "application/json; charset=UTF-8");
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

void AppendStatusLine(std::string& out, unsigned version, int status, std::string_view reason) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
  out += ' ';
  out += std::to_string(status);
  out += ' ';
  out += reason;
  out += "\r\n";
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

std::string HeadBytes(const http::response_header<>& head) {
  std::string out;
  out.reserve(256);
  AppendStatusLine(out, head.version(), head.result_int(), head.reason());
  for (const auto& f : head) AppendField(out, f.name_string(), f.value());
  out += "\r\n";
  return out;
}

boost::asio::awaitable<bool> SendResponse(ClientConn& client,
                                          http::response<http::string_body>& res) {
  if (res.find(http::field::date) == res.end()) res.set(http::field::date, HttpDateNow());
  // The head as wire bytes and the body as a second buffer, in one write (Beast's
  // serializer allocates and walks buffer sequences for the same bytes).
  std::string head = HeadBytes(res.base());
  std::array<boost::asio::const_buffer, 2> out{boost::asio::buffer(head),
                                               boost::asio::buffer(res.body())};
  co_return !client.deadline.Done(co_await WriteToClient(client, out));
}

void FaultPoint(const Services& svc, const Request& req, std::string_view where) {
  if (!svc.fault_injection) return;
  if (req.msg.Find("x-gkm-fault") == where) {
    throw std::runtime_error("fault injected at " + std::string(where));
  }
}

}  // namespace gkm
