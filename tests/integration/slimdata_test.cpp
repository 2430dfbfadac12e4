// SlimData (Raft over RocksDB, CAF actors) across real `slimfaas serve`
// processes on loopback: cluster formation, the issue's headline test
// (5,000 acknowledged keys while the leader is killed with -9 three times,
// then a full stop and restart), no quorum, stray nodes, cold start.
//
// Everything waits on conditions seen through /debug/raft and the
// /data/sets API; nothing sleeps for correctness. Worker threads only
// collect results; the main thread asserts (Catch2 is not thread-safe).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/slimdata_cluster.hpp"

using namespace it;
using Json = nlohmann::json;

namespace {

const char* const kNoFunctions = R"({"Functions":[]})";

// A fresh directory under the test binary's temp dir.
std::string fresh_dir(const std::string& what) {
  static std::atomic<int> seq{0};
  auto dir = temp_dir() + "/slimdata-" + what + "-" + std::to_string(++seq);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}


long long counter(const Json& raft, const char* name) {
  if (!raft.contains("counters") || !raft["counters"].contains(name)) return -1;
  return raft["counters"][name].get<long long>();
}

HttpResponse data_set(int http_port, const std::string& id, const std::string& value, Ms timeout = 15s) {
  return http("POST", base_url(http_port) + "/data/sets/" + id, {{"Content-Type", "application/octet-stream"}}, value,
              timeout);
}

HttpResponse data_get(int http_port, const std::string& id, Ms timeout = 15s) {
  return http_get(base_url(http_port) + "/data/sets/" + id, timeout);
}

using Cluster = SlimDataCluster;

// Starts the three nodes and waits for a leader and for every node to be
// connected and caught up; returns the leader's id.
std::optional<int> start_settled(Cluster& cluster) {
  cluster.start_all();
  auto leader = cluster.wait_leader();
  UNSCOPED_INFO(cluster.logs());  // reported with the next assertion, should it fail
  REQUIRE(leader.has_value());
  const bool settled = wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms);
  UNSCOPED_INFO(cluster.logs());
  REQUIRE(settled);
  return leader;
}

}  // namespace

// ------------------------------------------------------------------ a

TEST_CASE("three nodes elect one leader and a write through a follower is readable everywhere",
          "[integration][slimdata]") {
  Cluster cluster;
  const auto leader = start_settled(cluster);
  INFO(cluster.logs());

  // Exactly one node says leader; every node names the same leader and term,
  // and sees both of its peers connected.
  int leaders = 0;
  std::set<long long> terms;
  for (auto& n : cluster.nodes()) {
    auto j = debug_raft(n.http_port);
    REQUIRE(j.has_value());
    INFO(j->dump());
    if ((*j)["role"] == "leader") ++leaders;
    CHECK((*j)["leader"].get<int>() == *leader);
    terms.insert((*j)["term"].get<long long>());
    REQUIRE((*j)["peers"].size() == 2);
    for (auto& p : (*j)["peers"]) CHECK(p["connected"].get<bool>());
    CHECK(counter(*j, "rejected_unauthenticated") == 0);
  }
  CHECK(leaders == 1);
  CHECK(terms.size() == 1);

  const int follower = *leader == 1 ? 2 : 1;
  const std::string value = "through a follower \x01\x02\xff binary";
  auto w = data_set(cluster.node(follower).http_port, "greeting", value);
  INFO(w.describe());
  REQUIRE(w.status == 200);
  CHECK(w.json() == Json("greeting"));

  for (auto& n : cluster.nodes()) {
    auto r = data_get(n.http_port, "greeting");
    INFO("node " << n.id << ": " << r.describe());
    CHECK(r.status == 200);
    CHECK(r.body == value);
  }
  auto missing = data_get(cluster.node(follower).http_port, "never-written");
  CHECK(missing.status == 404);

  // The follower forwarded the proposal to the leader.
  auto fj = debug_raft(cluster.node(follower).http_port);
  REQUIRE(fj.has_value());
  CHECK(counter(*fj, "forwarded") >= 1);

  // Every node wrote its log, on the thread named for it (operators and
  // bench/async.py tell a node's threads apart by name).
  // (A write commits on a majority: the third node may write a moment later.)
  for (auto& n : cluster.nodes()) {
    INFO("node " << n.id);
    CHECK(wait_until(
        [&] {
          const auto names = thread_names(n.proc->pid());
          return std::count(names.begin(), names.end(), "raft-log") == 1;
        },
        10s));
  }
}

