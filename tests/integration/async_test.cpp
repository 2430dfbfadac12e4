// Async functions across a real three-node SlimData cluster: three
// `slimfaas serve` processes and real functions on loopback. The echo
// example function reports arrival order and concurrency (/stats); a small
// recording function in this binary reports each attempt's headers and
// answers a chosen status (503 for retries, 202 for callback mode).
//
// Everything waits on conditions (/debug/raft, /stats, the recorder's log);
// nothing sleeps for correctness. Worker threads only collect; the main
// thread asserts (Catch2 is not thread-safe).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "tests/integration/harness.hpp"
#include "tests/integration/slimdata_cluster.hpp"

using namespace it;
using Json = nlohmann::json;

namespace {

// SlimFaas/Configuration with a DefaultAsync section (short test delays).
std::string async_configuration(int http_timeout, std::vector<int> retries, std::vector<int> statuses) {
  Json cfg{{"DefaultSync", {{"HttpTimeout", 5}}},
           {"DefaultAsync", {{"HttpTimeout", http_timeout}, {"TimeoutRetries", retries}, {"HttpStatusRetries", statuses}}}};
  return cfg.dump();
}

FunctionSpec function(const std::string& name, std::vector<std::string> urls, int parallel, int per_pod,
                      const std::string& configuration) {
  FunctionSpec f;
  f.name = name;
  f.urls = std::move(urls);
  f.number_parallel_request = parallel;
  f.number_parallel_request_per_pod = per_pod;
  f.http_timeout_seconds = std::nullopt;
  f.annotations["SlimFaas/Configuration"] = configuration;
  return f;
}

// ------------------------------------------------------------ the cluster

// Three nodes serving `functions` (MOCK_KUBERNETES_FUNCTIONS), started.
struct Cluster : SlimDataCluster {
  explicit Cluster(std::string functions, std::vector<std::string> extra_args = {})
      : SlimDataCluster(options(std::move(functions), std::move(extra_args))) {
    start_all();
  }
  static ClusterOptions options(std::string functions, std::vector<std::string> extra_args) {
    ClusterOptions o;
    o.secret = "async-it";
    o.functions = std::move(functions);
    o.name = "async";
    o.extra_args = std::move(extra_args);
    return o;
  }
};

HttpResponse post_async(int port, const std::string& fn, const std::string& path, std::string body = "payload",
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  return http("POST", base_url(port) + "/async-function/" + fn + path, std::move(headers), std::move(body), 15s);
}

double leader_metric(Cluster& cluster, const std::string& name, const std::string& fn) {
  auto leader = cluster.agreed_leader();
  if (!leader) return -1;
  auto r = http_get(base_url(cluster.node(*leader).http_port) + "/metrics", 5s);
  return metric_value(r.body, name, {{"function", fn}}).value_or(-1);
}

// The state of `fn`'s queue actor on the leader (/debug/actors), or null.
Json leader_queue(Cluster& cluster, const std::string& fn) {
  auto leader = cluster.agreed_leader();
  if (!leader) return nullptr;
  auto actors = http_get(base_url(cluster.node(*leader).http_port) + "/debug/actors", 5s).json();
  if (!actors) return nullptr;
  for (const auto& a : actors->value("actors", Json::array()))
    if (a.value("kind", "") == "queue" && a.value("name", "") == fn) return a.value("state", Json());
  return nullptr;
}

std::uint64_t leader_queue_count(Cluster& cluster, const std::string& fn, const std::string& field) {
  auto state = leader_queue(cluster, fn);
  return state.is_object() ? state.value(field, std::uint64_t{0}) : 0;
}

// ------------------------------------------------------------ a recording function

using SteadyClock = std::chrono::steady_clock;

struct Attempt {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  SteadyClock::time_point arrived;                  // handler start: the request is read
  std::optional<SteadyClock::time_point> answered;  // the answer was written (never, if that failed)
  std::size_t connection = 0;                       // index into Recorder::connections()
};

// One accepted connection: from accept to EOF / error on our side.
struct Connection {
  SteadyClock::time_point accepted;
  std::optional<SteadyClock::time_point> closed;
};

// A tiny HTTP/1.1 server (keep-alive, Content-Length bodies) that records
// each request and answers the status `status_for(target)` says. Every
// attempt keeps when it arrived and when it was answered, and which
// connection carried it, so a test can tell what was being delivered at a
// given moment (see in_flight_at).
class Recorder {
 public:
  explicit Recorder(std::function<int(const std::string& target)> status_for) : status_for_(std::move(status_for)) {
    fd_ = listen_loopback(port_);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Recorder() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int c : sockets_) ::shutdown(c, SHUT_RDWR);
    }
    // Each serve() ends on the shutdown (recv returns 0, send fails); it
    // records its connection's end, so join before the members go.
    for (auto& t : threads_) t.join();
    for (int c : sockets_) ::close(c);
  }
  std::string url() const { return base_url(port_); }
  std::vector<Attempt> attempts() const {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  std::vector<Attempt> attempts_for(const std::string& element_id) const {
    std::vector<Attempt> out;
    for (auto& a : attempts())
      if (a.headers.count("slimfaas-element-id") && a.headers.at("slimfaas-element-id") == element_id) out.push_back(a);
    return out;
  }
  std::size_t attempt_count() const {
    std::lock_guard lock(mutex_);
    return attempts_.size();
  }
  std::vector<Connection> connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }

  // Element ids that were being delivered at `at`, judged from this
  // recorder's own log once everything has settled. SlimFaas (the static
  // backend) connects to a function only from the leader's queue actors, so
  // the connections open at `at` are the delivering node's. On them, an
  // attempt was in flight at `at` when
  //  - it had arrived and was not answered yet (or never answered), or
  //  - it was answered at most `ack_window` before `at` (the node may not
  //    have committed its ack yet), or
  //  - it arrived after `at` on such a connection: sent by the node before
  //    `at`, read here after (a node killed at `at` sends nothing later).
  std::set<std::string> in_flight_at(SteadyClock::time_point at, SteadyClock::duration ack_window) const {
    std::lock_guard lock(mutex_);
    std::set<std::string> out;
    for (auto& a : attempts_) {
      auto& conn = connections_[a.connection];
      const bool open_at = conn.accepted <= at && (!conn.closed || *conn.closed >= at);
      if (!open_at || !a.headers.count("slimfaas-element-id")) continue;
      const bool busy = a.arrived <= at && (!a.answered || *a.answered >= at - ack_window);
      if (busy || a.arrived > at) out.insert(a.headers.at("slimfaas-element-id"));
    }
    return out;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(c);
      connections_.push_back({SteadyClock::now(), std::nullopt});
      const std::size_t index = connections_.size() - 1;
      threads_.emplace_back([this, c, index] {
        serve(c, index);
        std::lock_guard lock(mutex_);
        connections_[index].closed = SteadyClock::now();
      });
    }
  }
  void serve(int c, std::size_t connection) {
    std::string in;
    char buf[16384];
    for (;;) {
      auto head_end = in.find("\r\n\r\n");
      while (head_end == std::string::npos) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, static_cast<std::size_t>(n));
        head_end = in.find("\r\n\r\n");
      }
      Attempt a;
      std::string head = in.substr(0, head_end);
      std::size_t pos = head.find("\r\n");
      std::string line = head.substr(0, pos);
      auto sp1 = line.find(' ');
      auto sp2 = line.find(' ', sp1 + 1);
      a.method = line.substr(0, sp1);
      a.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      while (pos != std::string::npos && pos < head.size()) {
        auto next = head.find("\r\n", pos + 2);
        std::string h = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        auto colon = h.find(':');
        if (colon != std::string::npos) {
          std::string name = h.substr(0, colon);
          for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          std::string value = h.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          a.headers[name] = value;
        }
        pos = next;
      }
      std::size_t length = a.headers.count("content-length") ? std::stoul(a.headers["content-length"]) : 0;
      while (in.size() < head_end + 4 + length) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, static_cast<std::size_t>(n));
      }
      a.body = in.substr(head_end + 4, length);
      in.erase(0, head_end + 4 + length);
      a.arrived = SteadyClock::now();
      a.connection = connection;
      const int status = status_for_(a.target);
      std::size_t index = 0;
      {
        std::lock_guard lock(mutex_);
        attempts_.push_back(std::move(a));
        index = attempts_.size() - 1;
      }
      std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\n\r\nok";
      if (::send(c, reply.data(), reply.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(reply.size())) return;
      std::lock_guard lock(mutex_);
      attempts_[index].answered = SteadyClock::now();
    }
  }

  std::function<int(const std::string&)> status_for_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<int> sockets_;
  std::vector<Connection> connections_;
  std::vector<std::thread> threads_;
  std::vector<Attempt> attempts_;
};

