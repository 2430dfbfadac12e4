#pragma once
#include <utility>  // boost/asio/awaitable.hpp (1.74) uses std::exchange without it

// A small HTTP/1.1 client for calls the control plane makes (async delivery):
// one io_context on its own thread, keep-alive connections pooled per
// host:port, a deadline per request. send() never blocks the caller; the
// completion runs on the client's thread, so callers only post from it
// (e.g. caf::anon_send to an actor).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace slimfaas::net {

struct ClientRequest {
  std::string host;
  std::uint16_t port = 0;
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;  // Host and Content-Length are set here
  std::string body;
  std::chrono::milliseconds timeout{30'000};  // the whole exchange, connect included
  // The most requests the caller may run at once to host:port (0: not
  // said). The client keeps that many idle connections to it (at least its
  // own limit; none if that is 0), so that each wave reuses the last one's
  // connections instead of closing all but a few and dialing again.
  std::size_t parallel_per_host = 0;
};

struct ClientResponse {
  enum class Error : std::uint8_t {
    none,     // `status` holds the response's status
    timeout,  // no complete response before the deadline
    connect,  // the host could not be resolved or connected
    io,       // the connection broke during the exchange
  };
  Error error = Error::none;
  unsigned status = 0;
  std::string detail;  // the error's text, for logs
  std::chrono::steady_clock::duration elapsed{};
};

class HttpClient {
 public:
  using Done = std::function<void(ClientResponse)>;

  // Starts the client's thread. Idle connections are closed after
  // `idle_timeout` (and when found dead on reuse).
  explicit HttpClient(std::size_t max_idle_per_host = 64,
                      std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(30'000));
  // Stops the thread. A request still running is dropped: its `done` never
  // runs (async delivery leaves such an item leased in the store, to be
  // delivered again when its lease ends).
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any thread. `done` runs exactly once, on the client's thread.
  void send(ClientRequest request, Done done);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slimfaas::net