// A burst of small writes goes into few log entries (the leader merges
// the proposals of one burst), and every caller still gets its own
// command's result: its own key back, its own value stored.
TEST_CASE("concurrent writes share log entries and each caller gets its own result", "[integration][slimdata]") {
  Cluster cluster;
  const auto leader = start_settled(cluster);
  INFO(cluster.logs());

  constexpr int kCallers = 32, kEach = 25;
  std::mutex mu;
  std::vector<std::string> problems;
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "burst-" + std::to_string(c) + "-" + std::to_string(i);
        // Half through the leader, half through a follower (forwarded, then
        // merged on the leader all the same).
        const int node = c % 2 == 0 ? *leader : (*leader == 1 ? 2 : 1);
        auto r = data_set(cluster.node(node).http_port, id, "value of " + id);
        if (r.status != 200 || r.json() != Json(id)) {
          std::lock_guard lock(mu);
          problems.push_back(id + ": " + r.describe());
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  for (const auto& p : problems) UNSCOPED_INFO(p);
  REQUIRE(problems.empty());

  auto j = debug_raft(cluster.node(*leader).http_port);
  REQUIRE(j.has_value());
  INFO(j->dump());
  const long long merged_entries = counter(*j, "merged_entries");
  const long long merged_proposals = counter(*j, "merged_proposals");
  CHECK(merged_entries >= 1);
  CHECK(merged_proposals > merged_entries);  // at least one entry carried several calls
  CHECK(merged_proposals <= kCallers * kEach);

  for (auto& n : cluster.nodes()) {
    REQUIRE(wait_until([&] { return data_get(n.http_port, "burst-31-24").status == 200; }, 30s, 20ms));
    for (int c = 0; c < kCallers; c += 7)
      for (int i = 0; i < kEach; i += 6) {
        const std::string id = "burst-" + std::to_string(c) + "-" + std::to_string(i);
        auto r = data_get(n.http_port, id);
        INFO("node " << n.id << " " << id << ": " << r.describe());
        CHECK(r.status == 200);
        CHECK(r.body == "value of " + id);
      }
  }
}

// ------------------------------------------------------------------ b

namespace {

constexpr int kKeys = 5000;
constexpr int kWriters = 8;

std::string key_of(int i) { return "key-" + std::to_string(i); }
std::string value_of(int i) {
  std::string v = "value-" + std::to_string(i) + "-";
  while (v.size() < 64) v += static_cast<char>('a' + (v.size() + static_cast<std::size_t>(i)) % 26);
  return v;
}

struct ReadCheck {
  int missing = 0;     // 404
  int wrong = 0;       // 200 with another value
  int failed = 0;      // anything else, after retries
  std::vector<std::string> samples;
};

// Reads every key from one node (in parallel); a 503 or transport error is
// retried a few times (a node may still be settling), a 404 or a wrong value
// is not.
ReadCheck read_all(int http_port) {
  ReadCheck out;
  std::mutex mu;
  std::atomic<int> next{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kWriters; ++t) {
    readers.emplace_back([&] {
      for (int i = next++; i < kKeys; i = next++) {
        HttpResponse r;
        for (int attempt = 0; attempt < 20; ++attempt) {
          r = data_get(http_port, key_of(i));
          if (r.status == 200 || r.status == 404) break;
          std::this_thread::sleep_for(100ms);  // back-off before a retry
        }
        std::lock_guard<std::mutex> lock(mu);
        if (r.status == 200 && r.body == value_of(i)) continue;
        if (r.status == 200) ++out.wrong;
        else if (r.status == 404) ++out.missing;
        else ++out.failed;
        if (out.samples.size() < 10) out.samples.push_back(key_of(i) + ": " + r.describe());
      }
    });
  }
  for (auto& t : readers) t.join();
  return out;
}

std::string describe(const ReadCheck& c) {
  std::string s = "missing " + std::to_string(c.missing) + " wrong " + std::to_string(c.wrong) + " failed " +
                  std::to_string(c.failed);
  for (auto& x : c.samples) s += "\n  " + x;
  return s;
}

}  // namespace

TEST_CASE("5000 acknowledged keys survive three kill -9 of the leader and a full restart",
          "[integration][slimdata][chaos]") {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  Cluster cluster;
  cluster.start_all();
  REQUIRE(cluster.wait_leader().has_value());
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms));

  // Writers take the next key index below `allowed` (the main thread raises
  // it phase by phase so that every kill lands while writes are in flight)
  // and retry it until a 200 acknowledges it.
  std::vector<int> http_ports;
  for (auto& n : cluster.nodes()) http_ports.push_back(n.http_port);
  std::atomic<int> next{0};
  std::atomic<int> allowed{0};
  std::atomic<int> acked{0};
  std::atomic<bool> stop_writers{false};
  std::atomic<long> attempts{0}, unavailable{0}, transport_errors{0}, other_errors{0};
  std::mutex mu;
  std::vector<std::string> bad_acks;  // a 200 with an unexpected body
  std::vector<std::string> other_samples;

  auto writer = [&](int t) {
    std::size_t target = static_cast<std::size_t>(t);
    for (int i = next++; i < kKeys && !stop_writers; i = next++) {
      while (i >= allowed && !stop_writers) std::this_thread::sleep_for(5ms);  // pacing, not correctness
      while (!stop_writers) {
        const int port = http_ports[target++ % http_ports.size()];
        ++attempts;
        auto r = data_set(port, key_of(i), value_of(i), 20s);
        if (r.status == 200) {
          if (r.json() != Json(key_of(i))) {
            std::lock_guard<std::mutex> lock(mu);
            bad_acks.push_back(key_of(i) + ": " + r.describe());
          }
          ++acked;
          break;
        }
        if (!r.transport_ok()) ++transport_errors;
        else if (r.status == 503) ++unavailable;
        else {
          ++other_errors;
          std::lock_guard<std::mutex> lock(mu);
          if (other_samples.size() < 10) other_samples.push_back(key_of(i) + ": " + r.describe());
        }
        std::this_thread::sleep_for(20ms);  // back-off before a retry
      }
    }
  };

  const auto t_writes = Clock::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) writers.emplace_back(writer, t);
  struct JoinGuard {
    std::vector<std::thread>& threads;
    std::atomic<bool>& stop;
    ~JoinGuard() {
      stop = true;
      for (auto& th : threads)
        if (th.joinable()) th.join();
    }
  } join_guard{writers, stop_writers};

  // Four phases of 1,250 keys; a leader kill at 1,000 acknowledged keys into
  // each of the first three, so that ~250 keys are still being written.
  std::vector<int> killed;
  std::vector<std::string> chaos_log;
  bool chaos_ok = true;
  const int phase = kKeys / 4;
  for (int k = 0; k < 3 && chaos_ok; ++k) {
    allowed = (k + 1) * phase;
    if (!wait_until([&] { return acked >= k * phase + phase * 4 / 5; }, 120s, 10ms)) {
      chaos_log.push_back("phase " + std::to_string(k) + ": writes stalled at " + std::to_string(acked.load()));
      chaos_ok = false;
      break;
    }
    auto leader = cluster.wait_leader(60s);
    if (!leader) {
      chaos_log.push_back("phase " + std::to_string(k) + ": no agreed leader");
      chaos_ok = false;
      break;
    }
    const int at = acked;
    cluster.kill9(*leader);
    killed.push_back(*leader);
    const auto t_kill = Clock::now();
    // Writes go on with two nodes: a new leader among the survivors and
    // further acknowledgements before the killed node comes back.
    auto new_leader = cluster.wait_leader(60s);
    const auto t_elected = Clock::now();
    const bool progressed = wait_until([&] { return acked >= at + 50 || acked >= allowed; }, 60s, 10ms);
    chaos_log.push_back(
        "kill " + std::to_string(k + 1) + ": leader " + std::to_string(*leader) + " at " + std::to_string(at) +
        " acked, new leader " + (new_leader ? std::to_string(*new_leader) : std::string("none")) + " after " +
        std::to_string(std::chrono::duration_cast<Ms>(t_elected - t_kill).count()) + " ms, progress " +
        (progressed ? "yes" : "no"));
    if (!new_leader || *new_leader == *leader || !progressed) {
      chaos_ok = false;
      break;
    }
    cluster.start(*leader);
    if (!wait_until([&] { return cluster.all_connected_and_caught_up(); }, 120s, 50ms)) {
      chaos_log.push_back("node " + std::to_string(*leader) + " did not rejoin");
      chaos_ok = false;
      break;
    }
  }
  if (chaos_ok) {
    allowed = kKeys;
    chaos_ok = wait_until([&] { return acked >= kKeys; }, 180s, 20ms);
    if (!chaos_ok) chaos_log.push_back("writes stalled at " + std::to_string(acked.load()));
  }
  stop_writers = !chaos_ok;
  for (auto& th : writers) th.join();
  const auto t_written = Clock::now();

  std::string summary;
  for (auto& line : chaos_log) summary += line + "\n";
  summary += "attempts " + std::to_string(attempts.load()) + ", 503 " + std::to_string(unavailable.load()) +
             ", transport errors " + std::to_string(transport_errors.load()) + ", other " +
             std::to_string(other_errors.load());
  for (auto& s : other_samples) summary += "\n  " + s;
  INFO(summary);
  INFO(cluster.logs());
  REQUIRE(chaos_ok);
  REQUIRE(killed.size() == 3);
  REQUIRE(acked == kKeys);
  CHECK(bad_acks.empty());
  CHECK(other_errors == 0);

  // Every acknowledged key, from every node.
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 120s, 50ms));
  for (auto& n : cluster.nodes()) {
    auto check = read_all(n.http_port);
    INFO("node " << n.id << ": " << describe(check));
    CHECK(check.missing == 0);
    CHECK(check.wrong == 0);
    CHECK(check.failed == 0);
  }
  const auto t_verified = Clock::now();

  // Stop the whole cluster and start it again on the same directories.
  for (auto& n : cluster.nodes()) {
    auto code = cluster.terminate(n.id);
    INFO("node " << n.id);
    CHECK(code == std::optional<int>(0));
  }
  cluster.start_all();
  REQUIRE(cluster.wait_leader().has_value());
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 120s, 50ms));
  for (auto& n : cluster.nodes()) {
    auto check = read_all(n.http_port);
    INFO("after restart, node " << n.id << ": " << describe(check));
    CHECK(check.missing == 0);
    CHECK(check.wrong == 0);
    CHECK(check.failed == 0);
  }
  const auto t_end = Clock::now();

  auto ms = [](auto d) { return std::to_string(std::chrono::duration_cast<Ms>(d).count()); };
  std::cerr << "[slimdata chaos] " << kKeys << " keys by " << kWriters << " writers: written in "
            << ms(t_written - t_writes) << " ms (" << attempts << " attempts, " << unavailable << " x 503, "
            << transport_errors << " transport errors), verified on 3 nodes in " << ms(t_verified - t_written)
            << " ms, restart + verify " << ms(t_end - t_verified) << " ms, total " << ms(t_end - t0) << " ms\n";
  for (auto& line : chaos_log) std::cerr << "[slimdata chaos] " << line << "\n";
}