// "/status/503?x" -> 503; anything else 200.
int status_from_target(const std::string& target) {
  const std::string prefix = "/status/";
  if (target.rfind(prefix, 0) != 0) return 200;
  return std::stoi(target.substr(prefix.size(), 3));
}

std::string header_of(const Attempt& a, const std::string& name) {
  auto it = a.headers.find(name);
  return it == a.headers.end() ? "<none>" : it->second;
}

}  // namespace

TEST_CASE("async calls are delivered in FIFO order at parallelism 1", "[integration][async]") {
  auto echo = start_echo();
  Cluster cluster(functions_json({function("echo", {echo.url()}, 1, 1, async_configuration(5, {1}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  const int n = 40;
  std::set<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto r = post_async(cluster.port_for(static_cast<std::size_t>(i)), "echo", "/sleep/5?id=" + std::to_string(i));
    INFO(r.describe());
    REQUIRE(r.status == 202);
    auto id = r.header("SlimFaas-Element-Id");
    REQUIRE(id.has_value());
    ids.insert(*id);
  }
  CHECK(ids.size() == static_cast<std::size_t>(n));  // ids are unique

  REQUIRE(wait_until([&] { return echo_stats(echo)["completed"].get<int>() >= n; }, 30s, 20ms));
  auto stats = echo_stats(echo);
  std::vector<std::string> expected;
  for (int i = 0; i < n; ++i) expected.push_back(std::to_string(i));
  CHECK(stats["arrivals"].get<std::vector<std::string>>() == expected);
  CHECK(stats["max_in_flight"].get<int>() == 1);
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "echo") == n; }, 10s));
  CHECK(leader_metric(cluster, "slimfaas_function_queue_ready_items", "echo") == 0);
}

