// net::HttpClient (async delivery's client) against a scripted server on
// 127.0.0.1: the bytes a function receives, connection reuse, the one
// retry on a connection the server had closed, deadlines and errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "net/http_client.hpp"

using namespace std::chrono_literals;
using slimfaas::net::ClientRequest;
using slimfaas::net::ClientResponse;
using slimfaas::net::HttpClient;

namespace {

// One request as the server read it off the wire.
struct Received {
  int connection = 0;    // 1-based, in accept order
  std::string head;      // request line and headers, up to the blank line
  std::string body;

  std::string request_line() const { return head.substr(0, head.find("\r\n")); }
  // Every value of `name` (case-insensitive), in order.
  std::vector<std::string> header(const std::string& name) const {
    std::vector<std::string> values;
    auto lower = [](std::string s) {
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      return s;
    };
    std::size_t at = head.find("\r\n");
    while (at != std::string::npos && at + 2 < head.size()) {
      const std::size_t end = head.find("\r\n", at + 2);
      const std::string line = head.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
      const auto colon = line.find(':');
      if (colon != std::string::npos && lower(line.substr(0, colon)) == lower(name)) {
        std::size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        values.push_back(line.substr(v));
      }
      at = end;
    }
    return values;
  }
};

// What the server does with a request: the raw bytes to answer, then
// whether to close the connection. `silent` answers nothing and keeps the
// connection open until the test ends.
struct Reply {
  std::string bytes;
  bool close = false;
  bool silent = false;
};

Reply ok(int status = 200, const std::string& body = "", const std::string& extra_headers = "") {
  return {"HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
              extra_headers + "\r\n" + body,
          false, false};
}

// A script: the `which`-th request (from 1) gets `reply`, every other one 200.
std::function<Reply(const Received&)> nth_gets(int which, Reply reply) {
  auto seen = std::make_shared<int>(0);
  return [seen, which, reply](const Received&) { return ++*seen == which ? reply : ok(200); };
}

// A blocking HTTP/1.1 server on an ephemeral port: one thread per
// connection, requests framed by Content-Length (the client always sends it
// when there is a body), answers from the script.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<Reply(const Received&)> script) : script_(std::move(script)) {
    listener_ = it::listen_loopback(port_);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      arrived_.notify_all();
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : connections_) t.join();
  }

  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }
  int connections() const { return accepted_.load(); }
  std::size_t open_connections() const {
    std::lock_guard lock(mutex_);
    return open_.size();
  }
  // Answers nothing until `count` requests have arrived in all (so that
  // many are in flight at once, each on a connection of its own).
  void hold_answers_until(std::size_t count) {
    std::lock_guard lock(mutex_);
    hold_until_ = count;
  }
  std::vector<Received> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      const int index = ++accepted_;
      std::lock_guard lock(mutex_);
      open_.push_back(fd);
      connections_.emplace_back([this, fd, index] {
        serve(fd, index);
        std::lock_guard lock(mutex_);
        open_.erase(std::find(open_.begin(), open_.end(), fd));
        ::close(fd);  // a client that writes to it now gets a reset
      });
    }
  }

  void serve(int fd, int index) {
    std::string buffer;
    char chunk[65536];
    for (;;) {
      // Read one request: head, then Content-Length bytes.
      std::size_t head_end;
      while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
      Received request;
      request.connection = index;
      request.head = buffer.substr(0, head_end);
      const auto lengths = request.header("Content-Length");
      const std::size_t length = lengths.empty() ? 0 : std::stoul(lengths.front());
      while (buffer.size() < head_end + 4 + length) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
      request.body = buffer.substr(head_end + 4, length);
      buffer.erase(0, head_end + 4 + length);
      Reply reply;
      {
        std::lock_guard lock(mutex_);
        received_.push_back(request);
        reply = script_(request);
      }
      {
        std::unique_lock lock(mutex_);
        arrived_.notify_all();
        arrived_.wait(lock, [this] { return stopping_ || received_.size() >= hold_until_; });
      }
      if (reply.silent) {
        // Hold the connection until the server stops.
        while (!stopping_ && ::recv(fd, chunk, sizeof chunk, 0) > 0) {
        }
        return;
      }
      if (!reply.bytes.empty()) ::send(fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
      if (reply.close) return;
    }
  }

  std::function<Reply(const Received&)> script_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::size_t hold_until_ = 0;
  std::vector<int> open_;
  std::vector<std::thread> connections_;
  std::vector<Received> received_;
};