// ------------------------------------------------------------------ c

TEST_CASE("without a quorum a write answers 503 with JSON within the request timeout",
          "[integration][slimdata]") {
  ClusterOptions options;
  options.request_timeout_ms = 1500;
  Cluster cluster(options);
  cluster.start_all();
  auto leader = cluster.wait_leader();
  UNSCOPED_INFO(cluster.logs());  // reported with the next assertion, should it fail
  REQUIRE(leader.has_value());
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms));
  const int follower = *leader == 1 ? 2 : 1;
  const int other = 6 - *leader - follower;
  REQUIRE(data_set(cluster.node(follower).http_port, "before", "ok").status == 200);

  int survivor = 0;
  SECTION("the old leader survives") {
    survivor = *leader;
    CHECK(cluster.terminate(follower) == std::optional<int>(0));
    CHECK(cluster.terminate(other) == std::optional<int>(0));
  }
  SECTION("a follower survives") {
    survivor = follower;
    cluster.kill9(*leader);
    CHECK(cluster.terminate(other) == std::optional<int>(0));
  }
  const int port = cluster.node(survivor).http_port;
  INFO("survivor " << survivor);

  // Several writes in a row: each must end (curl's own bound is far above
  // the node's request timeout) with a 503 and a JSON error body.
  for (int i = 0; i < 3; ++i) {
    auto w = data_set(port, "during-outage-" + std::to_string(i), "x", 30s);
    INFO(w.describe() << "\n" << cluster.logs());
    REQUIRE(w.transport_ok());
    CHECK(w.status == 503);
    auto body = w.json();
    REQUIRE(body.has_value());
    CHECK(body->contains("error"));
  }
  // A linearizable read cannot be served either.
  auto r = data_get(port, "before", 30s);
  INFO(r.describe());
  REQUIRE(r.transport_ok());
  CHECK(r.status == 503);
  CHECK(r.json().has_value());
  // The node itself stays up and says it has no leader it can use.
  CHECK(cluster.node(survivor).up());
  auto j = debug_raft(port);
  REQUIRE(j.has_value());
  INFO(j->dump());
  CHECK((*j)["role"] != "leader");
}

