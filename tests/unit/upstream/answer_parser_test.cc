#include "upstream/answer_parser.h"

#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>
#include <string>

namespace gkm {
namespace {

namespace http = boost::beast::http;
using boost::system::error_code;

// Feeds `wire` to a parser `step` bytes at a time, as a socket might deliver it, and returns
// the body; *err gets the first error, *rest what was left after the message.
std::string Feed(AnswerParser& p, std::string_view wire, size_t step, error_code* err,
                 bool eof = false, std::string* rest = nullptr) {
  std::string buffered, body;
  size_t fed = 0;
  char out[7];  // small on purpose: bodies span many calls
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
        if (fed == wire.size()) break;
        continue;
      }
      if (ec) {
        *err = ec;
        return body;
      }
      buffered.erase(0, used);
    }
    while (!p.is_done() && !buffered.empty()) {
      auto [used, produced] = p.PutBody(buffered, out, sizeof out, ec);
      buffered.erase(0, used);
      body.append(out, produced);
      if (ec) {
        *err = ec;
        return body;
      }
      if (used == 0 && produced == 0) break;
    }
    if (p.is_done() || fed == wire.size()) break;
  }
  if (!p.is_done() && eof) p.PutEof(*err);
  if (rest) *rest = buffered + std::string(wire.substr(fed));
  return body;
}

struct Case {
  std::string wire;
  std::string body;
};

TEST(AnswerParser, HeadFieldsStatusAndLength) {
  AnswerParser p;
  error_code ec;
  std::string body =
      Feed(p,
           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           "X-Empty:\r\nX-Spaced: \t a b \t\r\nContent-Length: 11\r\n\r\nhello world",
           1000, &ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.status(), 200);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_EQ(p.content_length().value_or(0), 11u);
  ASSERT_EQ(p.fields().size(), 4u);
  EXPECT_EQ(p.fields()[0].name, "Content-Type");
  EXPECT_EQ(p.fields()[0].value, "application/json");
  EXPECT_EQ(p.fields()[1].value, "");
  EXPECT_EQ(p.fields()[2].value, "a b");
  EXPECT_EQ(body, "hello world");
  EXPECT_TRUE(p.is_done());
}

TEST(AnswerParser, EveryFramingAtEverySplit) {
  const Case cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
       "world\r\n0\r\n\r\n",
       "hello world"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
       "A;name=value\r\n0123456789\r\n1 ; x\r\n!\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n",
       "0123456789!"},
      // Transfer-Encoding wins over a length (RFC 9112 6.3).
      {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: "
       "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       "abc"},
      {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", ""},
      {"HTTP/1.1 304 Not Modified\r\n\r\n", ""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ""},
  };
  for (const auto& c : cases) {
    for (size_t step = 1; step <= c.wire.size(); ++step) {
      AnswerParser p;
      error_code ec;
      std::string rest;
      std::string body = Feed(p, c.wire + "HTTP/1.1 next", step, &ec, false, &rest);
      EXPECT_FALSE(ec) << c.wire << " step " << step << ": " << ec.message();
      EXPECT_TRUE(p.is_done()) << c.wire << " step " << step;
      EXPECT_EQ(body, c.body) << c.wire << " step " << step;
      // Nothing of the next message is taken.
      EXPECT_EQ(rest, "HTTP/1.1 next") << c.wire << " step " << step;
    }
  }
}

TEST(AnswerParser, BodyUntilCloseWhenNoFraming) {
  for (size_t step : {1, 3, 100}) {
    AnswerParser p;
    error_code ec;
    std::string body =
        Feed(p, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n", step, &ec,
             /*eof=*/true);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(p.is_done());
    EXPECT_FALSE(p.keep_alive());
    EXPECT_EQ(body, "data: x\n\n");
  }
}

TEST(AnswerParser, CutOffBodiesArePartial) {
  for (std::string wire : {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"}) {
    AnswerParser p;
    error_code ec;
    Feed(p, wire, 4, &ec, /*eof=*/true);
    EXPECT_EQ(ec, http::error::partial_message) << wire;
  }
}

TEST(AnswerParser, KeepAliveFollowsVersionAndConnection) {
  struct {
    std::string head;
    bool keep;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nConnection: x-hop, Close\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
  };
  for (const auto& c : cases) {
    AnswerParser p;
    error_code ec;
    Feed(p, c.head, 1000, &ec);
    EXPECT_FALSE(ec) << c.head;
    EXPECT_EQ(p.keep_alive(), c.keep) << c.head;
  }
}

TEST(AnswerParser, HeadRequestsHaveNoBody) {
  AnswerParser p;
  p.SetNoBody();
  error_code ec;
  std::string rest;
  Feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nnext", 1000, &ec, false, &rest);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(p.content_length().value_or(0), 5u);
  EXPECT_EQ(rest, "next");
}

TEST(AnswerParser, MalformedHeadsAreRejected) {
  struct {
    std::string wire;
    http::error want;
  } cases[] = {
      {"HTTP/2 200 OK\r\n\r\n", http::error::bad_version},
      {"HTTP/1.1 2x0 OK\r\n\r\n", http::error::bad_status},
      {"HTTP/1.1 099 Low\r\n\r\n", http::error::bad_status},
      {"HTTP/1.1 200OK\r\n\r\n", http::error::bad_status},
      {"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n", http::error::bad_field},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", http::error::bad_field},
      {"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", http::error::bad_field},
      {"HTTP/1.1 200 OK\r\nA: x\x01y\r\n\r\n", http::error::bad_value},
      {"HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n", http::error::bad_value},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
       http::error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", http::error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http::error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
       http::error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
       http::error::bad_chunk},
  };
  for (const auto& c : cases) {
    AnswerParser p;
    error_code ec;
    Feed(p, c.wire, 1000, &ec);
    EXPECT_EQ(ec, c.want) << c.wire << ": " << ec.message();
  }
}

