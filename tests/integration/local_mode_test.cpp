// `slimfaas local validate` and `slimfaas local up` end to end: the real
// binary, real function processes (the echo example, small shell wrappers),
// real sockets. Scale-to-zero timeouts are set to 1-2 s so tests wait on
// conditions for a few seconds at most.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "net/cpu_budget.hpp"
#include "tests/integration/harness.hpp"

using namespace it;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  static int counter = 0;
  auto dir = fs::path(temp_dir()) / ("local-" + name + "-" + std::to_string(++counter));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A file of /proc/<pid>/, or "" once the process is gone: it may exit
// between the listing and the read, which then fails with ESRCH (thrown by
// the stream as it fills its buffer).
std::string read_proc_file(const fs::path& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    return {};
  }
}

// A process's command line, its arguments separated (and ended) by spaces.
std::string command_line(const fs::path& proc_entry) {
  std::string cmdline = read_proc_file(proc_entry / "cmdline");
  for (auto& c : cmdline)
    if (c == '\0') c = ' ';
  return cmdline;
}

// Process ids whose command line contains `needle` (from /proc), excluding
// this test process.
std::vector<pid_t> processes_with(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = command_line(entry.path());
    const pid_t pid = std::stoi(name);
    if (pid == ::getpid() || cmdline.find(needle) == std::string::npos) continue;
    // Zombies are gone for our purpose.
    const std::string all = read_proc_file(entry.path() / "stat");
    if (all.empty()) continue;  // gone
    const auto close = all.rfind(')');
    if (close != std::string::npos && close + 2 < all.size() && all[close + 2] == 'Z') continue;
    out.push_back(pid);
  }
  return out;
}

// Ports for one cluster: entrypoint, node 0, and a range of 10 for replicas.
// Ports for one cluster: entrypoint, node HTTP and SlimData ports, and a
// range of 10 for replicas, all in one block of consecutive free ports
// (several nodes need consecutive node and SlimData ports).
struct Ports {
  int from = 0;  // replicas: [from, from + 9]
  int entrypoint = 0;
  int node = 0;  // node i: node + i
  int raft = 0;  // node i: raft + i
  explicit Ports(int /*nodes*/ = 1) {
    const int base = free_port_block(17);
    from = base;
    node = base + 10;
    raft = base + 13;
    entrypoint = base + 16;
  }
};

struct FunctionYaml {
  std::string name;
  std::string command;  // YAML flow sequence
  std::map<std::string, std::string> annotations;
};

std::string manifest_yaml(const Ports& ports, const fs::path& state, const std::vector<FunctionYaml>& functions,
                          int nodes = 1) {
  std::ostringstream y;
  y << "schemaVersion: 1\nname: it\ncluster:\n  nodes: " << nodes << "\n  entrypointPort: " << ports.entrypoint
    << "\n  nodeHttpPortBase: " << ports.node << "\n  raftPortBase: " << ports.raft << "\n  nodeLogLevel: Information\n"
    << "processPorts: { from: " << ports.from << ", to: " << ports.from + 9 << " }\n"
    << "state: { mode: persistent, directory: " << state.string() << " }\nfunctions:\n";
  for (const auto& f : functions) {
    y << "  " << f.name << ":\n    command: " << f.command << "\n    annotations:\n      SlimFaas/Function: \"true\"\n";
    for (const auto& [k, v] : f.annotations) y << "      " << k << ": \"" << v << "\"\n";
    y << "    health: { path: /health, periodSeconds: 1, timeoutSeconds: 2, startupTimeoutSeconds: 30 }\n";
  }
  return y.str();
}

std::string echo_command(const std::string& extra = "") {
  return "[\"" + echo_binary() + "\", \"--port\", \"{port}\", \"--threads\", \"1\"" + extra + "]";
}

// A running `slimfaas local up`.
struct LocalCluster {
  fs::path dir;
  Ports ports;
  std::unique_ptr<Process> proc;

