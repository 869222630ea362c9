#include "common/request_parser.h"

#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/verb.hpp>
#include <string>
#include <vector>

namespace gkm {
namespace {

namespace http = boost::beast::http;
using boost::system::error_code;
using namespace std::string_literals;

constexpr uint64_t kNoLimit = 1 << 20;

// Feeds `wire` to a parser `step` bytes at a time, as a socket might deliver it: PutHead on
// the growing buffer until it has the head, then PutBody. *err gets the first error (not
// need_more), *rest what was not taken.
void Feed(RequestParser& p, std::string_view wire, size_t step, error_code* err,
          std::string* rest = nullptr) {
  std::string buffered;
  size_t fed = 0;
  *err = {};
  for (;;) {
    if (fed < wire.size()) {
      size_t n = std::min(step, wire.size() - fed);
      buffered.append(wire.substr(fed, n));
      fed += n;
    }
    error_code ec;
    if (!p.header_done()) {
      size_t used = p.PutHead(buffered, ec);
      if (ec == http::error::need_more) {
        EXPECT_EQ(used, 0u);
        if (fed == wire.size()) break;
        continue;
      }
      if (ec) {
        *err = ec;
        break;
      }
      EXPECT_TRUE(p.header_done());
      EXPECT_LE(used, buffered.size());
      buffered.erase(0, used);
    }
    while (!p.is_done() && !buffered.empty()) {
      size_t used = p.PutBody(buffered, ec);
      EXPECT_LE(used, buffered.size());
      buffered.erase(0, used);
      if (ec) {
        *err = ec;
        break;
      }
      if (used == 0) break;
    }
    if (*err || p.is_done() || fed == wire.size()) break;
  }
  if (rest) *rest = buffered + std::string(wire.substr(fed));
}

// Parses a whole message given at once; returns the error.
error_code ParseAll(RequestParser& p, std::string_view wire) {
  error_code ec;
  Feed(p, wire, wire.size() + 1, &ec);
  return ec;
}

TEST(RequestParser, RequestLineAndFields) {
  RequestParser p(kNoLimit);
  std::string wire =
      "POST /v1beta/models/gemini:generateContent?alt=sse&key=a%20b HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "content-TYPE: application/json\r\n"
      "X-Empty:\r\n"
      "X-Spaced: \t a  b \t\r\n"
      "X-Tight:v\r\n"
      "Content-Length: 2\r\n"
      "\r\n"
      "{}";
  EXPECT_FALSE(ParseAll(p, wire));
  EXPECT_TRUE(p.header_done());
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(p.method(), http::verb::post);
  EXPECT_EQ(p.method_string(), "POST");
  EXPECT_EQ(p.target(), "/v1beta/models/gemini:generateContent?alt=sse&key=a%20b");
  EXPECT_EQ(p.version(), 11u);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_FALSE(p.chunked());
  EXPECT_TRUE(p.has_body());
  EXPECT_EQ(p.content_length(), std::optional<uint64_t>(2));
  ASSERT_EQ(p.fields().size(), 6u);
  EXPECT_EQ(p.fields()[0].name, "Host");
  EXPECT_EQ(p.fields()[0].value, "example.com");
  EXPECT_EQ(p.fields()[1].name, "content-TYPE");  // as written
  EXPECT_EQ(p.fields()[1].value, "application/json");
  EXPECT_EQ(p.fields()[2].name, "X-Empty");
  EXPECT_EQ(p.fields()[2].value, "");
  EXPECT_EQ(p.fields()[3].value, "a  b");  // OWS around trimmed, inside kept
  EXPECT_EQ(p.fields()[4].name, "X-Tight");
  EXPECT_EQ(p.fields()[4].value, "v");
  EXPECT_EQ(p.fields()[5].name, "Content-Length");
  EXPECT_EQ(p.fields()[5].value, "2");
  EXPECT_EQ(p.body(), "{}");
}

TEST(RequestParser, FieldsAreViewsIntoItsOwnCopyOfTheHead) {
  RequestParser p(kNoLimit);
  std::string wire = "GET /a HTTP/1.1\r\nHost: h\r\nX-Key: secret\r\n\r\n";
  error_code ec;
  EXPECT_EQ(p.PutHead(wire, ec), wire.size());
  EXPECT_FALSE(ec) << ec.message();
  wire.assign(wire.size(), 'z');  // the caller's buffer is reused for the next read
  EXPECT_EQ(p.method_string(), "GET");
  EXPECT_EQ(p.target(), "/a");
  ASSERT_EQ(p.fields().size(), 2u);
  EXPECT_EQ(p.fields()[1].name, "X-Key");
  EXPECT_EQ(p.fields()[1].value, "secret");
  EXPECT_EQ(p.Find("host"), std::optional<std::string_view>("h"));
}

TEST(RequestParser, FindIgnoresCaseAndReturnsTheFirst) {
  RequestParser p(kNoLimit);
  EXPECT_FALSE(ParseAll(p,
                        "GET / HTTP/1.1\r\nX-Goog-Api-Key: one\r\nAuthorization: Bearer t\r\n"
                        "x-goog-api-key: two\r\nX-Blank: \r\n\r\n"));
  EXPECT_EQ(p.Find("x-goog-api-key"), std::optional<std::string_view>("one"));
  EXPECT_EQ(p.Find("authorization"), std::optional<std::string_view>("Bearer t"));
  EXPECT_EQ(p.Find("x-blank"), std::optional<std::string_view>(""));
  EXPECT_EQ(p.Find("X-Goog-Api"), std::nullopt);
  EXPECT_EQ(p.Find("content-length"), std::nullopt);
}

TEST(RequestParser, MethodsAsVerbs) {
  struct {
    std::string method;
    http::verb verb;
  } cases[] = {
      {"GET", http::verb::get},
      {"POST", http::verb::post},
      {"DELETE", http::verb::delete_},
      {"OPTIONS", http::verb::options},
      {"HEAD", http::verb::head},
      {"FROB", http::verb::unknown},
      {"get", http::verb::unknown},  // methods are case-sensitive (RFC 9110 9.1)
      {"M-SEARCH_x!", http::verb::unknown},
  };
  for (const auto& c : cases) {
    RequestParser p(kNoLimit);
    EXPECT_FALSE(ParseAll(p, c.method + " /x HTTP/1.1\r\nHost: h\r\n\r\n")) << c.method;
    EXPECT_EQ(p.method(), c.verb) << c.method;
    EXPECT_EQ(p.method_string(), c.method);
    EXPECT_EQ(p.target(), "/x");
  }
}

TEST(RequestParser, TargetForms) {
  for (std::string target : {"*", "http://example.com:80/a?b=c", "example.com:443", "/"}) {
    RequestParser p(kNoLimit);
    EXPECT_FALSE(ParseAll(p, "OPTIONS " + target + " HTTP/1.1\r\n\r\n")) << target;
    EXPECT_EQ(p.target(), target);
  }
}

TEST(RequestParser, EveryFramingAtEverySplit) {
  struct {
    std::string wire;
    std::string body;
    bool chunked;
  } cases[] = {
      {"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "hello", false},
      {"POST /a HTTP/1.1\r\ncontent-length:12\r\nHost: h\r\n\r\nhello\r\nworld", "hello\r\nworld",
       false},
      // Equal repeats of the length are one length.
      {"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "abc", false},
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
       "world\r\n0\r\n\r\n",
       "hello world", true},
      // Extensions, hex in both cases, leading zeros, trailers: all dropped.
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
       "A;name=value\r\n0123456789\r\n1 ; x\r\n!\r\n00b;q=\"a;b\"\r\nabcdefghijk\r\n"
       "0;last=1\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n",
       "0123456789!abcdefghijk", true},
      // Chunked is the last coding.
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n", "xyz",
       true},
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "", true},
      // No body.
      {"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "", false},
      {"POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "", false},
      {"GET / HTTP/1.0\r\n\r\n", "", false},
  };
  const std::string next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const auto& c : cases) {
    for (size_t step = 1; step <= c.wire.size(); ++step) {
      RequestParser p(kNoLimit);
      error_code ec;
      std::string rest;
      Feed(p, c.wire + next, step, &ec, &rest);
      EXPECT_FALSE(ec) << c.wire << " step " << step << ": " << ec.message();
      EXPECT_TRUE(p.is_done()) << c.wire << " step " << step;
      EXPECT_EQ(p.chunked(), c.chunked) << c.wire;
      EXPECT_EQ(p.body(), c.body) << c.wire << " step " << step;
      // Nothing of the pipelined request is taken.
      EXPECT_EQ(rest, next) << c.wire << " step " << step;
    }
  }
}

TEST(RequestParser, PutBodyTakesOnlyTheBody) {
  // Content-Length.
  {
    RequestParser p(kNoLimit);
    std::string head = "POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
    std::string wire = head + "bodyGET /b HTTP/1.1\r\n\r\n";
    error_code ec;
    EXPECT_EQ(p.PutHead(wire, ec), head.size());
    EXPECT_FALSE(ec);
    EXPECT_FALSE(p.is_done());
    EXPECT_EQ(p.PutBody(std::string_view(wire).substr(head.size()), ec), 4u);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(p.is_done());
    EXPECT_EQ(p.body(), "body");
    EXPECT_EQ(p.PutBody("more", ec), 0u);  // done: nothing more is taken
    EXPECT_FALSE(ec);
    EXPECT_EQ(p.body(), "body");
  }
  // Chunked.
  {
    RequestParser p(kNoLimit);
    std::string head = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string body = "2\r\nab\r\n0\r\nX: y\r\n\r\n";
    std::string wire = head + body + "GET /b HTTP/1.1\r\n\r\n";
    error_code ec;
    EXPECT_EQ(p.PutHead(wire, ec), head.size());
    EXPECT_FALSE(ec);
    EXPECT_TRUE(p.chunked());
    EXPECT_TRUE(p.has_body());
    EXPECT_EQ(p.content_length(), std::nullopt);
    EXPECT_EQ(p.PutBody(std::string_view(wire).substr(head.size()), ec), body.size());
    EXPECT_FALSE(ec);
    EXPECT_TRUE(p.is_done());
    EXPECT_EQ(p.body(), "ab");
    EXPECT_EQ(p.PutBody("1\r\nz\r\n", ec), 0u);
    EXPECT_EQ(p.body(), "ab");
  }
}

TEST(RequestParser, NoFramingMeansNoBody) {
  for (std::string wire :
       {"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "POST /a HTTP/1.1\r\nHost: h\r\n\r\nnot a body",
        "POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\nnot a body"}) {
    RequestParser p(kNoLimit);
    error_code ec;
    size_t head_end = wire.find("\r\n\r\n") + 4;
    EXPECT_EQ(p.PutHead(wire, ec), head_end) << wire;
    EXPECT_FALSE(ec) << wire << ": " << ec.message();
    EXPECT_TRUE(p.header_done());
    EXPECT_TRUE(p.is_done()) << wire;
    EXPECT_FALSE(p.has_body()) << wire;
    EXPECT_FALSE(p.chunked());
    EXPECT_EQ(p.PutBody(std::string_view(wire).substr(head_end), ec), 0u);
    EXPECT_EQ(p.body(), "");
  }
}

TEST(RequestParser, KeepAliveFollowsVersionAndConnection) {
  struct {
    std::string head;
    unsigned version;
    bool keep;
  } cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", 11, true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 11, false},
      {"GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", 11, false},
      {"GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", 11, false},
      {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 11, true},
      {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 11, true},
      {"GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", 11, false},
      {"GET / HTTP/1.0\r\n\r\n", 10, false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 10, true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 10, true},
      {"GET / HTTP/1.0\r\nConnection: foo\r\n\r\n", 10, false},
  };
  for (const auto& c : cases) {
    RequestParser p(kNoLimit);
    EXPECT_FALSE(ParseAll(p, c.head)) << c.head;
    EXPECT_EQ(p.version(), c.version) << c.head;
    EXPECT_EQ(p.keep_alive(), c.keep) << c.head;
  }
}