TEST_CASE("async acceptance refuses unknown functions and oversized bodies", "[integration][async]") {
  auto echo = start_echo();
  Cluster cluster(functions_json({function("echo", {echo.url()}, 1, 1, async_configuration(5, {1}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());
  auto unknown = post_async(cluster.node(1).http_port, "nope", "/x");
  CHECK(unknown.status == 404);
  CHECK(unknown.json().has_value());
  CHECK_FALSE(unknown.header("SlimFaas-Element-Id").has_value());

  auto big = post_async(cluster.node(2).http_port, "echo", "/echo", std::string((1 << 20) + 1, 'x'));
  CHECK(big.status == 413);
  CHECK(big.json().has_value());
  auto fits = post_async(cluster.node(2).http_port, "echo", "/echo?id=big", std::string(1 << 20, 'x'));
  CHECK(fits.status == 202);
  REQUIRE(wait_until([&] { return echo_stats(echo)["completed"].get<int>() >= 1; }, 20s, 20ms));

  // Without SlimData there is nowhere to queue: 503, never a 202.
  auto lone = start_slimfaas(functions_json({function("echo", {echo.url()}, 1, 1, async_configuration(5, {1}, {503}))}));
  auto refused = post_async(lone.port, "echo", "/echo");
  CHECK(refused.status == 503);
  CHECK(refused.json().has_value());
}

TEST_CASE("async calls without a quorum answer 503 no_quorum with JSON and the queue resumes with it",
          "[integration][async]") {
  auto echo = start_echo();
  Cluster cluster(functions_json({function("echo", {echo.url()}, 2, 2, async_configuration(5, {1}, {503}))}));
  auto leader = cluster.wait_leader();
  REQUIRE(leader.has_value());
  INFO(cluster.logs());
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms));
  REQUIRE(post_async(cluster.node(*leader).http_port, "echo", "/echo?id=before").status == 202);
  REQUIRE(wait_until([&] { return echo_stats(echo)["completed"].get<int>() >= 1; }, 20s, 20ms));

  const int a = *leader == 1 ? 2 : 1;
  const int b = 6 - *leader - a;
  cluster.kill9(a);
  cluster.kill9(b);
  // The old leader and, once it is back, a follower without a leader: every
  // call ends within the request timeout with 503 and a JSON error, no id.
  for (int i = 0; i < 3; ++i) {
    auto r = post_async(cluster.node(*leader).http_port, "echo", "/echo?id=outage" + std::to_string(i));
    INFO(r.describe());
    CHECK(r.status == 503);
    auto body = r.json();
    REQUIRE(body.has_value());
    CHECK(body->value("error", "") == "no_quorum");
    CHECK_FALSE(r.header("SlimFaas-Element-Id").has_value());
  }
  cluster.start(a);
  cluster.kill9(*leader);
  auto lone = post_async(cluster.node(a).http_port, "echo", "/echo?id=lone");
  INFO(lone.describe());
  CHECK(lone.status == 503);
  CHECK(lone.json().has_value());

  // A quorum again: calls are accepted and delivered.
  cluster.start(b);
  REQUIRE(cluster.wait_leader().has_value());
  auto after = post_async(cluster.port_for(0), "echo", "/echo?id=after");
  INFO(after.describe());
  REQUIRE(after.status == 202);
  REQUIRE(wait_until(
      [&] {
        auto arrivals = echo_stats(echo)["arrivals"].get<std::vector<std::string>>();
        return std::find(arrivals.begin(), arrivals.end(), "after") != arrivals.end();
      },
      30s, 20ms));
}

TEST_CASE("a full async queue answers 429 queue_full and queues nothing", "[integration][async]") {
  auto echo = start_echo();
  Cluster cluster(functions_json({function("echo", {echo.url()}, 1, 1, async_configuration(30, {1}, {503}))}),
                  {"--async-max-queue-items", "3"});
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  // The first call keeps the function busy; the queue then holds three
  // calls (the one in flight counts until it is acked).
  REQUIRE(post_async(cluster.node(1).http_port, "echo", "/sleep/5000?id=0").status == 202);
  REQUIRE(post_async(cluster.node(2).http_port, "echo", "/echo?id=1").status == 202);
  REQUIRE(post_async(cluster.node(3).http_port, "echo", "/echo?id=2").status == 202);
  for (int id = 1; id <= 3; ++id) {  // from every node, leader or not
    auto full = post_async(cluster.node(id).http_port, "echo", "/echo?id=refused");
    INFO(full.describe());
    CHECK(full.status == 429);
    REQUIRE(full.json().has_value());
    CHECK((*full.json())["error"] == "queue_full");
    CHECK(full.header("Retry-After") == std::optional<std::string>("1"));
    CHECK_FALSE(full.header("SlimFaas-Element-Id").has_value());
  }
  // The premise held: the first call was still running when the queue refused.
  CHECK(echo_stats(echo)["completed"].get<int>() == 0);
  // Each node counts what it answered.
  for (int id = 1; id <= 3; ++id) {
    auto metrics = http_get(base_url(cluster.node(id).http_port) + "/metrics", 5s).body;
    INFO("node " << id);
    CHECK(metric_value(metrics, "slimfaas_async_refused_total", {{"function", "echo"}, {"reason", "queue_full"}}) == 1);
    CHECK(metric_value(metrics, "slimfaas_async_accepted_total", {{"function", "echo"}}) == 1);
  }
  // Refusing costs no log entry: each node answers from the state it has
  // applied instead of committing (and fsyncing everywhere) a push that
  // would only be refused. Without that, every refused call below is one
  // more entry.
  const auto leader = cluster.wait_leader();
  REQUIRE(leader.has_value());
  auto last_index = [&] {
    auto j = debug_raft(cluster.node(*leader).http_port);
    REQUIRE(j.has_value());
    return (*j)["last_index"].get<std::uint64_t>();
  };
  const auto before = last_index();
  for (int i = 0; i < 30; ++i) CHECK(post_async(cluster.node(1 + i % 3).http_port, "echo", "/echo?id=refused").status == 429);
  CHECK(last_index() < before + 30);
  CHECK(echo_stats(echo)["completed"].get<int>() == 0);  // the queue was full all along

  // Once delivered, the queue takes calls again; the refused ones never arrive.
  REQUIRE(wait_until([&] { return echo_stats(echo)["completed"].get<int>() >= 3; }, 30s, 20ms));
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "echo") == 3; }, 10s));
  REQUIRE(post_async(cluster.node(1).http_port, "echo", "/echo?id=3").status == 202);
  REQUIRE(wait_until([&] { return echo_stats(echo)["completed"].get<int>() >= 4; }, 30s, 20ms));
  CHECK(echo_stats(echo)["arrivals"].get<std::vector<std::string>>() == std::vector<std::string>{"0", "1", "2", "3"});
}