ClientRequest request_to(std::uint16_t port, const std::string& method, const std::string& target,
                         std::string body = "") {
  ClientRequest r;
  r.host = "127.0.0.1";
  r.port = port;
  r.method = method;
  r.target = target;
  r.body = std::move(body);
  r.timeout = 10s;
  return r;
}

// send() and wait for its completion (the client calls back on its thread).
ClientResponse call(HttpClient& client, ClientRequest request) {
  auto done = std::make_shared<std::promise<ClientResponse>>();
  auto answer = done->get_future();
  client.send(std::move(request), [done](ClientResponse r) { done->set_value(std::move(r)); });
  REQUIRE(answer.wait_for(30s) == std::future_status::ready);
  return answer.get();
}

// `count` POSTs one after the other, each answered 200.
void send_in_turn(HttpClient& client, std::uint16_t port, int count) {
  for (int i = 0; i < count; ++i) {
    const auto response = call(client, request_to(port, "POST", "/r" + std::to_string(i), "x"));
    REQUIRE(response.error == ClientResponse::Error::none);
    CHECK(response.status == 200);
  }
}

}  // namespace

TEST_CASE("the function receives the method, target, headers and body as sent") {
  ScriptedServer server([](const Received&) { return ok(201, "ignored body"); });
  HttpClient client;
  auto request = request_to(server.port(), "POST", "/work/a%20b?x=1&y=2", std::string("he\0llo", 6));
  request.headers = {{"SlimFaas-Element-Id", "42"}, {"SlimFaas-Try-Number", "0"}, {"Slimfaas-Last-Try", "false"},
                     {"X-Multi", "one"}, {"X-Multi", "two"}, {"Content-Type", "application/octet-stream"}};
  const auto response = call(client, request);

  REQUIRE(response.error == ClientResponse::Error::none);
  CHECK(response.status == 201);
  const auto seen = server.received();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].request_line() == "POST /work/a%20b?x=1&y=2 HTTP/1.1");
  CHECK(seen[0].header("Host") == std::vector<std::string>{"127.0.0.1:" + std::to_string(server.port())});
  CHECK(seen[0].header("Content-Length") == std::vector<std::string>{"6"});
  CHECK(seen[0].header("SlimFaas-Element-Id") == std::vector<std::string>{"42"});
  CHECK(seen[0].header("SlimFaas-Try-Number") == std::vector<std::string>{"0"});
  CHECK(seen[0].header("Slimfaas-Last-Try") == std::vector<std::string>{"false"});
  CHECK(seen[0].header("X-Multi") == std::vector<std::string>{"one", "two"});
  CHECK(seen[0].header("Content-Type") == std::vector<std::string>{"application/octet-stream"});
  CHECK(seen[0].header("Connection").empty());  // HTTP/1.1: keep-alive unless said otherwise
  CHECK(seen[0].body == std::string("he\0llo", 6));
}

TEST_CASE("a body-less GET carries no Content-Length and a body-less POST says 0") {
  ScriptedServer server([](const Received&) { return ok(); });
  HttpClient client;
  REQUIRE(call(client, request_to(server.port(), "GET", "/")).status == 200);
  REQUIRE(call(client, request_to(server.port(), "POST", "/")).status == 200);
  const auto seen = server.received();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].header("Content-Length").empty());
  CHECK(seen[1].header("Content-Length") == std::vector<std::string>{"0"});
}

TEST_CASE("a method outside the usual verbs is sent as it was called") {
  ScriptedServer server([](const Received&) { return ok(204); });
  HttpClient client;
  const auto response = call(client, request_to(server.port(), "PURGE", "/cache", "x"));
  REQUIRE(response.error == ClientResponse::Error::none);
  CHECK(response.status == 204);
  REQUIRE(server.received().size() == 1);
  CHECK(server.received()[0].request_line() == "PURGE /cache HTTP/1.1");
}

TEST_CASE("keep-alive connections are reused and response bodies are read through") {
  // A chunked body and a Content-Length body: both must be consumed whole,
  // or the next request on the connection would read their tail.
  int n = 0;
  ScriptedServer server([&n](const Received&) {
    ++n;
    if (n % 2) return Reply{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, false};
    return ok(200, std::string(100000, 'b'));
  });
  HttpClient client;
  send_in_turn(client, server.port(), 6);
  CHECK(server.received().size() == 6);
  CHECK(server.connections() == 1);
}