// Of each pair of nodes the lower id dials: a restarted node 1 dials both
// others again, and a restarted node 3 is dialed again by both others.
TEST_CASE("a restarted node reconnects to every peer, whichever side dials", "[integration][slimdata]") {
  Cluster cluster;
  cluster.start_all();
  REQUIRE(cluster.wait_leader().has_value());
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms));

  int restarted = 0;
  SECTION("the lowest id, which dials") { restarted = 1; }
  SECTION("the highest id, which is dialed") { restarted = 3; }
  INFO("restarted node " << restarted);
  cluster.kill9(restarted);
  const int other = restarted == 1 ? 2 : 1;
  REQUIRE(cluster.wait_leader().has_value());
  auto w = data_set(cluster.node(other).http_port, "while-down", "yes", 30s);
  INFO(w.describe());
  REQUIRE(w.status == 200);

  cluster.start(restarted);
  const bool rejoined = wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms);
  INFO(cluster.logs());
  CHECK(rejoined);
  auto r = data_get(cluster.node(restarted).http_port, "while-down");
  INFO(r.describe());
  CHECK(r.status == 200);
  CHECK(r.body == "yes");
}

// A node that stops answering without closing its connections (a frozen
// process, a host gone without a reset): its peers close them after the
// peer timeout, the cluster goes on without it, and it rejoins on waking.
TEST_CASE("a frozen node's connections close after the peer timeout and it rejoins when it resumes",
          "[integration][slimdata]") {
  ClusterOptions options;
  options.extra_args = {"--slimdata-peer-timeout-ms", "2000"};
  Cluster cluster(options);
  cluster.start_all();
  auto leader = cluster.wait_leader();
  UNSCOPED_INFO(cluster.logs());  // reported with the next assertion, should it fail
  REQUIRE(leader.has_value());
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms));
  const int frozen = *leader == 1 ? 2 : 1;
  const int other = 6 - *leader - frozen;
  INFO("leader " << *leader << ", frozen " << frozen);

  auto sees_connected = [&](int node, int peer) -> std::optional<bool> {
    auto j = debug_raft(cluster.node(node).http_port);
    if (!j) return std::nullopt;
    for (const auto& p : (*j)["peers"])
      if (p["id"].get<int>() == peer) return p["connected"].get<bool>();
    return std::nullopt;
  };
  REQUIRE(cluster.node(frozen).proc->signal(SIGSTOP));
  const bool dropped = wait_until(
      [&] { return sees_connected(*leader, frozen) == false && sees_connected(other, frozen) == false; }, 60s, 50ms);
  auto during = data_set(cluster.node(*leader).http_port, "while-frozen", "yes");
  REQUIRE(cluster.node(frozen).proc->signal(SIGCONT));
  INFO(cluster.logs());
  CHECK(dropped);
  CHECK(during.status == 200);

  // Awake again: every node connected to every other, the woken one caught
  // up, and it serves what was written while it slept.
  const bool rejoined = wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms);
  std::string views;
  for (auto& n : cluster.nodes()) {
    auto j = debug_raft(n.http_port);
    views += "node " + std::to_string(n.id) + ": " + (j ? j->dump() : std::string("no answer")) + "\n";
  }
  INFO(views);
  CHECK(rejoined);
  auto r = data_get(cluster.node(frozen).http_port, "while-frozen");
  INFO(r.describe());
  CHECK(r.status == 200);
  CHECK(r.body == "yes");
}