TEST_CASE("async delivery respects NumberParallelRequest and the per pod cap", "[integration][async]") {
  auto whole = start_echo();
  auto pod_a = start_echo();
  auto pod_b = start_echo();
  Cluster cluster(functions_json({function("whole", {whole.url()}, 3, 10, async_configuration(10, {1}, {503})),
                                  function("pods", {pod_a.url(), pod_b.url()}, 10, 2, async_configuration(10, {1}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  const int n = 30;
  for (int i = 0; i < n; ++i) {
    REQUIRE(post_async(cluster.port_for(static_cast<std::size_t>(i)), "whole", "/sleep/80?id=" + std::to_string(i)).status == 202);
    REQUIRE(post_async(cluster.port_for(static_cast<std::size_t>(i + 1)), "pods", "/sleep/80?id=" + std::to_string(i)).status == 202);
  }
  REQUIRE(wait_until([&] { return echo_stats(whole)["completed"].get<int>() >= n; }, 30s, 20ms));
  REQUIRE(wait_until([&] {
    return echo_stats(pod_a)["completed"].get<int>() + echo_stats(pod_b)["completed"].get<int>() >= n;
  }, 30s, 20ms));
  // The function saw exactly its cap: never more, and the queue kept it full.
  CHECK(echo_stats(whole)["max_in_flight"].get<int>() == 3);
  CHECK(echo_stats(pod_a)["max_in_flight"].get<int>() == 2);
  CHECK(echo_stats(pod_b)["max_in_flight"].get<int>() == 2);
  // The queues took items ahead of free slots (so that no slot idles while
  // a take commits), and every such item was delivered, none given back.
  CHECK(leader_queue_count(cluster, "whole", "taken_ahead") > 0);
  CHECK(leader_queue_count(cluster, "pods", "taken_ahead") > 0);
  CHECK(leader_queue_count(cluster, "whole", "given_back") == 0);
  CHECK(echo_stats(whole)["completed"].get<int>() == n);
}

TEST_CASE("async delivery keeps a connection per slot between waves, above the configured pool",
          "[integration][async]") {
  // 8 slots on one replica, nodes configured to keep 2 idle connections per
  // replica. A first wave of 8 calls all answer at the same instant, a
  // second wave of 8 waits for their slots. The function sees 8 connections
  // in all: the second wave reuses the first one's. Keeping only the
  // configured 2 would close 6 as the first wave ends and dial them again.
  constexpr int kSlots = 8;
  auto echo = start_echo();
  Cluster cluster(functions_json({function("wide", {echo.url()}, kSlots, kSlots, async_configuration(10, {1}, {503}))}),
                  {"--upstream-idle-connections", "2"});
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  const auto together = std::chrono::duration_cast<std::chrono::milliseconds>(
                            (std::chrono::system_clock::now() + 2s).time_since_epoch())
                            .count();
  for (int i = 0; i < 2 * kSlots; ++i) {
    const std::string path = i < kSlots ? "/sleep-until/" + std::to_string(together) : "/sleep/10";
    REQUIRE(post_async(cluster.port_for(static_cast<std::size_t>(i)), "wide", path + "?id=" + std::to_string(i)).status == 202);
  }
  REQUIRE(wait_until([&] { return echo_stats(echo)["completed"].get<int>() >= 2 * kSlots; }, 60s, 20ms));
  const auto stats = echo_stats(echo);
  CHECK(stats["max_in_flight"].get<int>() == kSlots);
  CHECK(stats["connections"].get<int>() == kSlots);
}

TEST_CASE("a queue with more slots than 64 takes ahead for all of them", "[integration][async]") {
  // A take is a Raft round and one is out at a time: delivery moves at most
  // a take's size per round. 100 slots, held by a first wave of 100 calls
  // until a common instant; a second wave of 100 is taken ahead meanwhile,
  // up to one item per slot. Takes of at most 64 kept it at 64 ahead (and
  // delivery at 64 calls a round).
  constexpr int kSlots = 100;
  auto echo = start_echo();
  Cluster cluster(functions_json({function("wide", {echo.url()}, kSlots, kSlots, async_configuration(10, {1}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  const auto until = std::chrono::system_clock::now() + 8s;
  const auto together =
      std::chrono::duration_cast<std::chrono::milliseconds>(until.time_since_epoch()).count();
  for (int i = 0; i < kSlots; ++i)
    REQUIRE(post_async(cluster.port_for(static_cast<std::size_t>(i)), "wide",
                       "/sleep-until/" + std::to_string(together) + "?id=" + std::to_string(i)).status == 202);
  for (int i = kSlots; i < 2 * kSlots; ++i)
    REQUIRE(post_async(cluster.port_for(static_cast<std::size_t>(i)), "wide", "/echo?id=" + std::to_string(i)).status == 202);
  // Only meaningful while the first wave still holds the slots.
  REQUIRE(std::chrono::system_clock::now() < until);
  CHECK(wait_until([&] { return leader_queue_count(cluster, "wide", "ahead") > 64; }, 5s, 20ms));
  CHECK(leader_queue_count(cluster, "wide", "take_limit") > 64);
  REQUIRE(wait_until([&] { return echo_stats(echo)["completed"].get<int>() >= 2 * kSlots; }, 60s, 20ms));
  CHECK(echo_stats(echo)["max_in_flight"].get<int>() == kSlots);
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "wide") == 2 * kSlots; }, 20s));

  // Large bodies make takes smaller: their bodies come back to the leader
  // in one result, kept within about 8 MiB (60 KiB bodies stay in the log:
  // under the 64 KiB side-storage threshold).
  for (int i = 0; i < 4; ++i)
    REQUIRE(post_async(cluster.port_for(static_cast<std::size_t>(i)), "wide", "/echo?big=" + std::to_string(i),
                       std::string(60 * 1024, 'z')).status == 202);
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "wide") == 2 * kSlots + 4; },
                     20s));
  const auto limit = leader_queue_count(cluster, "wide", "take_limit");
  CHECK(limit <= 8u * 1024 / 60);  // 136: each payload is the body and its headers
  CHECK(limit > 8u * 1024 / 64);
}

TEST_CASE("an item taken ahead that waits too long for a slot is given back untried", "[integration][async]") {
  Recorder recorder(status_from_target);
  // Parallelism 1; HttpTimeout 30 s: an item taken ahead may wait 10 s for
  // the slot (take_ahead_wait), and a callback holds the slot up to 30 s.
  Cluster cluster(functions_json({function("rec", {recorder.url()}, 1, 1, async_configuration(30, {0}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  // A answers 202: callback mode, it holds the one slot until its callback.
  auto a = post_async(cluster.node(1).http_port, "rec", "/status/202?k=a");
  REQUIRE(a.status == 202);
  const auto aid = *a.header("SlimFaas-Element-Id");
  REQUIRE(wait_until([&] { return !recorder.attempts_for(aid).empty(); }, 10s));
  // B is taken ahead, waits, and is given back once its lease would no
  // longer cover an attempt.
  auto b = post_async(cluster.node(2).http_port, "rec", "/status/200?k=b");
  REQUIRE(b.status == 202);
  const auto bid = *b.header("SlimFaas-Element-Id");
  REQUIRE(wait_until([&] { return leader_queue_count(cluster, "rec", "taken_ahead") >= 1; }, 10s));
  REQUIRE(wait_until([&] { return leader_queue_count(cluster, "rec", "given_back") >= 1; }, 30s, 100ms));
  CHECK(recorder.attempts_for(bid).empty());
  // A's callback frees the slot: B goes, once, as its first try.
  REQUIRE(http("POST", base_url(cluster.node(3).http_port) + "/async-function-callback/rec/" + aid + "/success", {}, {},
               10s).status == 200);
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "rec") == 2; }, 20s, 50ms));
  auto tries = recorder.attempts_for(bid);
  REQUIRE(tries.size() == 1);
  CHECK(header_of(tries[0], "slimfaas-try-number") == "0");
  CHECK(header_of(tries[0], "slimfaas-last-try") == "false");
  CHECK(recorder.attempts_for(aid).size() == 1);
}

TEST_CASE("async retries follow DefaultAsync with exact attempt headers", "[integration][async]") {
  Recorder recorder(status_from_target);
  Cluster cluster(functions_json({function("rec", {recorder.url()}, 2, 2, async_configuration(5, {0, 1}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  auto r = post_async(cluster.node(1).http_port, "rec", "/status/503?q=1", "retry me",
                      {{"X-Custom", "kept"}, {"Content-Type", "text/plain"}});
  REQUIRE(r.status == 202);
  const auto id = *r.header("SlimFaas-Element-Id");
  REQUIRE(wait_until([&] { return recorder.attempts_for(id).size() >= 3; }, 20s, 20ms));
  // Give a fourth attempt the chance to show up, if it wrongly would.
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_failed_total", "rec") == 1; }, 10s));
  auto attempts = recorder.attempts_for(id);
  REQUIRE(attempts.size() == 3);
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    INFO("attempt " << i);
    CHECK(attempts[i].method == "POST");
    CHECK(attempts[i].target == "/status/503?q=1");
    CHECK(attempts[i].body == "retry me");
    CHECK(header_of(attempts[i], "slimfaas-try-number") == std::to_string(i));
    CHECK(header_of(attempts[i], "slimfaas-last-try") == (i == 2 ? "true" : "false"));
    CHECK(header_of(attempts[i], "x-custom") == "kept");
    CHECK(header_of(attempts[i], "content-type") == "text/plain");
  }
  CHECK(leader_metric(cluster, "slimfaas_async_retries_total", "rec") == 2);

  // A status not in HttpStatusRetries fails at once; a 2xx completes.
  auto once = post_async(cluster.node(2).http_port, "rec", "/status/500");
  auto ok = post_async(cluster.node(3).http_port, "rec", "/status/204");
  REQUIRE(once.status == 202);
  REQUIRE(ok.status == 202);
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_failed_total", "rec") == 2; }, 10s));
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "rec") == 1; }, 10s));
  CHECK(recorder.attempts_for(*once.header("SlimFaas-Element-Id")).size() == 1);
  CHECK(recorder.attempts_for(*ok.header("SlimFaas-Element-Id")).size() == 1);
  CHECK(header_of(recorder.attempts_for(*ok.header("SlimFaas-Element-Id"))[0], "slimfaas-last-try") == "false");
}

TEST_CASE("async callbacks complete fail or time out elements", "[integration][async][callback]") {
  Recorder recorder(status_from_target);
  // HttpTimeout 2 s: the callback wait; one retry after a missing callback.
  Cluster cluster(functions_json({function("cb", {recorder.url()}, 5, 5, async_configuration(2, {0}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());
  auto callback = [&](int node, const std::string& fn, const std::string& id, const std::string& word) {
    return http("POST", base_url(cluster.node(node).http_port) + "/async-function-callback/" + fn + "/" + id + "/" + word,
                {}, {}, 10s);
  };

  auto success = post_async(cluster.node(1).http_port, "cb", "/status/202?k=s");
  auto error = post_async(cluster.node(2).http_port, "cb", "/status/202?k=e");
  REQUIRE(success.status == 202);
  REQUIRE(error.status == 202);
  const auto sid = *success.header("SlimFaas-Element-Id");
  const auto eid = *error.header("SlimFaas-Element-Id");
  REQUIRE(wait_until([&] { return !recorder.attempts_for(sid).empty() && !recorder.attempts_for(eid).empty(); }, 10s));

  // Callbacks may arrive on any node.
  CHECK(callback(3, "cb", sid, "success").status == 200);
  CHECK(callback(1, "cb", eid, "error").status == 200);
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "cb") == 1; }, 10s));
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_failed_total", "cb") == 1; }, 10s));

  // Wrong inputs.
  CHECK(callback(2, "cb", "987654321", "success").status == 404);
  CHECK(callback(2, "cb", "not-a-number", "success").status == 404);
  CHECK(callback(2, "nope", sid, "success").status == 404);
  CHECK(callback(2, "cb", sid, "maybe").status == 400);
  CHECK(http("GET", base_url(cluster.node(2).http_port) + "/async-function-callback/cb/" + sid + "/success").status == 405);
  // Completed elements are gone.
  REQUIRE(wait_until([&] { return callback(2, "cb", sid, "success").status == 404; }, 10s));

  // No callback: after HttpTimeout the element is tried again, then failed.
  auto silent = post_async(cluster.node(3).http_port, "cb", "/status/202?k=t");
  REQUIRE(silent.status == 202);
  const auto tid = *silent.header("SlimFaas-Element-Id");
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_failed_total", "cb") == 2; }, 20s, 50ms));
  auto tries = recorder.attempts_for(tid);
  REQUIRE(tries.size() == 2);
  CHECK(header_of(tries[0], "slimfaas-last-try") == "false");
  CHECK(header_of(tries[1], "slimfaas-last-try") == "true");
  // Failed and removed: the counter moves when the queue decides, the
  // element leaves SlimData once that decision commits, a moment later.
  CHECK(wait_until([&] { return callback(1, "cb", tid, "success").status == 404; }, 10s));
  // The success element was never attempted again.
  CHECK(recorder.attempts_for(sid).size() == 1);
  CHECK(recorder.attempts_for(eid).size() == 1);
}

TEST_CASE("async messages survive two kill -9 of the leader", "[integration][async][failover]") {
  Recorder recorder([](const std::string&) { return 200; });
  // HttpTimeout 3 s: elements in flight at a kill come back after their
  // lease (3 + 3 + 5 s; 6 s more for those taken ahead of a free slot) on
  // the new leader, and a slow answer on a busy machine is not a timeout
  // (which would retry, a duplicate of its own).
  Cluster cluster(functions_json({function("rec", {recorder.url()}, 10, 10, async_configuration(3, {0, 0, 0}, {503}))}));
  REQUIRE(cluster.wait_leader().has_value());
  INFO(cluster.logs());

  // A client that retries until its call is accepted: a call that got no
  // 202 (no leader, no quorum, a node gone mid-request) is sent again, to
  // any node. What the cluster owes is the calls it answered 202.
  const int total = 2000;
  const auto give_up = SteadyClock::now() + 240s;
  std::mutex mutex;
  std::map<std::string, std::string> accepted;  // element id -> the client's ?id
  std::atomic<int> sent{0};
  std::atomic<int> unaccepted{0};
  std::atomic<int> refusals{0};
  auto producer = [&](int worker) {
    for (int i = worker; i < total; i += 4) {
      bool done = false;
      for (std::size_t attempt = 0; !done && SteadyClock::now() < give_up; ++attempt) {
        auto r = http("POST", base_url(cluster.port_for(static_cast<std::size_t>(i) + attempt)) +
                                  "/async-function/rec/work?id=" + std::to_string(i),
                      {}, "m", 5s);
        auto id = r.header("SlimFaas-Element-Id");
        if (r.status == 202 && id) {
          std::lock_guard lock(mutex);
          accepted[*id] = std::to_string(i);
          done = true;
        } else {
          ++refusals;
          std::this_thread::sleep_for(50ms);  // a client's back-off while there is no leader
        }
      }
      if (!done) ++unaccepted;
      ++sent;
    }
  };
  std::vector<std::thread> producers;
  for (int w = 0; w < 4; ++w) producers.emplace_back(producer, w);

  // Two kills of the leader while calls flow, each once the function is
  // being delivered to. No REQUIRE while the producers run (their threads
  // must be joined first).
  std::vector<SteadyClock::time_point> kills;
  std::vector<int> killed;
  for (int kill = 0; kill < 2; ++kill) {
    const int at = (kill + 1) * total / 3;
    const auto delivered_before = recorder.attempt_count();
    wait_until([&] { return sent.load() >= at && recorder.attempt_count() > delivered_before; }, 120s, 10ms);
    auto leader = cluster.wait_leader();
    if (!leader) break;
    kills.push_back(SteadyClock::now());
    killed.push_back(*leader);
    cluster.kill9(*leader);
    cluster.wait_leader(30s);
    cluster.start(*leader);
  }
  for (auto& t : producers) t.join();
  REQUIRE(kills.size() == 2);
  REQUIRE(cluster.wait_leader().has_value());
  INFO("killed nodes " << killed[0] << " and " << killed[1] << "; refused or failed sends retried: " << refusals.load());
  // Every call was accepted in the end: the client retried through both kills.
  REQUIRE(unaccepted.load() == 0);
  REQUIRE(accepted.size() == static_cast<std::size_t>(total));

  // Every accepted element arrives at least once.
  std::set<std::string> missing;
  auto all_arrived = [&] {
    std::set<std::string> seen;
    for (auto& a : recorder.attempts()) seen.insert(header_of(a, "slimfaas-element-id"));
    missing.clear();
    for (auto& [id, _] : accepted)
      if (!seen.count(id)) missing.insert(id);
    return missing.empty();
  };
  CHECK(wait_until(all_arrived, 120s, 200ms));
  INFO("missing " << missing.size() << (missing.empty() ? "" : ", first " + *missing.begin()));
  REQUIRE(missing.empty());
  // Then let the queue settle: nothing ready, leased or waiting for a retry,
  // so every redelivery that will happen has happened.
  auto settled = [&] {
    return leader_metric(cluster, "slimfaas_function_queue_ready_items", "rec") == 0 &&
           leader_metric(cluster, "slimfaas_function_queue_in_flight_items", "rec") == 0 &&
           leader_metric(cluster, "slimfaas_function_queue_retry_pending_items", "rec") == 0;
  };
  CHECK(wait_until(settled, 60s, 200ms));

  // At-least-once, and no more than the kills explain: an element is
  // attempted again only if an earlier attempt was in flight at a kill.
  // `kAckWindow` covers an answer whose ack was not committed yet at the
  // kill: an ack is a SlimData proposal, and one started more than the
  // nodes' request timeout (2 s) before the kill had committed or failed.
  constexpr auto kAckWindow = std::chrono::milliseconds(1000);
  std::vector<std::set<std::string>> in_flight;
  for (auto at : kills) in_flight.push_back(recorder.in_flight_at(at, kAckWindow));
  std::map<std::string, std::vector<Attempt>> by_id;
  for (auto& a : recorder.attempts()) by_id[header_of(a, "slimfaas-element-id")].push_back(a);
  std::size_t duplicated = 0;
  std::vector<std::string> unexplained;
  for (auto& [id, attempts] : by_id) {
    if (attempts.size() < 2) continue;
    ++duplicated;
    // Which kills this element was in flight at: each explains one more attempt.
    std::size_t explained = 0;
    for (auto& set : in_flight) explained += set.count(id);
    if (attempts.size() > 1 + explained) unexplained.push_back(id);
  }
  // How the duplicates' earlier attempts stood at the first kill after
  // they arrived (ms between answer and kill; -1: not answered).
  std::vector<long long> answer_to_kill_ms;
  for (auto& [id, attempts] : by_id) {
    if (attempts.size() < 2) continue;
    for (std::size_t i = 0; i + 1 < attempts.size(); ++i) {
      auto kill_it = std::lower_bound(kills.begin(), kills.end(), attempts[i].arrived);
      if (kill_it == kills.end()) continue;
      auto at = *kill_it;
      answer_to_kill_ms.push_back(
          attempts[i].answered ? std::chrono::duration_cast<std::chrono::milliseconds>(at - *attempts[i].answered).count()
                               : -1);
    }
  }
  std::sort(answer_to_kill_ms.begin(), answer_to_kill_ms.end());
  std::string gaps;
  for (auto g : answer_to_kill_ms) gaps += (gaps.empty() ? "" : " ") + std::to_string(g);
  INFO("duplicates: ms from answer to kill (-1: unanswered): " << gaps);
  std::size_t unknown = 0;  // elements committed for a call whose 202 was lost, then sent again
  for (auto& [id, _] : by_id)
    if (!accepted.count(id)) ++unknown;
  INFO("in flight at the kills: " << in_flight[0].size() << " and " << in_flight[1].size()
                                  << "; duplicated elements: " << duplicated
                                  << "; delivered elements without a 202: " << unknown);
  INFO("first unexplained: " << (unexplained.empty() ? "-" : unexplained.front()) << " with "
                             << (unexplained.empty() ? 0 : by_id[unexplained.front()].size()) << " attempts");
  CHECK(unexplained.empty());
  // A kill with nothing in flight would prove nothing about duplicates.
  CHECK(in_flight[0].size() + in_flight[1].size() > 0);
}

// ------------------------------------------------------------ large bodies

namespace {

// The side-stored blobs of a node (actors/blob_actor.hpp): their contents.
std::vector<std::string> blobs_of(const ClusterNode& node) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(node.directory + ".blobs", ec)) {
    if (entry.path().extension() == ".part") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

int nodes_holding(Cluster& cluster, const std::string& body) {
  int holding = 0;
  for (auto& n : cluster.nodes()) {
    auto blobs = blobs_of(n);
    holding += std::count(blobs.begin(), blobs.end(), body) > 0 ? 1 : 0;
  }
  return holding;
}

bool no_blobs_anywhere(Cluster& cluster) {
  for (auto& n : cluster.nodes())
    if (!blobs_of(n).empty()) return false;
  return true;
}

// 700 KiB that differ along their length (three chunks of an upload).
std::string large_body() {
  std::string body(700 * 1024, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return body;
}

// A recording function whose first attempt answers 503 and every later
// one 200, behind a three-node cluster with every node connected: the
// retry comes `retry_delay_s` after the first attempt (HttpTimeout
// `http_timeout_s`), the window in which the element and its body wait.
struct RetriedOnce {
  RetriedOnce(int http_timeout_s, int retry_delay_s)
      : recorder([this](const std::string&) { return calls++ == 0 ? 503 : 200; }),
        cluster(functions_json(
            {function("rec", {recorder.url()}, 1, 1, async_configuration(http_timeout_s, {retry_delay_s}, {503}))})) {}
  bool ready() {
    return cluster.wait_leader().has_value() && wait_until([&] { return cluster.all_connected_and_caught_up(); }, 30s);
  }
  std::atomic<int> calls{0};
  Recorder recorder;
  Cluster cluster;
};

}  // namespace

TEST_CASE("a large async body is kept beside the log on a majority, delivered whole, then deleted everywhere",
          "[integration][async][large]") {
  // The element is queued (and its body kept) at least the 3 s until the retry.
  RetriedOnce setup(5, 3);
  auto& recorder = setup.recorder;
  auto& cluster = setup.cluster;
  REQUIRE(setup.ready());
  INFO(cluster.logs());

  const std::string body = large_body();
  auto r = post_async(cluster.node(1).http_port, "rec", "/work?q=1", body, {{"Content-Type", "application/x-test"}});
  INFO(r.describe());
  REQUIRE(r.status == 202);
  const auto id = r.header("SlimFaas-Element-Id");
  REQUIRE(id.has_value());

  // Acknowledged: the body is durable on a majority (with every node up,
  // on all three), beside the log.
  REQUIRE(wait_until([&] { return !recorder.attempts_for(*id).empty(); }, 30s, 10ms));
  CHECK(nodes_holding(cluster, body) >= 2);

  // The retry carries the whole body, and the call's method, target and headers.
  REQUIRE(wait_until([&] { return recorder.attempts_for(*id).size() >= 2; }, 30s, 20ms));
  for (const auto& attempt : recorder.attempts_for(*id)) {
    CHECK(attempt.method == "POST");
    CHECK(attempt.target == "/work?q=1");
    CHECK(header_of(attempt, "content-type") == "application/x-test");
    CHECK(attempt.body.size() == body.size());
    CHECK(attempt.body == body);
  }
  // Delivered: every node deletes its copy once the ack is applied.
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "rec") == 1; }, 20s));
  CHECK(wait_until([&] { return no_blobs_anywhere(cluster); }, 20s, 20ms));

  // A small call behind it still goes into its log entry and arrives.
  auto small = post_async(cluster.node(2).http_port, "rec", "/small", "tiny");
  REQUIRE(small.status == 202);
  REQUIRE(wait_until([&] { return !recorder.attempts_for(*small.header("SlimFaas-Element-Id")).empty(); }, 20s, 10ms));
  CHECK(recorder.attempts_for(*small.header("SlimFaas-Element-Id")).front().body == "tiny");
  CHECK(no_blobs_anywhere(cluster));
}

