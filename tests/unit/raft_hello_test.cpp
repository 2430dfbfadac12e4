// The SlimData hello over CAF's real middleman: a node refuses peers that
// speak another SlimData protocol (or none, the versions before 2), as it
// refuses a wrong secret, and takes no Raft message from them; a peer with
// the right credentials and protocol is accepted.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "actors/messages.hpp"
#include "actors/raft_node_actor.hpp"
#include "actors/raft_wire.hpp"
#include "tests/unit/store_temp_dir.hpp"

using namespace slimfaas;

namespace {

struct Config : caf::actor_system_config {
  Config() {
    load<caf::io::middleman>();
    actors::register_slimdata_types(*this);
  }
};

// The node's count of messages refused for want of a valid hello, asked by
// `self` after what it sent before: one sender's messages arrive in order,
// so the answer counts them.
long long rejected_after(caf::scoped_actor& self, const caf::actor& node) {
  long long count = -1;
  self->request(node, std::chrono::seconds(10), actors::status_atom::value)
      .receive(
          [&](const std::string& status) {
            count = nlohmann::json::parse(status)["counters"]["rejected_unauthenticated"].get<long long>();
          },
          [&](caf::error&) {});
  return count;
}

// A Raft message from node 2 that changes nothing: a term-0 heartbeat is
// stale to any node.
actors::RaftMessages stale_heartbeat() {
  store::Message m;
  m.type = store::MessageType::Heartbeat;
  m.from = 2;
  m.to = 1;
  m.term = 0;
  return {m};
}

}  // namespace

TEST_CASE("a SlimData node refuses peers of another protocol and accepts its own", "[raft][hello]") {
  test::TempDir dir;
  Config node_config;
  caf::actor_system node_system{node_config};
  actors::RaftNodeSetup setup;
  setup.id = 1;
  setup.peers[2] = actors::RaftPeerAddress{"127.0.0.1", 1};  // never reachable: node 2 is the test
  setup.directory = dir / "log";
  setup.cluster_id = "hello-test";
  setup.secret = "s3cret";
  auto node = actors::spawn_raft_node(node_system, setup);
  auto port = node_system.middleman().publish(node, 0, "127.0.0.1", true);
  REQUIRE(port);

  {
    Config peer_config;
    caf::actor_system peer_system{peer_config};
    auto remote = peer_system.middleman().remote_actor("127.0.0.1", *port);
    REQUIRE(remote);
    caf::actor handle = *remote;

    // Another protocol: refused, and so is what it sends next.
    caf::scoped_actor older{peer_system};
    CHECK(rejected_after(older, handle) == 0);
    older->send(handle, actors::hello_atom::value, setup.cluster_id, setup.secret, store::NodeId{2},
                std::uint32_t{actors::slimdata_protocol - 1});
    older->send(handle, actors::raft_atom::value, stale_heartbeat());
    CHECK(rejected_after(older, handle) == 2);

    // The hello of versions before protocol 2 (no protocol at all).
    caf::scoped_actor oldest{peer_system};
    oldest->send(handle, actors::hello_atom::value, setup.cluster_id, setup.secret, store::NodeId{2});
    oldest->send(handle, actors::raft_atom::value, stale_heartbeat());
    CHECK(rejected_after(oldest, handle) == 4);

    // The right protocol and credentials: accepted, its Raft messages taken.
    caf::scoped_actor current{peer_system};
    current->send(handle, actors::hello_atom::value, setup.cluster_id, setup.secret, store::NodeId{2},
                  actors::slimdata_protocol);
    current->send(handle, actors::raft_atom::value, stale_heartbeat());
    CHECK(rejected_after(current, handle) == 4);
  }
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}