TEST_CASE("a connection the server closes is not used again") {
  // Whether the close reaches the client before its next request or not
  // (then the write or read fails and the request goes again on a new
  // connection), every request is answered, each on a connection of its own.
  int n = 0;
  ScriptedServer server([&n](const Received&) {
    ++n;
    // The first answer says it closes; the second closes without saying so.
    if (n == 1) return Reply{ok(200, "", "Connection: close\r\n").bytes, true, false};
    if (n == 2) return Reply{ok(200).bytes, true, false};
    return ok(200);
  });
  HttpClient client;
  send_in_turn(client, server.port(), 3);
  CHECK(server.received().size() == 3);
  CHECK(server.connections() == 3);
}

TEST_CASE("a pooled connection that breaks before the answer is retried once on a new one") {
  // The server reads the second request on the kept-alive connection and
  // drops the connection without a byte: the client sends it again on a
  // fresh connection (the server may have closed an idle connection just
  // as the request left), and only once.
  ScriptedServer server(nth_gets(2, Reply{"", true, false}));
  HttpClient client;
  REQUIRE(call(client, request_to(server.port(), "POST", "/first", "1")).status == 200);
  const auto response = call(client, request_to(server.port(), "POST", "/second", "2"));
  REQUIRE(response.error == ClientResponse::Error::none);
  CHECK(response.status == 200);
  const auto seen = server.received();
  REQUIRE(seen.size() == 3);
  CHECK(seen[1].request_line() == "POST /second HTTP/1.1");
  CHECK(seen[2].request_line() == "POST /second HTTP/1.1");
  CHECK(seen[1].connection == 1);
  CHECK(seen[2].connection == 2);
}

TEST_CASE("a fresh connection that breaks before the answer is an io error, not retried") {
  ScriptedServer server([](const Received&) { return Reply{"", true, false}; });
  HttpClient client;
  const auto response = call(client, request_to(server.port(), "POST", "/", "x"));
  CHECK(response.error == ClientResponse::Error::io);
  CHECK(server.received().size() == 1);
}

TEST_CASE("no answer before the deadline is a timeout") {
  ScriptedServer server([](const Received&) { return Reply{"", false, true}; });
  HttpClient client;
  auto request = request_to(server.port(), "POST", "/slow", "x");
  request.timeout = 300ms;
  const auto response = call(client, request);
  CHECK(response.error == ClientResponse::Error::timeout);
  CHECK(response.elapsed >= 300ms);
  CHECK(response.elapsed < 10s);
}

TEST_CASE("each request times out at its own deadline, whatever the order they were sent in") {
  // One timer serves every request in flight: a request with a near
  // deadline sent after one with a far deadline must not wait for the far
  // one, and a request answered meanwhile is not touched.
  ScriptedServer server([](const Received& r) {
    if (r.request_line().find("/answered") != std::string::npos) return ok(200);
    return Reply{"", false, true};
  });
  HttpClient client;
  auto send = [&client](ClientRequest request) {
    auto done = std::make_shared<std::promise<ClientResponse>>();
    auto answer = done->get_future();
    client.send(std::move(request), [done](ClientResponse r) { done->set_value(std::move(r)); });
    return answer;
  };
  auto far_request = request_to(server.port(), "POST", "/far", "x");
  far_request.timeout = 4s;
  auto near_request = request_to(server.port(), "POST", "/near", "x");
  near_request.timeout = 300ms;
  auto far = send(far_request);
  auto near = send(near_request);
  auto answered = send(request_to(server.port(), "POST", "/answered", "x"));

  REQUIRE(near.wait_for(30s) == std::future_status::ready);
  const auto near_response = near.get();
  CHECK(near_response.error == ClientResponse::Error::timeout);
  CHECK(near_response.elapsed >= 300ms);
  CHECK(near_response.elapsed < 3s);
  CHECK(far.wait_for(0s) == std::future_status::timeout);  // still waiting for its answer

  REQUIRE(answered.wait_for(30s) == std::future_status::ready);
  CHECK(answered.get().status == 200);

  REQUIRE(far.wait_for(30s) == std::future_status::ready);
  const auto far_response = far.get();
  CHECK(far_response.error == ClientResponse::Error::timeout);
  CHECK(far_response.elapsed >= 4s);
  CHECK_FALSE(far_response.detail.empty());
}