// ------------------------------------------------------------------ d

TEST_CASE("a stray node with the wrong credentials cannot join the cluster", "[integration][slimdata]") {
  Cluster cluster;
  cluster.start_all();
  auto leader = cluster.wait_leader();
  UNSCOPED_INFO(cluster.logs());  // reported with the next assertion, should it fail
  REQUIRE(leader.has_value());
  REQUIRE(wait_until([&] { return cluster.all_connected_and_caught_up(); }, 60s, 50ms));
  auto before = debug_raft(cluster.node(*leader).http_port);
  REQUIRE(before.has_value());
  const long long term = (*before)["term"].get<long long>();

  std::string secret = cluster.options().secret;
  std::string cluster_id = cluster.options().cluster_id;
  SECTION("wrong secret") { secret = "not-the-secret"; }
  SECTION("wrong cluster id") { cluster_id = "another-cluster"; }
  SECTION("no secret") { secret = ""; }

  // The stray claims to be node 1 of a cluster made of itself (on its own
  // port) and the real nodes 2 and 3: the lowest id dials the others, so it
  // talks to both real nodes.
  const int stray_http = free_port_block(2);
  const int stray_raft = stray_http + 1;
  const std::string stray_peers = "127.0.0.1:" + std::to_string(stray_raft) + ",127.0.0.1:" +
                                  std::to_string(cluster.node(2).raft_port) + ",127.0.0.1:" +
                                  std::to_string(cluster.node(3).raft_port);
  std::vector<std::string> argv{slimfaas_binary(), "serve",
                                "--ports", std::to_string(stray_http),
                                "--slimdata-peers", stray_peers,
                                "--slimdata-node-id", "1",
                                "--slimdata-directory", fresh_dir("stray"),
                                "--slimdata-cluster-id", cluster_id,
                                "--slimdata-bind-address", "127.0.0.1",
                                "--slimdata-request-timeout-ms", "1500"};
  if (!secret.empty()) {
    argv.push_back("--slimdata-secret");
    argv.push_back(secret);
  }
  Process stray(argv, Env{{"MOCK_KUBERNETES_FUNCTIONS", kNoFunctions}, {"SlimFaas__LogLevel", "info"}},
                "slimdata-stray");
  REQUIRE(wait_http_ok(base_url(stray_http) + "/health", 60s, [&] { return stray.running(); }));

  // Both real nodes it talks to refuse it, repeatedly (it keeps trying to
  // win an election).
  auto rejected = [&](int id) {
    auto j = debug_raft(cluster.node(id).http_port);
    return j ? counter(*j, "rejected_unauthenticated") : -1;
  };
  INFO(cluster.logs() << stray.log_tail(6000));
  CHECK(wait_until([&] { return rejected(2) >= 3 && rejected(3) >= 3; }, 60s, 50ms));

  // A write through the stray is not acknowledged, and nothing it does
  // reaches the real cluster.
  auto w = data_set(stray_http, "from-the-stray", "evil", 30s);
  INFO(w.describe());
  CHECK(w.status != 200);
  for (auto& n : cluster.nodes()) {
    auto r = data_get(n.http_port, "from-the-stray");
    INFO("node " << n.id << ": " << r.describe());
    CHECK(r.status == 404);
  }
  auto sj = debug_raft(stray_http);
  REQUIRE(sj.has_value());
  INFO(sj->dump());
  CHECK((*sj)["role"] != "leader");
  CHECK((*sj)["commit_index"].get<long long>() == 0);

  // The cluster kept its leader and term, and still serves writes.
  auto after = cluster.agreed_leader();
  CHECK(after == leader);
  auto aj = debug_raft(cluster.node(*leader).http_port);
  REQUIRE(aj.has_value());
  CHECK((*aj)["term"].get<long long>() == term);
  auto ok = data_set(cluster.node(1).http_port, "still-works", "yes");
  CHECK(ok.status == 200);
}

