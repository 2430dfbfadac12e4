// The api actor's /data/sets and /debug/raft routes against a fake SlimData:
// a CAF actor that applies each proposed command to a real
// store::StateMachine, so every result it answers is a real encoding. The
// api actor is driven with ApiCall messages, as the HTTP session sends them.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "actors/api_actor.hpp"
#include "actors/gateway.hpp"
#include "actors/messages.hpp"
#include "actors/slimdata.hpp"
#include "net/gateway.hpp"
#include "net/router.hpp"
#include "store/state_machine.hpp"

using namespace slimfaas;
using namespace std::chrono_literals;
using actors::SlimDataReply;
using nlohmann::json;

namespace {

constexpr std::size_t one_mib = 1 << 20;

// What the fake answers, fixed at spawn.
struct FakeOptions {
  std::optional<SlimDataReply::Status> refuse;  // every propose/read answers this status
  std::optional<std::string> raw_result;        // answer ok with these bytes instead of the machine's
};

// What reached the fake, for the test thread to look at.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> proposed;
  std::vector<std::string> read;

  std::vector<std::string> proposals() {
    std::lock_guard lock(mutex);
    return proposed;
  }
};

struct FakeState {
  static inline const char* name = "fake-slimdata";
  store::StateMachine machine;
};

caf::behavior fake_slimdata(caf::stateful_actor<FakeState>* self, FakeOptions options, std::shared_ptr<Seen> seen) {
  auto answer = [self, options](auto compute) -> caf::result<SlimDataReply> {
    if (options.refuse) return SlimDataReply{*options.refuse, "", "refused by the fake"};
    std::string result = compute();
    if (options.raw_result) result = *options.raw_result;
    return SlimDataReply{SlimDataReply::Status::ok, std::move(result), ""};
  };
  return {
      [=](actors::propose_atom, const std::string& command) {
        {
          std::lock_guard lock(seen->mutex);
          seen->proposed.push_back(command);
        }
        return answer([&] {
          auto& machine = self->state.machine;
          return machine.apply(store::Entry{1, machine.last_applied() + 1, store::Entry::Kind::Command, command});
        });
      },
      [=](actors::read_atom, const std::string& query) {
        {
          std::lock_guard lock(seen->mutex);
          seen->read.push_back(query);
        }
        return answer([&] { return self->state.machine.query(query); });
      },
      [=](actors::status_atom) -> std::string { return R"({"role":"leader","term":3})"; },
  };
}

// One node's api actor, with or without a (fake) SlimData.
class Node {
 public:
  explicit Node(std::optional<FakeOptions> fake = FakeOptions{}) {
    actors::ApiSetup setup;
    setup.gateway = &gateway_;
    setup.node_name = "test-node";
    if (fake) {
      slimdata_ = system_.spawn(fake_slimdata, *fake, seen);
      setup.slimdata = slimdata_;
    }
    api_ = actors::spawn_api_actor(system_, std::move(setup));
  }
  ~Node() {
    // The system's destructor waits for every actor to end.
    caf::anon_send_exit(api_, caf::exit_reason::user_shutdown);
    if (slimdata_) caf::anon_send_exit(slimdata_, caf::exit_reason::user_shutdown);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  net::ApiResponse call(const std::string& method, const std::string& target, std::string body = {}) {
    auto promise = std::make_shared<std::promise<net::ApiResponse>>();
    auto answered = promise->get_future();
    net::Route route = net::route_target(target);
    // The session answers bad_request and not_found itself; only real
    // routes reach the api actor.
    REQUIRE((route.kind == net::RouteKind::data_set || route.kind == net::RouteKind::data_sets ||
             route.kind == net::RouteKind::debug_raft));
    net::ApiRequest request{std::move(route), method, target, std::move(body), "127.0.0.1", {}};
    caf::anon_send(api_, actors::api_atom::value,
                   actors::ApiCall{std::move(request),
                                   [promise](net::ApiResponse response) { promise->set_value(std::move(response)); }});
    REQUIRE(answered.wait_for(10s) == std::future_status::ready);
    return answered.get();
  }

  void stop_slimdata() {
    caf::scoped_actor waiter{system_};
    waiter->monitor(slimdata_);
    caf::anon_send_exit(slimdata_, caf::exit_reason::user_shutdown);
    waiter->receive([](const caf::down_msg&) {});
  }

  std::shared_ptr<Seen> seen = std::make_shared<Seen>();

 private:
  caf::actor_system_config config_;
  caf::actor_system system_{config_};
  actors::ActorGateway gateway_;
  caf::actor slimdata_;
  caf::actor api_;
};

std::string header(const net::ApiResponse& r, const std::string& name) {
  for (const auto& [key, value] : r.headers) {
    if (key == name) return value;
  }
  return "";
}

// Every error is JSON {"error": ..., "detail": ...}.
std::string error_code(const net::ApiResponse& r) {
  INFO("body " << r.body);
  REQUIRE(r.content_type == "application/json");
  auto body = json::parse(r.body);
  REQUIRE(body.contains("detail"));
  CHECK_FALSE(body["detail"].get<std::string>().empty());
  return body.at("error").get<std::string>();
}

std::string detail(const net::ApiResponse& r) { return json::parse(r.body).at("detail").get<std::string>(); }

// Applies one proposed command to a fresh machine, to look at what it does.
store::StateMachine replay(const std::string& command) {
  store::StateMachine machine;
  machine.apply(store::Entry{1, 1, store::Entry::Kind::Command, command});
  return machine;
}

}  // namespace

