#include "tests/integration/slimdata_cluster.hpp"

#include <atomic>
#include <filesystem>
#include <set>
#include <stdexcept>

#include <signal.h>

namespace it {
namespace {

std::string fresh_node_dir(const std::string& name, int id) {
  static std::atomic<int> seq{0};
  auto dir = temp_dir() + "/" + name + "-node" + std::to_string(id) + "-" + std::to_string(++seq);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

std::string base_url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::optional<nlohmann::json> debug_raft(int http_port, Ms timeout) {
  auto r = http_get(base_url(http_port) + "/debug/raft", timeout);
  if (r.status != 200) return std::nullopt;
  auto j = r.json();
  if (!j || !j->is_object()) return std::nullopt;
  return j;
}

SlimDataCluster::SlimDataCluster(ClusterOptions options) : options_(std::move(options)) {
  // One block for every port of the cluster: two independent free_port()
  // picks can return the same port, and a node that cannot bind its HTTP
  // port must never look healthy because a sibling answers on it.
  const int base = free_port_block(2 * options_.size);
  for (int i = 1; i <= options_.size; ++i) {
    ClusterNode n;
    n.id = i;
    n.http_port = base + 2 * (i - 1);
    n.raft_port = base + 2 * (i - 1) + 1;
    n.directory = fresh_node_dir(options_.name, i);
    nodes_.push_back(std::move(n));
  }
}

SlimDataCluster::~SlimDataCluster() {
  // Their destructors kill with SIGKILL anyway; this keeps the order fixed.
  for (auto& n : nodes_) n.proc.reset();
}

std::string SlimDataCluster::peers() const {
  std::string p;
  for (auto& n : nodes_) p += (p.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(n.raft_port);
  return p;
}

void SlimDataCluster::start(int id) {
  ClusterNode& n = node(id);
  if (n.up()) throw std::runtime_error("node " + std::to_string(id) + " is already running");
  std::vector<std::string> argv{slimfaas_binary(),
                                "serve",
                                "--ports",
                                std::to_string(n.http_port),
                                "--slimdata-peers",
                                peers(),
                                "--slimdata-node-id",
                                std::to_string(n.id),
                                "--slimdata-directory",
                                n.directory,
                                "--slimdata-secret",
                                options_.secret,
                                "--slimdata-cluster-id",
                                options_.cluster_id,
                                "--slimdata-bind-address",
                                "127.0.0.1",
                                "--slimdata-request-timeout-ms",
                                std::to_string(options_.request_timeout_ms)};
  if (options_.snapshot_interval > 0) {
    argv.push_back("--slimdata-snapshot-interval-entries");
    argv.push_back(std::to_string(options_.snapshot_interval));
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  n.proc = std::make_unique<Process>(
      argv, Env{{"MOCK_KUBERNETES_FUNCTIONS", options_.functions}, {"SlimFaas__LogLevel", "info"}},
      options_.name + "-n" + std::to_string(id) + "-start" + std::to_string(++n.starts));
  // Healthy means: this process is alive and the node answering on its port
  // says it is node `id`.
  const bool healthy = wait_until(
      [&] {
        if (!n.proc->running()) return true;
        auto j = debug_raft(n.http_port, 2s);
        return j && j->value("id", 0) == n.id;
      },
      60s, 20ms);
  if (!healthy || !n.proc->running())
    throw std::runtime_error("node " + std::to_string(id) + " did not become healthy:\n" + n.proc->log_tail());
}

void SlimDataCluster::start_all() {
  for (auto& n : nodes_) start(n.id);
}

void SlimDataCluster::kill9(int id) {
  ClusterNode& n = node(id);
  if (!n.proc) return;
  n.proc->signal(SIGKILL);
  n.proc->wait_exit(30s);
}

std::optional<int> SlimDataCluster::terminate(int id, Ms timeout) {
  ClusterNode& n = node(id);
  if (!n.proc) return std::nullopt;
  n.proc->signal(SIGTERM);
  return n.proc->wait_exit(timeout);
}

std::optional<int> SlimDataCluster::agreed_leader() {
  std::optional<int> leader;
  int leaders = 0;
  std::set<long long> named;
  for (auto& n : nodes_) {
    if (!n.up()) continue;
    auto j = debug_raft(n.http_port);
    if (!j) return std::nullopt;
    if ((*j)["role"] == "leader") {
      ++leaders;
      leader = n.id;
    }
    named.insert((*j)["leader"].get<long long>());
  }
  if (leaders != 1 || named.size() != 1 || *named.begin() != *leader) return std::nullopt;
  return leader;
}

std::optional<int> SlimDataCluster::wait_leader(Ms timeout) {
  std::optional<int> leader;
  wait_until([&] { return (leader = agreed_leader()).has_value(); }, timeout, 50ms);
  return leader;
}

bool SlimDataCluster::all_connected_and_caught_up() {
  auto leader = agreed_leader();
  if (!leader) return false;
  for (auto& n : nodes_) {
    if (!n.up()) continue;
    auto j = debug_raft(n.http_port);
    if (!j) return false;
    for (auto& p : (*j)["peers"]) {
      const int pid = p["id"].get<int>();
      if (!node(pid).up()) continue;
      if (!p["connected"].get<bool>()) return false;
      if (n.id == *leader && p.value("match_index", 0LL) < (*j)["commit_index"].get<long long>()) return false;
    }
  }
  return true;
}

int SlimDataCluster::port_for(std::size_t i) {
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    auto& n = nodes_[(i + k) % nodes_.size()];
    if (n.up()) return n.http_port;
  }
  return nodes_.front().http_port;
}

std::string SlimDataCluster::logs() const {
  std::string all;
  for (auto& n : nodes_)
    if (n.proc) all += n.proc->log_tail(6000);
  return all;
}

}  // namespace it
