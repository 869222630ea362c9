// Deadline: the timeout of the operation in progress on one socket, at the cost of a store
// per operation.
//
// beast::tcp_stream arms a timer for every read and write (cancel the old wait, post its
// handler, insert a new one); at tens of thousands of requests a second that was a visible
// share of the proxy's CPU. A Deadline keeps at most one timer wait in flight per socket:
// Arm() only records when the current operation must end; when the timer fires it either
// waits again until the recorded instant or, if that has passed, closes the socket, so that
// the pending operation fails at once and expired() is true from then on. A socket whose
// operations all finish in time costs one timer wait per timeout period, not one per call.
//
// On expiry the socket is closed, or (kCancel, for a client connection) only its pending
// operations are cancelled, so that the proxy can still tell the client why (a 408).
//
// Used on the socket's own thread only. The socket must outlive the Deadline (declare the
// Deadline after it).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace gkm {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  enum class OnExpiry { kClose, kCancel };

  Deadline(const boost::asio::any_io_executor& executor, boost::asio::ip::tcp::socket& socket,
           OnExpiry on_expiry = OnExpiry::kClose);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // The operations that follow must end within `timeout` from now.
  void Arm(Clock::duration timeout);
  // No time limit (an idle pooled connection, a side waiting for the other).
  void Disarm();
  // Ends the operation Arm() was for: disarms, and returns its error, a failure after the
  // deadline passed being beast::error::timeout.
  boost::system::error_code Done(boost::system::error_code ec);
  // The deadline passed and the socket was closed (or, with kCancel, its operations
  // cancelled; Done() then makes the socket usable for the next operation again).
  bool expired() const;

 private:
  struct State;
  static void Wait(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace gkm