TEST(AnswerParser, HeadLargerThanTheLimitIsRejected) {
  AnswerParser p;
  error_code ec;
  std::string wire = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(AnswerParser::kHeadLimit, 'a');
  EXPECT_EQ(p.PutHead(wire, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);
}

// Interim answers (1xx but 101) come before the final one, unasked or not: they are skipped,
// whether they arrive in pieces, several in a row, or in one read with the final head.
TEST(AnswerParser, InterimAnswersAreSkippedAtEverySplit) {
  struct {
    std::string wire;
    int status;
    std::string body;
    size_t fields;  // of the final head
  } cases[] = {
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200,
       "hello", 1},
      {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style\r\n\r\n"
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
       "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
       "Content-Length: 2\r\n\r\n{}",
       429, "{}", 2},
      // A length or chunked coding on an interim head means nothing: it has no body.
      {"HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       200, "abc", 1},
      // The final head decides whether the connection persists.
      {"HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204, "",
       0},
      {"HTTP/1.1 199 Whatever\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
       "Content-Length: 0\r\n\r\n",
       200, "", 1},
  };
  for (const auto& c : cases) {
    for (size_t step = 1; step <= c.wire.size(); ++step) {
      AnswerParser p;
      error_code ec;
      std::string rest;
      std::string body = Feed(p, c.wire + "HTTP/1.1 next", step, &ec, false, &rest);
      EXPECT_FALSE(ec) << c.wire << " step " << step << ": " << ec.message();
      EXPECT_EQ(p.status(), c.status) << c.wire << " step " << step;
      EXPECT_TRUE(p.is_done()) << c.wire << " step " << step;
      EXPECT_TRUE(p.keep_alive()) << c.wire << " step " << step;
      EXPECT_EQ(body, c.body) << c.wire << " step " << step;
      EXPECT_EQ(p.fields().size(), c.fields) << c.wire << " step " << step;
      for (const auto& f : p.fields()) EXPECT_NE(f.name, "Link") << "a field of an interim head";
      EXPECT_EQ(rest, "HTTP/1.1 next") << c.wire << " step " << step;
    }
  }
}

TEST(AnswerParser, InterimHeadsTakeNothingUntilTheFinalHeadIsWhole) {
  // While only interim heads (and part of the final one) have come, nothing is taken: the
  // caller keeps its bytes and passes them again with more.
  const std::string interim = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
  const std::string final_head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  AnswerParser p;
  error_code ec;
  EXPECT_EQ(p.PutHead(interim, ec), 0u);
  EXPECT_EQ(ec, http::error::need_more);
  EXPECT_FALSE(p.header_done());
  EXPECT_EQ(p.PutHead(interim + "HTTP/1.1 2", ec), 0u);
  EXPECT_EQ(ec, http::error::need_more);
  EXPECT_EQ(p.PutHead(interim + final_head + "ok", ec), interim.size() + final_head.size());
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.content_length().value_or(0), 2u);
}

TEST(AnswerParser, SwitchingProtocolsIsFinal) {
  AnswerParser p;
  error_code ec;
  std::string rest;
  Feed(p, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nother protocol", 1000, &ec, false,
       &rest);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.status(), 101);
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(rest, "other protocol");
}

TEST(AnswerParser, InterimHeadsCountTowardsTheHeadLimit) {
  std::string wire;
  while (wire.size() <= AnswerParser::kHeadLimit) wire += "HTTP/1.1 100 Continue\r\n\r\n";
  wire += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  for (size_t step : {size_t{1000}, wire.size()}) {
    AnswerParser p;
    error_code ec;
    Feed(p, wire, step, &ec);
    EXPECT_EQ(ec, http::error::header_limit) << "step " << step << ": " << ec.message();
    EXPECT_FALSE(p.header_done());
  }
}

TEST(AnswerParser, MalformedInterimHeadsAreRejected) {
  for (std::string wire : {"HTTP/1.1 103 Early Hints\r\nBad Name: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
                           "HTTP/1.1 100 Continue\r\n\r\nHTTP/2 200 OK\r\n\r\n"}) {
    AnswerParser p;
    error_code ec;
    Feed(p, wire, 1000, &ec);
    EXPECT_TRUE(ec == http::error::bad_field || ec == http::error::bad_version) << wire;
    EXPECT_FALSE(p.header_done()) << wire;
  }
}

TEST(AnswerParser, EndOfStreamAfterOnlyInterimHeadsIsPartial) {
  AnswerParser p;
  error_code ec;
  Feed(p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n", 5, &ec, /*eof=*/true);
  EXPECT_EQ(ec, http::error::partial_message);
  EXPECT_FALSE(p.header_done());
}

TEST(AnswerParser, EndOfStreamBeforeAHeadIsPartial) {
  AnswerParser p;
  error_code ec;
  p.PutEof(ec);
  EXPECT_EQ(ec, http::error::partial_message);
}

}  // namespace
}  // namespace gkm
