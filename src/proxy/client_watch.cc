#include "proxy/client_watch.h"

#include <sys/socket.h>

#include <cerrno>

namespace gkm {

namespace asio = boost::asio;

ClientWatchList::ClientWatchList(const asio::any_io_executor& executor) : timer_(executor) {}

ClientWatchList::~ClientWatchList() {
  for (ClientWatch* w : watches_) w->index_ = ClientWatch::kUnlisted;
  timer_.cancel();
}

void ClientWatchList::Add(ClientWatch* w) {
  w->index_ = watches_.size();
  watches_.push_back(w);
  if (!armed_) Arm();
}

void ClientWatchList::Remove(ClientWatch* w) {
  size_t i = w->index_;
  if (i == ClientWatch::kUnlisted || i >= watches_.size() || watches_[i] != w) return;
  watches_[i] = watches_.back();
  watches_[i]->index_ = i;
  watches_.pop_back();
  w->index_ = ClientWatch::kUnlisted;
}

void ClientWatchList::Arm() {
  armed_ = true;
  timer_.expires_after(kInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    Sweep();
  });
}

void ClientWatchList::Sweep() {
  armed_ = false;
  for (size_t i = 0; i < watches_.size();) {
    ClientWatch* w = watches_[i];
    char byte;
    ssize_t n = ::recv(w->client_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    bool still_there = n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                                           errno == EINTR));
    if (still_there) {
      ++i;
      continue;
    }
    w->gone_ = true;
    if (w->conn_) {
      boost::system::error_code ignored;
      w->conn_->socket().close(ignored);  // the pending attempt fails at once
      w->conn_ = nullptr;
    }
    if (w->timer_) {
      w->timer_->cancel();  // the wait in the queue ends at once
      w->timer_ = nullptr;
    }
    Remove(w);  // moves the last watch to i
  }
  if (!watches_.empty()) Arm();
}

void ClientWatch::Watch(UpstreamConnection* conn) {
  if (!list_ || !client_) return;
  if (gone_) {  // nobody to answer: this attempt ends before it starts
    boost::system::error_code ignored;
    if (conn) conn->socket().close(ignored);
    return;
  }
  conn_ = conn;
  if (index_ == kUnlisted) list_->Add(this);
}

void ClientWatch::WatchWait(asio::steady_timer* timer) {
  if (!list_ || !client_) return;
  if (gone_) {
    timer->cancel();
    return;
  }
  timer_ = timer;
  if (index_ == kUnlisted) list_->Add(this);
}

void ClientWatch::Stop() {
  conn_ = nullptr;
  timer_ = nullptr;
  if (list_ && index_ != kUnlisted) list_->Remove(this);
}

}  // namespace gkm
