#pragma once
// One I/O thread: its io_context, upstream pool, sessions and the sweep that
// enforces their deadlines.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "net/upstream_pool.hpp"

namespace slimfaas::net {

class HttpServer;
class Session;

class Worker {
 public:
  explicit Worker(HttpServer& server);
  // Acceptors live on the first worker, which hands connections round-robin.
  void bind(const boost::asio::ip::tcp::endpoint& endpoint);
  void start();
  // Runs on the worker's thread: stop accepting and close idle sessions.
  void begin_shutdown();
  void stop_and_join();

  HttpServer& server() { return server_; }
  boost::asio::io_context& context() { return context_; }
  UpstreamPool& pool() { return pool_; }
  // 64 KiB relay buffers, reused across calls so idle connections hold none.
  std::unique_ptr<char[]> take_chunk();
  void give_chunk(std::unique_ptr<char[]> chunk);

  void add(Session* session) { sessions_.insert(session); }
  void remove(Session* session) { sessions_.erase(session); }

 private:
  void accept(boost::asio::ip::tcp::acceptor& acceptor);
  void schedule_sweep();

  HttpServer& server_;
  boost::asio::io_context context_{1};
  // Keeps run() going on workers without acceptors until shutdown.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{context_.get_executor()};
  std::vector<boost::asio::ip::tcp::acceptor> acceptors_;
  boost::asio::steady_timer sweep_timer_{context_};
  UpstreamPool pool_;
  std::unordered_set<Session*> sessions_;
  std::vector<std::unique_ptr<char[]>> spare_chunks_;
  std::thread thread_;
};

}  // namespace slimfaas::net