TEST_CASE("data sets: a value written is read back as raw bytes", "[api][data]") {
  Node node;
  const std::string value("binary\0\xff value", 14);

  auto created = node.call("POST", "/data/sets/my-usecase.session-1", value);
  CHECK(created.status == 200);
  CHECK(created.content_type == "application/json");
  CHECK(json::parse(created.body) == "my-usecase.session-1");  // the id, as a JSON string

  auto read = node.call("GET", "/data/sets/my-usecase.session-1");
  CHECK(read.status == 200);
  CHECK(read.content_type == "application/octet-stream");
  CHECK(read.body == value);

  SECTION("an overwrite replaces the value") {
    CHECK(node.call("POST", "/data/sets/my-usecase.session-1", "second").status == 200);
    CHECK(node.call("GET", "/data/sets/my-usecase.session-1").body == "second");
  }
  SECTION("an empty body is an empty value") {
    CHECK(node.call("POST", "/data/sets/empty").status == 200);
    auto empty = node.call("GET", "/data/sets/empty");
    CHECK(empty.status == 200);
    CHECK(empty.body.empty());
  }
  SECTION("delete answers 204 and the value is gone") {
    auto deleted = node.call("DELETE", "/data/sets/my-usecase.session-1");
    CHECK(deleted.status == 204);
    CHECK(deleted.body.empty());
    auto missing = node.call("GET", "/data/sets/my-usecase.session-1");
    CHECK(missing.status == 404);
    CHECK(error_code(missing) == "not_found");
    // Deleting what is not there is still 204.
    CHECK(node.call("DELETE", "/data/sets/my-usecase.session-1").status == 204);
  }
  SECTION("reads are SlimData reads and writes are proposals") {
    CHECK(node.seen->proposals().size() == 1);
    std::lock_guard lock(node.seen->mutex);
    CHECK(node.seen->read.size() == 1);
  }
}

