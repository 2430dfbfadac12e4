// The SlimData hello over CAF's real middleman: a node refuses peers that
// speak another SlimData protocol (or none, the versions before 2), as it
// refuses a wrong secret, and takes no Raft message from them; a peer with
// the right credentials and protocol is accepted. Who dials whom: the lower
// id dials, the higher one answers over that connection and never dials.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <chrono>
#include <map>
#include <utility>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
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

// A node's setup: its id, its peers, a log under `dir`, and credentials.
actors::RaftNodeSetup node_setup(const test::TempDir& dir, store::NodeId id,
                                 std::map<store::NodeId, actors::RaftPeerAddress> peers, const std::string& cluster) {
  actors::RaftNodeSetup setup;
  setup.id = id;
  setup.peers = std::move(peers);
  setup.directory = dir / "log";
  setup.cluster_id = cluster;
  setup.secret = "s3cret";
  return setup;
}

// The node spawned and published on an ephemeral port of 127.0.0.1.
std::pair<caf::actor, std::uint16_t> spawn_published(caf::actor_system& system, const actors::RaftNodeSetup& setup) {
  auto node = actors::spawn_raft_node(system, setup);
  auto port = system.middleman().publish(node, 0, "127.0.0.1", true);
  REQUIRE(port);
  return {node, *port};
}

// A handle to `node` as another process sees it: through `peer_system`'s
// middleman, connected to the node's published port.
caf::actor reach(caf::actor_system& peer_system, std::uint16_t port) {
  auto remote = peer_system.middleman().remote_actor("127.0.0.1", port);
  REQUIRE(remote);
  return *remote;
}

// The node's Raft role, or "" if it does not answer.
std::string role_of(caf::scoped_actor& self, const caf::actor& node) {
  std::string role;
  self->request(node, std::chrono::seconds(10), actors::status_atom::value)
      .receive([&](const std::string& status) { role = nlohmann::json::parse(status)["role"].get<std::string>(); },
               [&](caf::error&) {});
  return role;
}

// A TCP listener on 127.0.0.1 that never accepts: connections made to it
// wait in its backlog, where a non-blocking accept finds them.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::uint16_t port() const { return port_; }
  // Whether anyone connected since the listener opened.
  bool dialed() const {
    const int fd = ::accept(fd_, nullptr, nullptr);
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("a SlimData node refuses peers of another protocol and accepts its own", "[raft][hello]") {
  test::TempDir dir;
  Config node_config;
  caf::actor_system node_system{node_config};
  // Node 2 (never reachable there) is the test.
  auto setup = node_setup(dir, 1, {{2, actors::RaftPeerAddress{"127.0.0.1", 1}}}, "hello-test");
  auto [node, port] = spawn_published(node_system, setup);
  {
    Config peer_config;
    caf::actor_system peer_system{peer_config};
    caf::actor handle = reach(peer_system, port);

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

TEST_CASE("a SlimData node dials only the peers with higher ids", "[raft][hello]") {
  test::TempDir dir;
  Config node_config;
  caf::actor_system node_system{node_config};
  // After the actor system: closed first, so a dial waiting in a backlog
  // is refused and the connector can stop with the system.
  SilentListener lower, higher;
  auto setup = node_setup(dir, 2,
                          {{1, actors::RaftPeerAddress{"127.0.0.1", lower.port()}},
                           {3, actors::RaftPeerAddress{"127.0.0.1", higher.port()}}},
                          "dial-test");
  auto node = actors::spawn_raft_node(node_system, setup);

  // The dials start with the node, node 1's first. By the time node 3 was
  // dialed twice (the second after a backoff) and the node gave up waiting
  // for a leader (an election timeout), a dial to node 1 would have come.
  caf::scoped_actor self{node_system};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int higher_dials = 0;
  std::string role = "follower";
  while (std::chrono::steady_clock::now() < deadline && !(higher_dials >= 2 && role != "follower")) {
    if (higher.dialed()) ++higher_dials;  // closed at once: the connector tries again later
    role = role_of(self, node);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(higher_dials >= 2);
  CHECK(role != "follower");
  CHECK_FALSE(lower.dialed());
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}

TEST_CASE("a SlimData node answers a lower peer that dialed it over that connection", "[raft][hello]") {
  test::TempDir dir;
  Config node_config;
  caf::actor_system node_system{node_config};
  SilentListener lower;  // node 1's address: never dialed, node 1 dials
  auto setup = node_setup(dir, 2, {{1, actors::RaftPeerAddress{"127.0.0.1", lower.port()}}}, "dial-test");
  auto [node, port] = spawn_published(node_system, setup);
  {
    Config peer_config;
    caf::actor_system peer_system{peer_config};
    caf::actor handle = reach(peer_system, port);

    // Node 1 says hello; node 2 says hello back to the same actor, then
    // sends it its Raft messages (it campaigns: node 1 is its only peer).
    caf::scoped_actor peer{peer_system};
    peer->send(handle, actors::hello_atom::value, setup.cluster_id, setup.secret, store::NodeId{1},
               actors::slimdata_protocol);
    bool hello = false;
    peer->receive(
        [&](actors::hello_atom, const std::string& cluster, const std::string& secret, store::NodeId from,
            std::uint32_t protocol) {
          hello = cluster == setup.cluster_id && secret == setup.secret && from == 2 &&
                  protocol == actors::slimdata_protocol;
        },
        caf::after(std::chrono::seconds(30)) >> [] {});
    CHECK(hello);
    bool raft = false;
    peer->receive(
        [&](actors::raft_atom, const actors::RaftMessages& messages) {
          raft = !messages.empty() && messages.front().from == 2 && messages.front().to == 1;
        },
        caf::after(std::chrono::seconds(30)) >> [] {});
    CHECK(raft);
  }
  CHECK_FALSE(lower.dialed());
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}

// CAF delivers a remote message without a sender when it cannot name the
// sender (seen while a frozen node's old connections closed under it): a
// hello like that crashed the node (a null sender's node id was read).
TEST_CASE("a SlimData node trusts no message that comes without a sender", "[raft][hello]") {
  test::TempDir dir;
  Config node_config;
  caf::actor_system node_system{node_config};
  // Node 2 (never reachable) is who the messages claim to come from.
  auto setup = node_setup(dir, 1, {{2, actors::RaftPeerAddress{"127.0.0.1", 1}}}, "anonymous-test");
  auto node = actors::spawn_raft_node(node_system, setup);
  caf::scoped_actor self{node_system};
  auto counters = [&] {
    nlohmann::json status;
    self->request(node, std::chrono::seconds(10), actors::status_atom::value)
        .receive([&](const std::string& text) { status = nlohmann::json::parse(text); }, [&](caf::error&) {});
    return status;
  };

  caf::anon_send(node, actors::hello_atom::value, setup.cluster_id, setup.secret, store::NodeId{2},
                 actors::slimdata_protocol);
  // It still answers, and counted the hello as refused.
  CHECK(rejected_after(self, node) == 1);

  // A proposal without a sender is not this node's own: refused, not
  // queued for a leader as one from a local actor is.
  caf::anon_send(node, actors::propose_atom::value, std::string("anonymous"));
  auto status = counters();
  CHECK(status["counters"]["rejected_unauthenticated"] == 2);
  CHECK(status["waiting_for_leader"] == 0);
  self->send(node, actors::propose_atom::value, std::string("local"));
  status = counters();
  CHECK(status["counters"]["rejected_unauthenticated"] == 2);
  CHECK(status["waiting_for_leader"] == 1);
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}
