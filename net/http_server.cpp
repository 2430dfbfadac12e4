#include "net/http_server.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <spdlog/spdlog.h>
#include <system_error>
#include <thread>

#include "net/cpu_budget.hpp"
#include "net/session.hpp"
#include "net/thread_name.hpp"
#include "net/worker.hpp"

namespace slimfaas::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
// Deadline precision: timeouts fire at most this late.
constexpr auto sweep_interval = std::chrono::milliseconds(100);
}  // namespace

IngressMetrics::IngressMetrics(metrics::Registry& registry)
    : requests(registry.counter("slimfaas_http_requests_total",
                                "Synchronous function calls answered, by function, method and status.",
                                {"function", "method", "status"})),
      duration(registry.histogram("slimfaas_http_request_duration_seconds",
                                  "Time from request header to the end of the response, by function.",
                                  {"function"})),
      connections(registry.gauge("slimfaas_http_connections", "Open client connections.", {}).with({})),
      rejected_connections(registry
                               .counter("slimfaas_http_rejected_connections_total",
                                        "Connections refused because the connection limit was reached.", {})
                               .with({})) {}

Worker::Worker(HttpServer& server) : server_(server), pool_(context_.get_executor(), server.options().limits) {}

void Worker::bind(const tcp::endpoint& endpoint) {
  tcp::acceptor acceptor(context_);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  acceptors_.push_back(std::move(acceptor));
}

void Worker::start() {
  for (auto& acceptor : acceptors_) accept(acceptor);
  schedule_sweep();
  thread_ = std::thread([this] {
    name_this_thread("http-io");
    context_.run();
  });
}

void Worker::schedule_sweep() {
  sweep_timer_.expires_after(sweep_interval);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    // Copy: a swept session may finish and leave the set.
    std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
    for (auto* session : sessions) session->sweep(now);
    pool_.prune(now);
    schedule_sweep();
  });
}

// One acceptor per port (on the first worker) hands each connection to the
// next worker in turn. Not SO_REUSEPORT: with it, a second node started on
// the same port by mistake would silently share the traffic.
void Worker::accept(tcp::acceptor& acceptor) {
  Worker& target = server_.next_worker();
  acceptor.async_accept(target.context(), [this, &acceptor, &target](boost::system::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      spdlog::warn("accept failed: {}", ec.message());
    } else if (!server_.admit_connection()) {
      static const std::string busy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
          "Content-Length: 71\r\n\r\n"
          R"({"error":"too_many_connections","detail":"connection limit reached"})";
      boost::system::error_code ignored;
      asio::write(socket, asio::buffer(busy), ignored);
      socket.close(ignored);
    } else {
      asio::post(target.context(), [&target, socket = std::move(socket)]() mutable {
        Session::launch(target, std::move(socket));
      });
    }
    if (acceptor.is_open()) accept(acceptor);
  });
}

std::unique_ptr<char[]> Worker::take_chunk() {
  if (spare_chunks_.empty()) return std::make_unique<char[]>(relay_chunk_size);
  auto chunk = std::move(spare_chunks_.back());
  spare_chunks_.pop_back();
  return chunk;
}

void Worker::give_chunk(std::unique_ptr<char[]> chunk) {
  // Keep what a burst needed, within reason; the rest goes back to malloc.
  if (spare_chunks_.size() < 256) spare_chunks_.push_back(std::move(chunk));
}

void Worker::begin_shutdown() {
  for (auto& acceptor : acceptors_) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
  }
  std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
  for (auto* session : sessions) session->close_if_idle();
}

void Worker::stop_and_join() {
  asio::post(context_, [this] {
    pool_.clear();
    sweep_timer_.cancel();
  });
  work_.reset();
  context_.stop();
  if (thread_.joinable()) thread_.join();
}

HttpServer::HttpServer(ServerOptions options, Gateway& gateway, metrics::Registry& registry)
    : options_(std::move(options)), gateway_(gateway), metrics_(registry) {}

HttpServer::~HttpServer() { shutdown(); }

Worker& HttpServer::next_worker() { return *workers_[next_worker_.fetch_add(1) % workers_.size()]; }

bool HttpServer::admit_connection() {
  // Counted at accept time so that a burst cannot overshoot the limit
  // before the sessions start.
  if (connections_.fetch_add(1) >= options_.limits.max_connections) {
    connections_.fetch_sub(1);
    metrics_.rejected_connections.inc();
    return false;
  }
  return true;
}

void HttpServer::connection_opened() { metrics_.connections.add(1); }

void HttpServer::connection_closed() {
  metrics_.connections.add(-1);
  if (connections_.fetch_sub(1) == 1 && shutting_down()) {
    std::lock_guard lock(drained_mutex_);
    drained_.notify_all();
  }
}

unsigned HttpServer::io_threads() const { return options_.io_threads ? options_.io_threads : usable_cpus(); }

void HttpServer::start() {
  const unsigned threads = io_threads();
  auto address = asio::ip::make_address(options_.address);
  for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(*this));
  for (auto port : options_.ports) {
    try {
      workers_.front()->bind(tcp::endpoint(address, port));
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(), "cannot listen on " + options_.address + ":" + std::to_string(port));
    }
  }
  for (auto& worker : workers_) worker->start();
}

void HttpServer::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  shutting_down_ = true;
  for (auto& worker : workers_) {
    asio::post(worker->context(), [w = worker.get()] { w->begin_shutdown(); });
  }
  // Calls in flight finish on their own; a session ends after its current
  // request because keep-alive is off while shutting down.
  {
    std::unique_lock lock(drained_mutex_);
    drained_.wait_for(lock, options_.limits.shutdown_grace, [this] { return connections_.load() == 0; });
  }
  if (connections_.load() > 0) {
    spdlog::warn("shutdown grace elapsed with {} connection(s) still open; closing them", connections_.load());
  }
  for (auto& worker : workers_) worker->stop_and_join();
  workers_.clear();
}

}  // namespace slimfaas::net