TEST_CASE("a connection whose request timed out is not used again") {
  ScriptedServer server(nth_gets(1, Reply{"", false, true}));
  HttpClient client;
  auto slow = request_to(server.port(), "POST", "/slow", "x");
  slow.timeout = 200ms;
  CHECK(call(client, slow).error == ClientResponse::Error::timeout);
  const auto response = call(client, request_to(server.port(), "POST", "/next", "x"));
  REQUIRE(response.error == ClientResponse::Error::none);
  CHECK(response.status == 200);
  CHECK(server.connections() == 2);
}

TEST_CASE("a client stopped with requests in flight returns at once and never calls back") {
  ScriptedServer server([](const Received&) { return Reply{"", false, true}; });
  auto called = std::make_shared<std::atomic<int>>(0);
  {
    HttpClient client;
    for (int i = 0; i < 3; ++i) {
      auto request = request_to(server.port(), "POST", "/held", "x");
      request.timeout = 60s;
      client.send(std::move(request), [called](ClientResponse) { ++*called; });
    }
    REQUIRE(it::wait_until([&] { return server.received().size() == 3; }, 10s));
    const auto before = std::chrono::steady_clock::now();
    client.stop();
    CHECK(std::chrono::steady_clock::now() - before < 10s);
  }  // the destructor drops the exchanges still linked to the client
  CHECK(called->load() == 0);
}

TEST_CASE("an answer whose body is over the client's limit keeps its status and its connection is closed") {
  // 100 MiB declared (the client reads at most 64 MiB through): the
  // function did answer, so its status stands, and the connection, with
  // the rest of that body in it, is not used again.
  ScriptedServer server(nth_gets(1, Reply{"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\nabc", false, false}));
  HttpClient client;
  const auto big = call(client, request_to(server.port(), "POST", "/big", "x"));
  CHECK(big.error == ClientResponse::Error::none);
  CHECK(big.status == 200);
  const auto next = call(client, request_to(server.port(), "POST", "/next", "x"));
  REQUIRE(next.error == ClientResponse::Error::none);
  CHECK(next.status == 200);
  CHECK(server.connections() == 2);
}

TEST_CASE("a port nothing listens on is a connect error") {
  HttpClient client;
  const auto response = call(client, request_to(static_cast<std::uint16_t>(it::free_port()), "POST", "/", "x"));
  CHECK(response.error == ClientResponse::Error::connect);
  CHECK_FALSE(response.detail.empty());
}

TEST_CASE("requests sent together all complete, each with its own answer") {
  ScriptedServer server([](const Received& r) {
    // Echo the request's number back as the status: 200 + n.
    const auto target = r.request_line().substr(r.request_line().find("/n") + 2);
    return ok(200 + std::stoi(target.substr(0, target.find(' '))));
  });
  HttpClient client;
  std::vector<std::future<ClientResponse>> answers;
  for (int i = 0; i < 50; ++i) {
    auto done = std::make_shared<std::promise<ClientResponse>>();
    answers.push_back(done->get_future());
    client.send(request_to(server.port(), "POST", "/n" + std::to_string(i % 60), std::string(4096, 'a')),
                [done](ClientResponse r) { done->set_value(std::move(r)); });
  }
  for (int i = 0; i < 50; ++i) {
    REQUIRE(answers[i].wait_for(30s) == std::future_status::ready);
    const auto response = answers[i].get();
    REQUIRE(response.error == ClientResponse::Error::none);
    CHECK(response.status == static_cast<unsigned>(200 + i % 60));
  }
  CHECK(server.received().size() == 50);
}

// Sends `count` requests at once and waits for every answer, all 200.
void send_together(HttpClient& client, std::uint16_t port, int count, std::size_t parallel_per_host) {
  std::vector<std::future<ClientResponse>> answers;
  for (int i = 0; i < count; ++i) {
    auto done = std::make_shared<std::promise<ClientResponse>>();
    answers.push_back(done->get_future());
    auto request = request_to(port, "POST", "/w", "x");
    request.parallel_per_host = parallel_per_host;
    client.send(std::move(request), [done](ClientResponse r) { done->set_value(std::move(r)); });
  }
  for (auto& answer : answers) {
    REQUIRE(answer.wait_for(30s) == std::future_status::ready);
    const auto response = answer.get();
    REQUIRE(response.error == ClientResponse::Error::none);
    CHECK(response.status == 200);
  }
}