TEST_CASE("data sets: ids live under their own key prefix", "[api][data]") {
  Node node;
  CHECK(node.call("POST", "/data/sets/abc", "v").status == 200);
  auto proposals = node.seen->proposals();
  REQUIRE(proposals.size() == 1);
  auto machine = replay(proposals[0]);
  const auto now = machine.clock_ms();
  CHECK(store::results::kv_get(machine.query(store::queries::kv_get("data:set:abc", now))) == "v");
  CHECK(store::results::kv_get(machine.query(store::queries::kv_get("abc", now))) == std::nullopt);
  // The proposer's clock is the wall clock in milliseconds.
  const auto wall = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  CHECK(now <= wall);
  CHECK(now + 60'000 > wall);
}

TEST_CASE("data sets: ttl is a positive integer of milliseconds", "[api][data]") {
  Node node;
  SECTION("a ttl makes the value expire") {
    CHECK(node.call("POST", "/data/sets/session?ttl=60000", "v").status == 200);
    auto proposals = node.seen->proposals();
    REQUIRE(proposals.size() == 1);
    auto machine = replay(proposals[0]);
    const auto now = machine.clock_ms();
    CHECK(store::results::kv_get(machine.query(store::queries::kv_get("data:set:session", now + 59'999))) == "v");
    CHECK(store::results::kv_get(machine.query(store::queries::kv_get("data:set:session", now + 60'000))) ==
          std::nullopt);
  }
  SECTION("no ttl or an empty one means no expiry") {
    for (const char* target : {"/data/sets/forever", "/data/sets/forever?ttl="}) {
      INFO("target " << target);
      CHECK(node.call("POST", target, "v").status == 200);
      auto machine = replay(node.seen->proposals().back());
      CHECK(store::results::kv_get(machine.query(store::queries::kv_get("data:set:forever", UINT64_MAX - 1))) == "v");
    }
  }
  SECTION("an expired value reads as 404") {
    CHECK(node.call("POST", "/data/sets/short?ttl=1", "v").status == 200);
    std::this_thread::sleep_for(20ms);
    auto missing = node.call("GET", "/data/sets/short");
    CHECK(missing.status == 404);
    CHECK(error_code(missing) == "not_found");
  }
  SECTION("anything else is a 400 and proposes nothing") {
    for (const char* target : {"/data/sets/x?ttl=0", "/data/sets/x?ttl=-5", "/data/sets/x?ttl=abc",
                               "/data/sets/x?ttl=1.5", "/data/sets/x?ttl=%zz", "/data/sets/x?ttl=99999999999999999999",
                               "/data/sets?id=x&ttl=0"}) {
      INFO("target " << target);
      auto refused = node.call("POST", target, "v");
      CHECK(refused.status == 400);
      CHECK(error_code(refused) == "bad_request");
      CHECK(detail(refused).find("ttl") != std::string::npos);
    }
    CHECK(node.seen->proposals().empty());
  }
}

TEST_CASE("data sets: the legacy form takes or generates the id", "[api][data]") {
  Node node;
  SECTION("given id") {
    auto created = node.call("POST", "/data/sets?id=given.id&ttl=60000", "hello");
    CHECK(created.status == 200);
    CHECK(json::parse(created.body) == "given.id");
    CHECK(node.call("GET", "/data/sets/given.id").body == "hello");
  }
  SECTION("generated ids are 32 hex characters and differ") {
    std::vector<std::string> ids;
    for (const char* target : {"/data/sets", "/data/sets?id=", "/data/sets/?ttl=60000"}) {
      INFO("target " << target);
      auto created = node.call("POST", target, "hello");
      REQUIRE(created.status == 200);
      auto id = json::parse(created.body).get<std::string>();
      CHECK(id.size() == 32);
      CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
      CHECK(node.call("GET", "/data/sets/" + id).body == "hello");
      for (const auto& other : ids) CHECK(other != id);
      ids.push_back(id);
    }
  }
}

TEST_CASE("data sets: a value over 1 MiB is refused with 413 before SlimData", "[api][data]") {
  Node node;
  const std::string largest(one_mib, 'x');
  CHECK(node.call("POST", "/data/sets/large", largest).status == 200);
  CHECK(node.call("GET", "/data/sets/large").body == largest);

  for (const char* target : {"/data/sets/too-large", "/data/sets"}) {
    INFO("target " << target);
    auto refused = node.call("POST", target, std::string(one_mib + 1, 'x'));
    CHECK(refused.status == 413);
    CHECK(error_code(refused) == "payload_too_large");
    CHECK(detail(refused).find("1048576") != std::string::npos);
  }
  CHECK(node.seen->proposals().size() == 1);
}

TEST_CASE("data sets: SlimData refusals map to HTTP statuses", "[api][data]") {
  struct Case {
    SlimDataReply::Status status;
    unsigned http;
    const char* error;
  };
  const Case cases[] = {
      {SlimDataReply::Status::no_quorum, 503, "no_quorum"},
      {SlimDataReply::Status::too_large, 413, "payload_too_large"},
      {SlimDataReply::Status::overloaded, 429, "slimdata_overloaded"},
      {SlimDataReply::Status::failed, 500, "slimdata_failed"},
  };
  for (const auto& c : cases) {
    Node node(FakeOptions{c.status, std::nullopt});
    for (const auto& [method, target] : {std::pair{"POST", "/data/sets/k"}, std::pair{"POST", "/data/sets?ttl=5"},
                                        std::pair{"GET", "/data/sets/k"}, std::pair{"DELETE", "/data/sets/k"}}) {
      INFO(method << " " << target << " refused with " << c.error);
      auto r = node.call(method, target, "v");
      CHECK(r.status == c.http);
      CHECK(error_code(r) == c.error);
      CHECK(detail(r) == "refused by the fake");
      CHECK(header(r, "Retry-After") == (c.http == 429 ? "1" : ""));
    }
  }
}

TEST_CASE("data sets: an undecodable SlimData result is a 500", "[api][data]") {
  Node node(FakeOptions{std::nullopt, std::string()});
  for (const auto& [method, target] :
       {std::pair{"POST", "/data/sets/k"}, std::pair{"GET", "/data/sets/k"}, std::pair{"DELETE", "/data/sets/k"}}) {
    INFO(method << " " << target);
    auto r = node.call(method, target, "v");
    CHECK(r.status == 500);
    CHECK(error_code(r) == "slimdata_failed");
  }
  // The actor survived the bad results.
  CHECK(node.call("GET", "/debug/raft").status == 200);
}

// The api actor sets no timer of its own (actors/slimdata.hpp): the node
// answers by its request timeout (tests/integration/slimdata_test.cpp), and
// a node actor that is gone fails the request at once.
TEST_CASE("data sets: a SlimData actor that is gone gives 503 no_quorum", "[api][data]") {
  Node node;
  node.stop_slimdata();
  auto r = node.call("GET", "/data/sets/k");
  CHECK(r.status == 503);
  CHECK(error_code(r) == "no_quorum");
  auto raft = node.call("GET", "/debug/raft");
  CHECK(raft.status == 503);
  CHECK(error_code(raft) == "slimdata_unavailable");
}

TEST_CASE("data sets: without SlimData every data route answers 503", "[api][data]") {
  Node node(std::nullopt);
  for (const auto& [method, target] :
       {std::pair{"POST", "/data/sets/k"}, std::pair{"GET", "/data/sets/k"}, std::pair{"DELETE", "/data/sets/k"},
        std::pair{"GET", "/data/sets"}, std::pair{"POST", "/data/sets?id=k"}}) {
    INFO(method << " " << target);
    auto r = node.call(method, target, "v");
    CHECK(r.status == 503);
    CHECK(json::parse(r.body) == json{{"error", "slimdata_unavailable"},
                                      {"detail", "data sets are kept in SlimData, which is not configured on this node (see docs/configuration.md)"}});
  }
  auto raft = node.call("GET", "/debug/raft");
  CHECK(raft.status == 404);
  CHECK(error_code(raft) == "not_available");
}

TEST_CASE("data sets: other methods answer 405 with Allow", "[api][data]") {
  Node node;
  struct Case {
    const char* method;
    const char* target;
    const char* allow;
  };
  for (const auto& c : {Case{"PUT", "/data/sets/k", "GET, POST, DELETE"}, Case{"PATCH", "/data/sets/k", "GET, POST, DELETE"},
                        Case{"DELETE", "/data/sets", "GET, POST"}, Case{"PUT", "/data/sets?id=k", "GET, POST"},
                        Case{"POST", "/debug/raft", "GET"}}) {
    INFO(c.method << " " << c.target);
    auto r = node.call(c.method, c.target, "v");
    CHECK(r.status == 405);
    CHECK(error_code(r) == "method_not_allowed");
    CHECK(header(r, "Allow") == c.allow);
  }
  CHECK(node.seen->proposals().empty());
}

TEST_CASE("data sets: listing answers 501 naming what is missing", "[api][data]") {
  Node node;
  auto r = node.call("GET", "/data/sets");
  CHECK(r.status == 501);
  CHECK(error_code(r) == "not_implemented");
  CHECK(detail(r).find("state machine") != std::string::npos);
}

TEST_CASE("debug raft: answers SlimData's status JSON", "[api][data]") {
  Node node;
  auto r = node.call("GET", "/debug/raft");
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(json::parse(r.body) == json{{"role", "leader"}, {"term", 3}});
}
