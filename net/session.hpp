#pragma once
#include <utility>  // boost/asio/awaitable.hpp (1.74) uses std::exchange without it

// One client connection: reads requests, routes them, and for function calls
// asks the gateway for a slot and relays bytes to the chosen replica.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>
#include <string>

#include "net/gateway.hpp"
#include "net/router.hpp"

namespace slimfaas::net {

class Worker;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~Session();
  static void launch(Worker& worker, boost::asio::ip::tcp::socket socket);

  // Closes the connection if it is waiting for a request (shutdown).
  void close_if_idle();

 private:
  using HeaderParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;
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
  boost::asio::awaitable<bool> api(HeaderParser& parser, const Route& route);
  boost::asio::awaitable<void> write(Reply reply, bool keep_alive, unsigned version);
  boost::asio::awaitable<bool> error(unsigned status, std::string_view error, std::string_view detail,
                                     bool keep_alive, unsigned version, int retry_after = 0);
  void watch_client(std::function<void()> on_gone);
  void stop_watching();
  void record(const std::string& function, boost::beast::http::verb method, unsigned status, double seconds);

  Worker& worker_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::string remote_ip_;
  std::string origin_;
  bool idle_ = true;
  bool watching_ = false;
  std::uint64_t watch_generation_ = 0;
  std::unique_ptr<char[]> chunk_;
};

}  // namespace slimfaas::net