// ------------------------------------------------------------------ e

TEST_CASE("a lone node starts only with allow-cold-start", "[integration][slimdata]") {
  const int http_port = free_port_block(2);
  const int raft_port = http_port + 1;
  const std::string dir = fresh_dir("lone");
  std::vector<std::string> argv{slimfaas_binary(),
                                "serve",
                                "--ports",
                                std::to_string(http_port),
                                "--slimdata-peers",
                                "127.0.0.1:" + std::to_string(raft_port),
                                "--slimdata-directory",
                                dir,
                                "--slimdata-secret",
                                "lone-secret",
                                "--slimdata-bind-address",
                                "127.0.0.1"};
  const Env env{{"MOCK_KUBERNETES_FUNCTIONS", kNoFunctions}, {"SlimFaas__LogLevel", "info"}};

  SECTION("refused without it") {
    Process p(argv, env, "slimdata-lone-refused");
    auto code = p.wait_exit(30s);
    INFO(p.log());
    REQUIRE(code.has_value());
    CHECK(*code == 2);
    CHECK(p.log().find("SLIMDATA_ALLOW_COLD_START") != std::string::npos);
  }
  SECTION("explicitly false is refused too") {
    argv.insert(argv.end(), {"--slimdata-allow-cold-start", "false"});
    Process p(argv, env, "slimdata-lone-false");
    auto code = p.wait_exit(30s);
    INFO(p.log());
    REQUIRE(code.has_value());
    CHECK(*code == 2);
  }
  SECTION("elects itself with it and keeps its data across a restart") {
    argv.insert(argv.end(), {"--slimdata-allow-cold-start", "true"});
    auto lone = std::make_unique<Process>(argv, env, "slimdata-lone");
    REQUIRE(wait_http_ok(base_url(http_port) + "/health", 60s, [&] { return lone->running(); }));
    auto is_leader = [&] {
      auto j = debug_raft(http_port);
      return j && (*j)["role"] == "leader";
    };
    INFO(lone->log_tail());
    REQUIRE(wait_until(is_leader, 60s, 50ms));
    auto w = data_set(http_port, "alone", "value-alone");
    INFO(w.describe());
    REQUIRE(w.status == 200);
    auto r = data_get(http_port, "alone");
    CHECK(r.status == 200);
    CHECK(r.body == "value-alone");

    lone->signal(SIGTERM);
    CHECK(lone->wait_exit(60s) == std::optional<int>(0));
    lone = std::make_unique<Process>(argv, env, "slimdata-lone-again");
    REQUIRE(wait_http_ok(base_url(http_port) + "/health", 60s, [&] { return lone->running(); }));
    REQUIRE(wait_until(is_leader, 60s, 50ms));
    auto again = data_get(http_port, "alone");
    INFO(again.describe());
    CHECK(again.status == 200);
    CHECK(again.body == "value-alone");
  }
}

