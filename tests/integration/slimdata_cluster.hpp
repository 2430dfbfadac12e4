// A SlimData cluster of real `slimfaas serve` processes on 127.0.0.1, for
// integration tests (SlimData itself, async calls). Test-only and
// synchronous, like the rest of the harness: helpers never assert.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.hpp"

namespace it {

std::string base_url(int port);

// GET /debug/raft as JSON; nullopt unless it answers 200 with an object.
std::optional<nlohmann::json> debug_raft(int http_port, Ms timeout = 3s);

// One node. Its ports and directory survive restarts.
struct ClusterNode {
  int id = 0;  // 1-based position in the peer list
  int http_port = 0;
  int raft_port = 0;
  std::string directory;
  std::unique_ptr<Process> proc;
  int starts = 0;
  bool up() const { return proc && proc->running(); }
};

struct ClusterOptions {
  int size = 3;
  std::string secret = "it-secret";
  std::string cluster_id = "slimfaas";
  int request_timeout_ms = 2000;
  int snapshot_interval = 0;                       // 0: the node's default
  std::string functions = R"({"Functions":[]})";  // MOCK_KUBERNETES_FUNCTIONS
  std::string name = "slimdata";                   // for directories and log names
  std::vector<std::string> extra_args;             // more `slimfaas serve` options, on every node
};

class SlimDataCluster {
 public:
  // Creates the nodes (ports, directories) without starting them.
  explicit SlimDataCluster(ClusterOptions options = {});
  ~SlimDataCluster();

  std::string peers() const;
  ClusterNode& node(int id) { return nodes_.at(static_cast<std::size_t>(id - 1)); }
  std::vector<ClusterNode>& nodes() { return nodes_; }
  const ClusterOptions& options() const { return options_; }

  // Starts a node and waits for /health (throws with its log if it fails).
  void start(int id);
  void start_all();
  // kill -9 and reap.
  void kill9(int id);
  // SIGTERM; the exit code, or nullopt if it did not exit in time.
  std::optional<int> terminate(int id, Ms timeout = 60s);

  // The leader if every running node answers /debug/raft, exactly one says
  // it leads, and every running node names it.
  std::optional<int> agreed_leader();
  std::optional<int> wait_leader(Ms timeout = 60s);
  // Every running node sees every other running node as connected, and the
  // leader's match index of each running follower reached its commit index.
  bool all_connected_and_caught_up();
  // Any running node's HTTP port, round robin from `i`.
  int port_for(std::size_t i);

  std::string logs() const;

 private:
  ClusterOptions options_;
  std::vector<ClusterNode> nodes_;
};

}  // namespace it