  LocalCluster(const std::string& name, const std::vector<FunctionYaml>& functions, int nodes = 1)
      : dir(fresh_dir(name)), ports(nodes) {
    write_file(dir / "slimfaas.local.yaml", manifest_yaml(ports, dir / "state", functions, nodes));
    proc = std::make_unique<Process>(
        std::vector<std::string>{slimfaas_binary(), "local", "up", "-f", (dir / "slimfaas.local.yaml").string()},
        Env{}, "local-up-" + name);
    const std::string expected = "Entrypoint: http://127.0.0.1:" + std::to_string(ports.entrypoint);
    if (!wait_until([&] { return proc->log().find(expected) != std::string::npos || !proc->running(); }, 60s))
      throw std::runtime_error("local up did not print its entrypoint:\n" + proc->log_tail());
    if (!proc->running()) throw std::runtime_error("local up exited:\n" + proc->log_tail());
  }
  std::string url(const std::string& path = "") const { return local_url(ports.entrypoint) + path; }
  nlohmann::json status(const std::string& function) const {
    auto r = http_get(url("/status-function/" + function), 5s);
    return r.json().value_or(nlohmann::json::object());
  }
  // The function processes of this cluster: the echo binary listening on a
  // port of this cluster's range (other tests run echo processes too).
  std::vector<pid_t> function_pids() const {
    std::vector<pid_t> out;
    for (int port = ports.from; port <= ports.from + 9; ++port)
      for (pid_t pid : processes_with(echo_binary() + " --port " + std::to_string(port) + " "))
        out.push_back(pid);
    return out;
  }
  int requested(const std::string& function) const { return status(function).value("NumberRequested", -1); }
  int ready(const std::string& function) const { return status(function).value("NumberReady", -1); }
};

}  // namespace

TEST_CASE("local validate accepts a good manifest and reports every problem of a bad one") {
  auto dir = fresh_dir("validate");
  Ports ports;
  write_file(dir / "good.yaml", manifest_yaml(ports, dir / "state", {{"echo", echo_command(), {}}}));
  auto good = run_command(slimfaas_binary() + " local validate -f " + (dir / "good.yaml").string(), "");
  INFO(good.output);
  CHECK(good.exit_code == 0);
  CHECK(good.output.find("valid: it") != std::string::npos);

  write_file(dir / "bad.yaml",
             "schemaVersion: 1\n"
             "name: bad\n"
             "colour: blue\n"
             "functions:\n"
             "  a:\n"
             "    command: []\n"
             "    annotations:\n"
             "      SlimFaas/Function: \"true\"\n"
             "      SlimFaas/ReplicasMin: \"many\"\n"
             "    health: { periodSeconds: soon }\n");
  auto bad = run_command(slimfaas_binary() + " local validate -f " + (dir / "bad.yaml").string(), "");
  INFO(bad.output);
  CHECK(bad.exit_code == 2);
  // Each problem names the file, the line and the field.
  CHECK(bad.output.find("bad.yaml:3:1: colour:") != std::string::npos);
  CHECK(bad.output.find("bad.yaml:6:") != std::string::npos);
  CHECK(bad.output.find("functions.a.command") != std::string::npos);
  CHECK(bad.output.find("bad.yaml:9:") != std::string::npos);
  CHECK(bad.output.find("functions.a.annotations.SlimFaas/ReplicasMin") != std::string::npos);
  CHECK(bad.output.find("functions.a.health.periodSeconds") != std::string::npos);

  // `up` refuses it the same way and starts nothing.
  auto up = run_command(slimfaas_binary() + " local up -f " + (dir / "bad.yaml").string(), "");
  CHECK(up.exit_code == 2);
  CHECK(up.output.find("nothing started") != std::string::npos);
}

TEST_CASE("local up refuses a state directory that is not its own") {
  auto dir = fresh_dir("foreign-state");
  Ports ports;
  fs::create_directories(dir / "state");
  write_file(dir / "state" / "precious.txt", "user data");
  write_file(dir / "m.yaml", manifest_yaml(ports, dir / "state", {{"echo", echo_command(), {}}}));
  auto up = run_command(slimfaas_binary() + " local up --clean -f " + (dir / "m.yaml").string(), "");
  INFO(up.output);
  CHECK(up.exit_code == 2);
  CHECK(up.output.find("not slimfaas's") != std::string::npos);
  CHECK(fs::exists(dir / "state" / "precious.txt"));
}