TEST(RequestParser, TransferEncodingInHttp10EndsTheConnection) {
  // RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty; the
  // connection must close after it (or the request be refused).
  RequestParser p(kNoLimit);
  error_code ec = ParseAll(p,
                           "POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
  if (!ec) {
    EXPECT_TRUE(p.is_done());
    EXPECT_FALSE(p.keep_alive());
  } else {
    EXPECT_EQ(ec, http::error::bad_transfer_encoding) << ec.message();
  }
}

TEST(RequestParser, EmptyLinesBeforeTheRequestLineAreSkipped) {
  const std::string next = "GET /next HTTP/1.1\r\n\r\n";
  for (std::string wire : {"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
                           "\r\n\r\n\r\nPOST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"}) {
    for (size_t step = 1; step <= wire.size(); ++step) {
      RequestParser p(kNoLimit);
      error_code ec;
      std::string rest;
      Feed(p, wire + next, step, &ec, &rest);
      EXPECT_FALSE(ec) << wire << " step " << step << ": " << ec.message();
      EXPECT_TRUE(p.is_done()) << wire << " step " << step;
      EXPECT_EQ(p.target(), "/a") << wire << " step " << step;
      EXPECT_EQ(p.body(), wire.ends_with("ok") ? "ok" : "") << wire << " step " << step;
      EXPECT_EQ(rest, next) << wire << " step " << step;
    }
  }
}

TEST(RequestParser, EmptyLinesCountTowardsTheHeadLimit) {
  // Endless empty lines must not make the caller buffer without end.
  RequestParser p(kNoLimit);
  error_code ec;
  std::string wire;
  for (size_t i = 0; i < RequestParser::kHeadLimit; ++i) wire += "\r\n";
  Feed(p, wire, 1024, &ec);
  EXPECT_EQ(ec, http::error::header_limit) << ec.message();
  EXPECT_FALSE(p.header_done());
}

TEST(RequestParser, MalformedHeadsAreRejected) {
  struct {
    std::string wire;
    http::error want;
  } cases[] = {
      // The method: a token.
      {" / HTTP/1.1\r\n\r\n", http::error::bad_method},
      {"GE(T / HTTP/1.1\r\n\r\n", http::error::bad_method},
      {"G\x01T / HTTP/1.1\r\n\r\n", http::error::bad_method},
      // The target: present, no control characters.
      {"GET  HTTP/1.1\r\n\r\n", http::error::bad_target},
      {"GET /a\x01z HTTP/1.1\r\n\r\n", http::error::bad_target},
      {"GET /a\x7fz HTTP/1.1\r\n\r\n", http::error::bad_target},
      {"GET /a\tz HTTP/1.1\r\n\r\n", http::error::bad_target},
      // The version: HTTP/1.0 or HTTP/1.1 exactly.
      {"GET / HTTP/2.0\r\n\r\n", http::error::bad_version},
      {"GET / HTTP/1.2\r\n\r\n", http::error::bad_version},
      {"GET / HTTX/1.1\r\n\r\n", http::error::bad_version},
      {"GET / http/1.1\r\n\r\n", http::error::bad_version},
      {"GET / HTTP/1.1x\r\n\r\n", http::error::bad_version},
      {"GET / HTTP/1\r\n\r\n", http::error::bad_version},
      {"GET / \r\n\r\n", http::error::bad_version},
      // Field lines.
      {"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\n: no name\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nName : x\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nA: 1\r\n\tfolded\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n", http::error::bad_value},
      {"GET / HTTP/1.1\r\nA: x\x7fy\r\n\r\n", http::error::bad_value},
      {"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", http::error::bad_value},
      {"GET / HTTP/1.1\r\nA: x\x00y\r\n\r\n"s, http::error::bad_value},
      // A bare LF ends no field line: it is a control character inside the value.
      {"GET / HTTP/1.1\r\nA: x\nB: y\r\n\r\n", http::error::bad_value},
      // Framing.
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
       http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
       http::error::bad_content_length},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
       http::error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
       http::error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", http::error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       http::error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
       http::error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
       http::error::bad_transfer_encoding},
  };
  for (const auto& c : cases) {
    // Whole, and byte by byte (the error must not depend on how the head arrived).
    for (size_t step : {c.wire.size(), size_t{1}}) {
      RequestParser p(kNoLimit);
      error_code ec;
      Feed(p, c.wire, step, &ec);
      EXPECT_EQ(ec, c.want) << c.wire << " step " << step << ": " << ec.message();
      EXPECT_FALSE(p.header_done()) << c.wire;
    }
  }
}

