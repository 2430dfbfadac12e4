#pragma once
// The node's HTTP/1.1 ingress: one I/O thread per core, each with its own
// io_context and upstream pool, so a connection lives on one thread from
// accept to close and the data path takes no locks.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "net/gateway.hpp"
#include "net/metrics.hpp"
#include "net/server_options.hpp"

namespace slimfaas::net {

class Worker;

// Metrics the ingress maintains.
struct IngressMetrics {
  explicit IngressMetrics(metrics::Registry& registry);
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& duration;
  metrics::Gauge& connections;
  metrics::Counter& rejected_connections;
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Gateway& gateway, metrics::Registry& registry);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every port (throws std::system_error naming the port on failure)
  // and starts the I/O threads.
  void start();
  // How many I/O threads it runs: the option, or one per usable CPU.
  unsigned io_threads() const;

  // Stops accepting, closes idle connections, lets calls in flight finish
  // within the grace period, then stops the threads. Idempotent.
  void shutdown();

  bool shutting_down() const { return shutting_down_.load(std::memory_order_relaxed); }
  std::size_t open_connections() const { return connections_.load(); }

  // For the sessions and workers.
  const ServerOptions& options() const { return options_; }
  Gateway& gateway() { return gateway_; }
  IngressMetrics& ingress_metrics() { return metrics_; }
  Worker& next_worker();
  bool admit_connection();
  void connection_opened();
  void connection_closed();

 private:
  ServerOptions options_;
  Gateway& gateway_;
  IngressMetrics metrics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> next_worker_{0};
  std::mutex drained_mutex_;
  std::condition_variable drained_;
  bool stopped_ = false;
};

}  // namespace slimfaas::net
