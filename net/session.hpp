#pragma once
#include <utility>  // boost/asio/awaitable.hpp (1.74) uses std::exchange without it

// One client connection: reads requests, routes them, and for function calls
// takes a slot from the gateway and relays bytes to the chosen replica.
//
// Timeouts cost no system call per request: an operation only records its
// deadline, and the worker's sweep (every 100 ms) cancels what has overrun.
// The same sweep notices callers that hung up while their call runs.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include "net/beast_http_parser.hpp"
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "net/gateway.hpp"
#include "net/router.hpp"

namespace slimfaas::net {

class Worker;

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Clock = std::chrono::steady_clock;

  Session(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~Session();
  static void launch(Worker& worker, boost::asio::ip::tcp::socket socket);

  // Shutdown: closes the connection if it is between requests.
  void close_if_idle();
  // Called by the worker's sweep.
  void sweep(Clock::time_point now);

 private:
  using HeaderParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;
  enum class Phase { idle, busy, awaiting_upstream };
  struct Reply {
    Reply(unsigned status, std::string body, std::string content_type = "application/json",
          std::vector<std::pair<std::string, std::string>> headers = {})
        : status(status), body(std::move(body)), content_type(std::move(content_type)), headers(std::move(headers)) {}
    unsigned status;
    std::string body;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<bool> serve(HeaderParser& parser);
  boost::asio::awaitable<bool> proxy(HeaderParser& parser, const Route& route);
  boost::asio::awaitable<Admission> admit(const std::string& function);
  boost::asio::awaitable<bool> api(HeaderParser& parser, const Route& route);
  boost::asio::awaitable<void> linger();
  boost::asio::awaitable<void> write(Reply reply, bool keep_alive, unsigned version);
  boost::asio::awaitable<bool> error(unsigned status, std::string_view error, std::string_view detail,
                                     bool keep_alive, unsigned version, int retry_after = 0);
  void watch_client(std::function<void()> on_gone);
  void stop_watching();
  bool client_closed();
  void expect_by(Clock::time_point deadline) {
    deadline_ = deadline;
    timed_out_ = false;
  }
  void record(const std::string& function, boost::beast::http::verb method, unsigned status, double seconds);

  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string remote_ip_;
  std::string origin_;
  Phase phase_ = Phase::idle;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  bool client_gone_ = false;
  bool linger_ = false;  // drain unread request bytes before closing
  boost::asio::ip::tcp::socket* upstream_ = nullptr;  // the call in progress, for the sweep
  bool watching_ = false;
  std::uint64_t watch_generation_ = 0;
};

}  // namespace slimfaas::net