TEST(RequestParser, BareLineFeedsEndNoRequestLine) {
  // Which part of the request line is blamed is not specified; it must be an error.
  for (std::string wire : {"GET / HTTP/1.1\nHost: h\r\n\r\n", "GET / HTTP/1.1\n\r\n\r\n",
                           "GET /a b HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 \r\n\r\n"}) {
    RequestParser p(kNoLimit);
    error_code ec;
    Feed(p, wire, wire.size(), &ec);
    EXPECT_TRUE(ec == http::error::bad_method || ec == http::error::bad_target ||
                ec == http::error::bad_version)
        << wire << ": " << ec.message();
    EXPECT_FALSE(p.header_done());
  }
  // Only bare LFs: the head never ends, and is refused past the limit.
  RequestParser p(kNoLimit);
  error_code ec;
  std::string wire = "GET / HTTP/1.1\nHost: h\n\n";
  EXPECT_EQ(p.PutHead(wire, ec), 0u);
  EXPECT_EQ(ec, http::error::need_more);
  wire += std::string(RequestParser::kHeadLimit, '\n');
  EXPECT_EQ(p.PutHead(wire, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);
  EXPECT_FALSE(p.header_done());
}

TEST(RequestParser, HeadLargerThanTheLimitIsRejected) {
  // Not ended yet.
  {
    RequestParser p(kNoLimit);
    error_code ec;
    std::string wire = "GET / HTTP/1.1\r\nX-Big: " + std::string(RequestParser::kHeadLimit, 'a');
    EXPECT_EQ(p.PutHead(wire, ec), 0u);
    EXPECT_EQ(ec, http::error::header_limit);
  }
  // Ended, but past the limit.
  {
    RequestParser p(kNoLimit);
    error_code ec;
    std::string wire =
        "GET / HTTP/1.1\r\nX-Big: " + std::string(RequestParser::kHeadLimit, 'a') + "\r\n\r\n";
    EXPECT_EQ(p.PutHead(wire, ec), 0u);
    EXPECT_EQ(ec, http::error::header_limit);
    EXPECT_FALSE(p.header_done());
  }
  // Arriving in pieces.
  {
    RequestParser p(kNoLimit);
    error_code ec;
    std::string wire =
        "GET / HTTP/1.1\r\nX-Big: " + std::string(2 * RequestParser::kHeadLimit, 'a');
    Feed(p, wire, 4096, &ec);
    EXPECT_EQ(ec, http::error::header_limit);
  }
  // Just under the limit is fine.
  {
    RequestParser p(kNoLimit);
    error_code ec;
    std::string start = "GET / HTTP/1.1\r\nX-Big: ";
    std::string wire =
        start + std::string(RequestParser::kHeadLimit - start.size() - 8, 'a') + "\r\n\r\n";
    ASSERT_LT(wire.size(), RequestParser::kHeadLimit);
    EXPECT_EQ(p.PutHead(wire, ec), wire.size());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(p.Find("x-big")->size(), RequestParser::kHeadLimit - start.size() - 8);
  }
}

TEST(RequestParser, DeclaredLengthOverTheLimitIsNotAHeadError) {
  RequestParser p(10);
  error_code ec;
  std::string head = "POST /a HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n";
  EXPECT_EQ(p.PutHead(head, ec), head.size());
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.header_done());
  EXPECT_FALSE(p.is_done());
  EXPECT_TRUE(p.has_body());
  EXPECT_EQ(p.content_length(), std::optional<uint64_t>(1000000));
}