TEST_CASE("a new leader without a large body's copy fetches it from a peer", "[integration][async][large][failover]") {
  // The retry comes 8 s after the first attempt: long after the kill, the
  // election and the loss of the copy below.
  RetriedOnce setup(3, 8);
  auto& recorder = setup.recorder;
  auto& cluster = setup.cluster;
  REQUIRE(setup.ready());
  INFO(cluster.logs());

  const std::string body = large_body();
  auto r = post_async(cluster.node(1).http_port, "rec", "/work", body);
  INFO(r.describe());
  REQUIRE(r.status == 202);
  const auto id = *r.header("SlimFaas-Element-Id");
  REQUIRE(wait_until([&] { return !recorder.attempts_for(id).empty(); }, 30s, 10ms));

  // The leader dies before the retry; the new leader has lost its copy (a
  // node that was down during the upload would not have one either).
  const int old_leader = *cluster.wait_leader();
  cluster.kill9(old_leader);
  auto new_leader = cluster.wait_leader(30s);
  REQUIRE(new_leader.has_value());
  std::filesystem::remove_all(cluster.node(*new_leader).directory + ".blobs");
  std::filesystem::create_directories(cluster.node(*new_leader).directory + ".blobs");
  const auto lost = SteadyClock::now();
  cluster.start(old_leader);

  REQUIRE(wait_until([&] { return recorder.attempts_for(id).size() >= 2; }, 60s, 20ms));
  CHECK(recorder.attempts_for(id).back().arrived > lost);
  CHECK(recorder.attempts_for(id).back().body == body);
  CHECK(nodes_holding(cluster, body) <= 2);  // the new leader read it and kept no copy
  REQUIRE(wait_until([&] { return leader_metric(cluster, "slimfaas_async_delivered_total", "rec") >= 1; }, 30s));
  CHECK(wait_until([&] { return no_blobs_anywhere(cluster); }, 30s, 20ms));
}