TEST_CASE("a function at zero is woken by a sync call and goes back to zero after its timeout") {
  LocalCluster cluster("wake", {{"echo", echo_command(),
                                 {{"SlimFaas/ReplicasMin", "0"}, {"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "2"}}}});
  CHECK(cluster.requested("echo") == 0);
  CHECK(cluster.function_pids().empty());
  // Node 0 runs in this process: its code was moved as a served node's is
  // (or the machine has transparent huge pages off, and it says so).
  const std::string started = cluster.proc->log();
  CHECK((started.find("KiB moved onto huge pages") != std::string::npos ||
         started.find("transparent huge pages are off") != std::string::npos));

  // The call is held while the process starts, then answered by it: never a
  // connection error because of the cold start.
  auto r = http("POST", cluster.url("/function/echo/echo/hello"), {}, "ping", 20s);
  INFO(r.describe());
  INFO(cluster.proc->log_tail());
  REQUIRE(r.status == 200);
  CHECK(cluster.ready("echo") == 1);
  auto state_log = cluster.dir / "state" / "logs" / "echo-0.log";
  CHECK(fs::exists(state_log));

  // No call for 2 s: back to zero, and the process is gone.
  CHECK(wait_until([&] { return cluster.requested("echo") == 0; }, 20s, 100ms));
  CHECK(wait_until([&] { return cluster.function_pids().empty(); }, 15s, 50ms));

  // And it wakes again.
  auto again = http("GET", cluster.url("/function/echo/echo/again"), {}, "", 20s);
  CHECK(again.status == 200);
}

TEST_CASE("wake-function starts a function at zero without a call") {
  LocalCluster cluster("wake-api", {{"echo", echo_command(), {{"SlimFaas/ReplicasMin", "0"}}}});
  CHECK(cluster.requested("echo") == 0);
  auto r = http("POST", cluster.url("/wake-function/echo"));
  CHECK(r.status == 204);
  CHECK(wait_until([&] { return cluster.ready("echo") == 1; }, 20s, 50ms));
}

TEST_CASE("DependsOn starts the dependency first and the dependent once it is ready") {
  auto order = fresh_dir("order-file") / "order.txt";
  // The dependency takes 300 ms to start: started together, the dependent
  // would write its line first.
  const std::string dependency = "[\"/bin/sh\", \"-c\", \"sleep 0.3; echo database >> " + order.string() + "; exec " +
                                 echo_binary() + " --port {port} --threads 1\"]";
  const std::string dependent =
      "[\"/bin/sh\", \"-c\", \"echo api >> " + order.string() + "; exec " + echo_binary() + " --port {port} --threads 1\"]";
  LocalCluster cluster("depends", {{"database", dependency, {{"SlimFaas/ReplicasMin", "0"}}},
                                   {"api", dependent, {{"SlimFaas/ReplicasMin", "0"}, {"SlimFaas/DependsOn", "database"}}}});
  auto r = http("GET", cluster.url("/function/api/echo/x"), {}, "", 30s);
  INFO(r.describe());
  INFO(cluster.proc->log_tail());
  REQUIRE(r.status == 200);
  CHECK(read_file(order) == "database\napi\n");
  CHECK(cluster.ready("database") == 1);
}

TEST_CASE("a crashed replica is restarted and serves again") {
  LocalCluster cluster("crash", {{"echo", echo_command(), {{"SlimFaas/ReplicasMin", "1"}}}});
  REQUIRE(http_get(cluster.url("/function/echo/echo/a")).status == 200);
  auto pids = cluster.function_pids();
  REQUIRE(pids.size() == 1);
  ::kill(pids[0], SIGKILL);
  // A new process, ready, answering through slimfaas.
  CHECK(wait_until(
      [&] {
        auto now = cluster.function_pids();
        return now.size() == 1 && now[0] != pids[0] && cluster.ready("echo") == 1;
      },
      20s, 50ms));
  CHECK(http_get(cluster.url("/function/echo/echo/b"), 20s).status == 200);
  auto status = cluster.status("echo");
  CHECK(status["Pods"].size() == 1);
}

TEST_CASE("slimfaas killed with -9 leaves no process of a function behind") {
  // The function's shell starts a grandchild the way `npm run` would; the
  // unusual sleep duration marks it.
  const std::string command = "[\"/bin/sh\", \"-c\", \"sleep 987.654 & exec " + echo_binary() +
                              " --port {port} --threads 1\"]";
  LocalCluster cluster("kill9", {{"echo", command, {{"SlimFaas/ReplicasMin", "1"}}}});
  REQUIRE(wait_until([&] { return !processes_with("sleep 987.654").empty(); }, 10s));
  REQUIRE(!cluster.function_pids().empty());
  cluster.proc->signal(SIGKILL);
  CHECK(cluster.proc->wait_exit(5s).has_value());
  CHECK(wait_until([&] { return processes_with("sleep 987.654").empty(); }, 15s, 50ms));
  CHECK(wait_until([&] { return cluster.function_pids().empty(); }, 15s, 50ms));
}

TEST_CASE("SIGTERM stops local up and every function process") {
  LocalCluster cluster("sigterm", {{"echo", echo_command(), {{"SlimFaas/ReplicasMin", "1"}}}});
  REQUIRE(!cluster.function_pids().empty());
  cluster.proc->signal(SIGTERM);
  auto code = cluster.proc->wait_exit(30s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(cluster.function_pids().empty());
}

TEST_CASE("a call in flight during scale-down completes") {
  LocalCluster cluster("drain", {{"echo", echo_command(),
                                  {{"SlimFaas/ReplicasMin", "0"}, {"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "1"}}}});
  // Wake it, then start a call that lasts well past the 1 s timeout.
  REQUIRE(http("GET", cluster.url("/function/echo/echo/warm"), {}, "", 20s).status == 200);
  HttpResponse slow;
  std::thread caller([&] { slow = http("GET", cluster.url("/function/echo/sleep/3000"), {}, "", 20s); });
  // The scaler decides to go to zero while the call runs: the replica is
  // drained (no new calls) but not stopped.
  const bool drained = wait_until(
      [&] {
        auto actors = http_get(cluster.url("/debug/actors")).json().value_or(nlohmann::json::object());
        for (const auto& a : actors.value("actors", nlohmann::json::array()))
          if (a.value("kind", "") == "scaler" && a["state"]["functions"]["echo"]["draining_to"] == 0) return true;
        return false;
      },
      10s, 20ms);
  caller.join();
  INFO(slow.describe());
  INFO(cluster.proc->log_tail());
  CHECK(drained);
  CHECK(slow.status == 200);
  CHECK(wait_until([&] { return cluster.requested("echo") == 0; }, 15s, 100ms));
}

TEST_CASE("a call held at zero gets 504 with a JSON error when no replica is ready in time") {
  // Starts, but never answers its health check.
  LocalCluster cluster("never-ready", {{"stuck", "[\"/bin/sleep\", \"300\"]",
                                        {{"SlimFaas/ReplicasMin", "0"},
                                         {"SlimFaas/Configuration", R"({\"DefaultSync\":{\"HttpTimeout\":1}})"}}}});
  auto r = http("GET", cluster.url("/function/stuck/x"), {}, "", 20s);
  INFO(r.describe());
  CHECK(r.status == 504);
  auto body = r.json();
  REQUIRE(body.has_value());
  CHECK(body->contains("error"));
  CHECK(body->value("detail", "").find("stuck") != std::string::npos);
  // The wake did happen: a replica was asked for.
  CHECK(cluster.requested("stuck") == 1);
}

TEST_CASE("local up with three nodes forms one SlimData cluster and wakes functions through the entrypoint") {
  LocalCluster cluster("three-nodes", {{"echo", echo_command(),
                                        {{"SlimFaas/ReplicasMin", "0"}, {"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "2"}}}},
                       3);
  // Every node serves, and they agree on one leader.
  std::set<std::uint64_t> leaders;
  REQUIRE(wait_until(
      [&] {
        leaders.clear();
        for (int i = 0; i < 3; ++i) {
          auto raft = http_get(local_url(cluster.ports.node + i) + "/debug/raft", 5s).json();
          if (!raft || raft->value("leader", 0) == 0) return false;
          leaders.insert(raft->value("leader", std::uint64_t{0}));
        }
        return leaders.size() == 1;
      },
      30s, 100ms));
  // Calls spread over the nodes wake the function once and are all answered.
  for (int i = 0; i < 6; ++i) {
    auto r = http("POST", cluster.url("/function/echo/echo/n" + std::to_string(i)), {}, "x", 20s);
    INFO(r.describe());
    INFO(cluster.proc->log_tail());
    REQUIRE(r.status == 200);
  }
  CHECK(cluster.function_pids().size() == 1);
  // The entrypoint that spread them is a thread of the supervisor, named for it.
  const auto supervisor_threads = thread_names(cluster.proc->pid());
  CHECK(std::count(supervisor_threads.begin(), supervisor_threads.end(), "entrypoint") == 1);
  // The nodes share this machine: each sizes its actor scheduler on its
  // share of the usable CPUs.
  const auto share = std::to_string(std::max(1u, slimfaas::net::usable_cpus() / 3));
  for (int i = 0; i < 3; ++i) {
    const auto node = (cluster.dir / "state" / ("node-" + std::to_string(i)) / "slimdata").string() + " ";
    const auto pids = processes_with(node);
    REQUIRE(pids.size() == 1);
    const auto cmdline = command_line(fs::path("/proc") / std::to_string(pids[0]));
    INFO(cmdline);
    CHECK(cmdline.find(" --actor-threads " + share + " ") != std::string::npos);
  }
  // A value written through one node is read through another.
  REQUIRE(http("POST", local_url(cluster.ports.node) + "/data/sets/shared", {}, "v", 10s).status == 200);
  CHECK(http_get(local_url(cluster.ports.node + 2) + "/data/sets/shared", 10s).body == "v");
  // The supervisor's scaler hears every node: idle, the function goes back to zero.
  CHECK(wait_until([&] { return cluster.function_pids().empty(); }, 20s, 100ms));

  // kill -9 of the supervisor: no node and no function survives.
  REQUIRE(http("GET", cluster.url("/function/echo/echo/again"), {}, "", 20s).status == 200);
  cluster.proc->signal(SIGKILL);
  CHECK(cluster.proc->wait_exit(5s).has_value());
  CHECK(wait_until([&] { return cluster.function_pids().empty(); }, 15s, 50ms));
  CHECK(wait_until([&] { return processes_with("--slimdata-cluster-id it --local-supervisor").empty(); }, 15s, 50ms));
}

// A local cluster's nodes run without a peer timeout (app/node.cpp): a node
// paused longer than the default one (10 s; a debugger, a SIGSTOP) keeps
// its link to the supervisor, whose scaler still wakes functions for it.
TEST_CASE("a node of a local cluster paused longer than the peer timeout still wakes functions") {
  LocalCluster cluster("paused-node", {{"echo", echo_command(), {{"SlimFaas/ReplicasMin", "0"}}}}, 3);
  const int port = cluster.ports.node + 1;
  REQUIRE(wait_until([&] { return http_get(local_url(port) + "/health", 5s).status == 200; }, 30s, 100ms));
  const auto node = (cluster.dir / "state" / "node-1" / "slimdata").string() + " ";
  const auto pids = processes_with(node);
  REQUIRE(pids.size() == 1);
  REQUIRE(::kill(pids[0], SIGSTOP) == 0);
  // The stimulus, not a wait for a condition: a pause past the timeout.
  std::this_thread::sleep_for(12s);
  REQUIRE(::kill(pids[0], SIGCONT) == 0);
  CHECK(cluster.function_pids().empty());
  auto r = http("POST", local_url(port) + "/function/echo/echo/after-pause", {}, "x", 30s);
  INFO(r.describe());
  INFO(cluster.proc->log_tail());
  CHECK(r.status == 200);
}

TEST_CASE("debugUrl routes a function to an already running process") {
  auto target = start_echo();
  auto dir = fresh_dir("debug-url");
  Ports ports;
  std::string yaml = manifest_yaml(ports, dir / "state", {{"echo", echo_command(), {{"SlimFaas/ReplicasMin", "0"}}}});
  yaml += "    debugUrl: \"http://127.0.0.1:" + std::to_string(target.port) + "\"\n";
  write_file(dir / "m.yaml", yaml);
  Process up({slimfaas_binary(), "local", "up", "-f", (dir / "m.yaml").string()}, Env{}, "local-up-debug-url");
  REQUIRE(wait_until([&] { return up.log().find("Entrypoint:") != std::string::npos || !up.running(); }, 30s));
  REQUIRE(up.running());
  REQUIRE(echo_reset(target));
  auto r = http("GET", local_url(ports.entrypoint) + "/function/echo/echo/via-debug", {}, "", 20s);
  INFO(r.describe());
  INFO(up.log_tail());
  CHECK(r.status == 200);
  CHECK(echo_stats(target)["requests"] == 1);
  auto status = http_get(local_url(ports.entrypoint) + "/status-function/echo").json();
  REQUIRE(status);
  CHECK((*status)["Pods"][0]["Name"] == "echo-debug");
  // Nothing of ours was started for it.
  std::vector<pid_t> ours;
  for (int port = ports.from; port <= ports.from + 9; ++port)
    for (pid_t pid : processes_with(echo_binary() + " --port " + std::to_string(port) + " ")) ours.push_back(pid);
  CHECK(ours.empty());
}