TEST(RequestParser, BodyOverTheLimitIsRejected) {
  const std::string over[] = {
      "POST /a HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world",
      "POST /a HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + std::string(100, 'x'),
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
      "world\r\n0\r\n\r\n",
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n",
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffff\r\n" + std::string(100, 'x'),
  };
  for (const auto& wire : over) {
    for (size_t step : {size_t{1}, size_t{3}, wire.size()}) {
      RequestParser p(10);
      error_code ec;
      Feed(p, wire, step, &ec);
      EXPECT_EQ(ec, http::error::body_limit) << wire << " step " << step << ": " << ec.message();
      EXPECT_LE(p.body().size(), 10u) << wire;
      EXPECT_FALSE(p.is_done()) << wire;
    }
  }
  // Exactly the limit is fine.
  const std::string at[] = {
      "POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n",
  };
  for (const auto& wire : at) {
    for (size_t step : {size_t{1}, wire.size()}) {
      RequestParser p(10);
      error_code ec;
      Feed(p, wire, step, &ec);
      EXPECT_FALSE(ec) << wire << " step " << step << ": " << ec.message();
      EXPECT_TRUE(p.is_done());
      EXPECT_EQ(p.body(), "0123456789");
    }
  }
}

TEST(RequestParser, MalformedChunksAreRejected) {
  struct {
    std::string body;
    http::error want;
  } cases[] = {
      {"zz\r\n", http::error::bad_chunk},
      {"\r\n", http::error::bad_chunk},
      {";ext\r\n", http::error::bad_chunk},
      {"5x\r\nhello\r\n", http::error::bad_chunk},
      {"-5\r\nhello\r\n", http::error::bad_chunk},
      {"3\r\nabcX\r\n", http::error::bad_chunk},
      {"3\r\nabc\n0\r\n\r\n", http::error::bad_chunk},
      {"ffffffffffffffffff\r\n", http::error::bad_chunk},
      {"0\r\nX: " + std::string(70 * 1024, 'a') + "\r\n\r\n", http::error::header_limit},
  };
  for (const auto& c : cases) {
    // Small steps only for small bodies: a parser may search a growing buffer anew.
    for (size_t step : c.body.size() < 100 ? std::vector<size_t>{1, 7, 100000}
                                           : std::vector<size_t>{4096, 100000}) {
      RequestParser p(kNoLimit);
      error_code ec;
      Feed(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + c.body, step, &ec);
      EXPECT_EQ(ec, c.want) << c.body.substr(0, 40) << " step " << step << ": " << ec.message();
      EXPECT_FALSE(p.is_done());
    }
  }
}

TEST(RequestParser, IncompleteMessagesWaitForMore) {
  for (std::string wire :
       {"GET / HTTP/1.1\r\nHost: h\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"}) {
    for (size_t step : {size_t{1}, wire.size()}) {
      RequestParser p(kNoLimit);
      error_code ec;
      Feed(p, wire, step, &ec);
      EXPECT_FALSE(ec) << wire << ": " << ec.message();
      EXPECT_FALSE(p.is_done()) << wire;
    }
  }
}

}  // namespace
}  // namespace gkm