TEST_CASE("a node that missed compacted entries catches up from a snapshot", "[integration][slimdata]") {
  ClusterOptions options;
  options.snapshot_interval = 50;
  options.name = "slimdata-snap";
  Cluster cluster(options);
  cluster.start_all();
  auto leader = cluster.wait_leader();
  REQUIRE(leader);
  const int lagging = *leader == 3 ? 2 : 3;
  REQUIRE(cluster.terminate(lagging).has_value());

  const int leader_port = cluster.node(*leader).http_port;
  // Values of about 1 MiB make a snapshot of several chunks
  // (actors/snapshot_sender.hpp), each byte of which must arrive in place.
  const auto large = [](int i) {
    std::string value(900'000, '\0');
    for (std::size_t k = 0; k < value.size(); ++k) value[k] = static_cast<char>((k * 131 + static_cast<std::size_t>(i)) % 251);
    return value;
  };
  for (int i = 0; i < 4; ++i) {
    auto r = data_set(leader_port, "large-" + std::to_string(i), large(i));
    INFO(r.describe());
    REQUIRE(r.status == 200);
  }
  for (int i = 0; i < 300; ++i) {
    auto r = data_set(leader_port, "snap-" + std::to_string(i), "value-" + std::to_string(i));
    INFO(r.describe());
    REQUIRE(r.status == 200);
  }
  auto before = debug_raft(leader_port);
  REQUIRE(before);
  // Snapshots come every 50 entries at least, and once the log since the
  // last one outgrew it: some are taken in 300 writes.
  CHECK((*before)["snapshot_index"].get<long long>() >= 50);
  CHECK(counter(*before, "snapshots_written") > 0);
  // The node's only pause for a snapshot is the freeze; it is reported.
  const auto& freeze = before->at("snapshot_freeze_us");
  CHECK(freeze.at("max").get<long long>() >= freeze.at("last").get<long long>());

  // Back: the entries it misses are gone from the leader's log, so only
  // InstallSnapshot can bring it up to date.
  cluster.start(lagging);
  const int lagging_port = cluster.node(lagging).http_port;
  CHECK(wait_until(
      [&] {
        auto j = debug_raft(lagging_port);
        return j && (*j)["snapshot_index"].get<long long>() >= 50 &&
               (*j)["last_applied"].get<long long>() >= (*before)["commit_index"].get<long long>();
      },
      60s, 50ms));
  for (int i = 0; i < 300; i += 37) {
    auto r = data_get(lagging_port, "snap-" + std::to_string(i));
    INFO(r.describe());
    CHECK(r.status == 200);
    CHECK(r.body == "value-" + std::to_string(i));
  }
  for (int i = 0; i < 4; ++i) {
    auto r = data_get(lagging_port, "large-" + std::to_string(i));
    CHECK(r.status == 200);
    CHECK(r.body == large(i));
  }
  // It came in chunks, from the leader's sender.
  auto lagging_raft = debug_raft(lagging_port);
  REQUIRE(lagging_raft);
  CHECK(counter(*lagging_raft, "snapshots_received") >= 1);
  auto leader_after = debug_raft(leader_port);
  REQUIRE(leader_after);
  CHECK(counter(*leader_after, "snapshots_sent") >= 1);

  // A full restart recovers from snapshot plus log on every node.
  for (auto& n : cluster.nodes()) REQUIRE(cluster.terminate(n.id).has_value());
  cluster.start_all();
  REQUIRE(cluster.wait_leader());
  for (auto& n : cluster.nodes()) {
    auto r = data_get(n.http_port, "snap-299", 30s);
    INFO(r.describe());
    CHECK(r.body == "value-299");
  }
}

TEST_CASE("a node snapshots after its log bytes setting and sizes its memtable from the write buffer setting",
          "[integration][slimdata]") {
  // Entries alone would never make a snapshot due here: only the log's
  // bytes can.
  ClusterOptions options;
  options.snapshot_interval = 1'000'000;
  options.name = "slimdata-log-bytes";
  options.extra_args = {"--slimdata-snapshot-log-bytes", "65536", "--slimdata-write-buffer-bytes", "1048576"};
  Cluster cluster(options);
  cluster.start_all();
  auto leader = cluster.wait_leader();
  REQUIRE(leader);
  const int leader_port = cluster.node(*leader).http_port;
  const std::string value(8 * 1024, 'v');
  for (int i = 0; i < 24; ++i) {  // 192 KiB of log
    auto r = data_set(leader_port, "big-" + std::to_string(i), value);
    INFO(r.describe());
    REQUIRE(r.status == 200);
  }
  // Every node took one, the followers included (the snapshot is written
  // beside the node's work: wait for it).
  for (auto& node : cluster.nodes()) {
    INFO("node " << node.id);
    CHECK(wait_until(
        [&] {
          auto j = debug_raft(node.http_port);
          return j && (*j)["snapshot_index"].get<long long>() > 0;
        },
        30s, 50ms));
  }

  // RocksDB records the options it opened the log with.
  std::string recorded;
  for (const auto& entry : std::filesystem::directory_iterator(cluster.node(*leader).directory)) {
    if (entry.path().filename().string().rfind("OPTIONS-", 0) != 0) continue;
    std::ifstream in(entry.path());
    recorded.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  REQUIRE_FALSE(recorded.empty());
  CHECK(recorded.find("write_buffer_size=1048576\n") != std::string::npos);
}