TEST_CASE("a request's parallel_per_host keeps that many connections for the next wave") {
  // Two waves of 8 requests in flight at once (the server answers none of a
  // wave before all 8 arrived, so each needs a connection of its own).
  constexpr int kWave = 8;
  ScriptedServer server([](const Received&) { return ok(); });
  HttpClient client(/*max_idle_per_host=*/2);

  SECTION("parallel_per_host 8: the second wave reuses the first one's connections") {
    server.hold_answers_until(kWave);
    send_together(client, server.port(), kWave, kWave);
    CHECK(server.connections() == kWave);
    server.hold_answers_until(2 * kWave);
    send_together(client, server.port(), kWave, kWave);
    CHECK(server.connections() == kWave);
  }
  SECTION("not said: the client's own limit (2) keeps 2, the other 6 are dialed again") {
    server.hold_answers_until(kWave);
    send_together(client, server.port(), kWave, 0);
    CHECK(server.connections() == kWave);
    server.hold_answers_until(2 * kWave);
    send_together(client, server.port(), kWave, 0);
    CHECK(server.connections() == 2 * kWave - 2);
  }
  CHECK(server.received().size() == 2 * kWave);
}

TEST_CASE("a client whose limit is 0 keeps no connection, whatever the request's parallel_per_host") {
  ScriptedServer server([](const Received&) { return ok(); });
  HttpClient client(/*max_idle_per_host=*/0);
  send_together(client, server.port(), 4, 4);
  send_together(client, server.port(), 4, 4);
  CHECK(server.connections() == 8);
}

TEST_CASE("idle connections are closed after the client's idle timeout") {
  ScriptedServer server([](const Received&) { return ok(); });
  HttpClient client(/*max_idle_per_host=*/64, /*idle_timeout=*/100ms);
  send_in_turn(client, server.port(), 1);
  // The client's sweep (every few seconds) closes it: the server reads EOF
  // and its connection thread ends.
  REQUIRE(it::wait_until([&] { return server.open_connections() == 0; }, 30s));
  send_in_turn(client, server.port(), 1);
  CHECK(server.connections() == 2);
}

TEST_CASE("framing headers are the client's own: Host, Content-Length, Transfer-Encoding, Connection") {
  ScriptedServer server([](const Received&) { return ok(); });
  HttpClient client;
  auto request = request_to(server.port(), "POST", "/", "abc");
  request.headers = {{"Host", "elsewhere.example"}, {"content-length", "999"}, {"Transfer-Encoding", "chunked"},
                     {"Connection", "close"}, {"X-Kept", "yes"}};
  REQUIRE(call(client, request).status == 200);
  const auto all = server.received();
  REQUIRE(all.size() == 1);
  const auto& seen = all[0];
  CHECK(seen.header("Host") == std::vector<std::string>{"127.0.0.1:" + std::to_string(server.port())});
  CHECK(seen.header("Content-Length") == std::vector<std::string>{"3"});
  CHECK(seen.header("Transfer-Encoding").empty());
  CHECK(seen.header("Connection").empty());
  CHECK(seen.header("X-Kept") == std::vector<std::string>{"yes"});
  CHECK(seen.body == "abc");
}

TEST_CASE("the client's thread carries its name") {
  // Told apart from the node's other threads in `top -H`, perf and
  // bench/async.py's CPU split.
  ScriptedServer server([](const Received&) { return ok(); });
  HttpClient client;
  REQUIRE(call(client, request_to(server.port(), "GET", "/", "")).status == 200);
  const auto names = it::thread_names();
  CHECK(std::count(names.begin(), names.end(), "http-client") == 1);
}

TEST_CASE("a line break in a header or the target is refused, never sent") {
  // It would end the head early and smuggle a second request.
  ScriptedServer server([](const Received&) { return ok(); });
  HttpClient client;
  auto bad_value = request_to(server.port(), "POST", "/", "x");
  bad_value.headers = {{"X-Evil", "a\r\n\r\nGET /admin HTTP/1.1"}};
  auto bad_name = request_to(server.port(), "POST", "/", "x");
  bad_name.headers = {{"X-Evil\r\nX-Other", "a"}};
  auto bad_target = request_to(server.port(), "POST", "/a HTTP/1.1\r\nX: y", "x");
  for (auto& request : {bad_value, bad_name, bad_target}) {
    const auto response = call(client, request);
    CHECK(response.error == ClientResponse::Error::io);
    CHECK_FALSE(response.detail.empty());
  }
  // A good request after them is the first thing the server reads.
  REQUIRE(call(client, request_to(server.port(), "POST", "/good", "x")).status == 200);
  REQUIRE(server.received().size() == 1);
  CHECK(server.received()[0].request_line() == "POST /good HTTP/1.1");
}
