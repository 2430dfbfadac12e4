// The local-mode process backend with real processes: the echo example
// function (GET /health == 200, --port N) and small shell commands.
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "k8s/process_backend.hpp"
#include "tests/integration/harness.hpp"

using namespace it;
using slimfaas::k8s::ProcessBackend;
using slimfaas::k8s::ProcessFunction;
using slimfaas::k8s::Replica;
using slimfaas::k8s::ReplicaStatus;

namespace {

// Collects listener reports (called from the backend's thread).
struct Recorder {
  std::mutex mutex;
  std::map<std::string, std::vector<Replica>> last;
  int reports = 0;
  int ready_reports = 0;  // reports with at least one ready replica
  bool ever_ready = false;

  void operator()(const std::string& fn, std::vector<Replica> replicas) {
    std::lock_guard lock(mutex);
    ++reports;
    bool any = false;
    for (const auto& r : replicas) any = any || r.ready;
    if (any) {
      ++ready_reports;
      ever_ready = true;
    }
    last[fn] = std::move(replicas);
  }
  std::vector<Replica> get(const std::string& fn) {
    std::lock_guard lock(mutex);
    return last[fn];
  }
  int ready_count(const std::string& fn) {
    int n = 0;
    for (const auto& r : get(fn)) n += r.ready ? 1 : 0;
    return n;
  }
  bool reported(const std::string& fn, std::size_t size, int ready) {
    std::lock_guard lock(mutex);
    auto it = last.find(fn);
    if (it == last.end() || it->second.size() != size) return false;
    int n = 0;
    for (const auto& r : it->second) n += r.ready ? 1 : 0;
    return n == ready;
  }
  int ready_report_count() {
    std::lock_guard lock(mutex);
    return ready_reports;
  }
};

// A port range of 20 ports per test binary run, away from the usual ephemeral range.
slimfaas::k8s::ProcessPortRange test_ports() {
  static int counter = 0;
  const int base = 21000 + (static_cast<int>(::getpid()) % 400) * 40 + (counter++ % 2) * 20;
  return {base, base + 19};
}

std::filesystem::path state_dir(const std::string& name) {
  static int counter = 0;
  auto dir = std::filesystem::path(temp_dir()) / ("process-" + name + "-" + std::to_string(++counter));
  std::filesystem::create_directories(dir);
  return dir;
}

ProcessFunction echo_function(const std::string& name, int replicas_min, int replica_max = 3) {
  ProcessFunction f;
  f.name = name;
  f.annotations = {{"SlimFaas/Function", "true"},
                   {"SlimFaas/ReplicasMin", std::to_string(replicas_min)},
                   {"SlimFaas/Scale", "{\"ReplicaMax\":" + std::to_string(replica_max) + "}"}};
  f.command = {echo_binary(), "--port", "{port}"};
  f.health.startup_timeout_seconds = 30;
  return f;
}

// Alive and not a zombie.
bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  if (close == std::string::npos || close + 2 >= all.size()) return false;
  return all[close + 2] != 'Z';
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string describe(const std::vector<ReplicaStatus>& statuses) {
  std::string out;
  for (const auto& s : statuses)
    out += s.name + " pid=" + std::to_string(s.pid) + " port=" + std::to_string(s.port) + " ready=" +
           (s.ready ? "1" : "0") + " status='" + s.status + "' restarts=" + std::to_string(s.restarts) + "\n";
  return out;
}

bool health_ok(int port) { return http_get(local_url(port) + "/health", 2s).status == 200; }

}  // namespace

TEST_CASE("starts ReplicasMin replicas then scales up and down to zero") {
  Recorder rec;
  auto dir = state_dir("scale");
  ProcessBackend backend({echo_function("echo", 1)}, test_ports(), dir, 3s);
  backend.set_listener(std::ref(rec));

  REQUIRE(wait_until([&] { return rec.reported("echo", 1, 1); }, 15s));
  auto replicas = rec.get("echo");
  CHECK(replicas[0].name == "echo-0");
  CHECK(replicas[0].host == "127.0.0.1");
  CHECK(health_ok(replicas[0].port));
  auto defs = backend.functions();
  REQUIRE(defs.size() == 1);
  CHECK(defs[0].name == "echo");
  CHECK(defs[0].config.replicas_min == 1);
  REQUIRE(defs[0].replicas.size() == 1);
  CHECK(defs[0].replicas[0].ready);
  auto st = backend.status("echo");
  INFO(describe(st));
  REQUIRE(st.size() == 1);
  CHECK(st[0].status == "Ready");

  backend.scale("echo", 2);
  REQUIRE(wait_until([&] { return rec.reported("echo", 2, 2); }, 15s));
  replicas = rec.get("echo");
  CHECK(replicas[0].port != replicas[1].port);
  CHECK(replicas[1].name == "echo-1");
  CHECK(health_ok(replicas[0].port));
  CHECK(health_ok(replicas[1].port));

  // Beyond ReplicaMax (3) is clamped.
  backend.scale("echo", 10);
  REQUIRE(wait_until([&] { return rec.reported("echo", 3, 3); }, 15s));

  std::vector<pid_t> pids;
  for (const auto& s : backend.status("echo")) pids.push_back(s.pid);
  replicas = rec.get("echo");
  backend.scale("echo", 0);
  REQUIRE(wait_until([&] { return rec.reported("echo", 0, 0); }, 15s));
  CHECK(wait_until([&] {
    for (pid_t pid : pids)
      if (process_alive(pid)) return false;
    return true;
  }, 15s));
  CHECK(wait_until([&] { return backend.status("echo").empty(); }, 15s));
  for (const auto& r : replicas) CHECK_FALSE(http_get(local_url(r.port) + "/health", 2s).transport_ok());
  CHECK(backend.functions()[0].replicas.empty());
}

TEST_CASE("scale down stops the highest indexes first") {
  Recorder rec;
  ProcessBackend backend({echo_function("echo", 3)}, test_ports(), state_dir("down"), 3s);
  backend.set_listener(std::ref(rec));
  REQUIRE(wait_until([&] { return rec.reported("echo", 3, 3); }, 15s));
  backend.scale("echo", 1);
  REQUIRE(wait_until([&] { return rec.reported("echo", 1, 1); }, 15s));
  CHECK(rec.get("echo")[0].name == "echo-0");
}

TEST_CASE("a replica killed with SIGKILL is restarted") {
  Recorder rec;
  ProcessBackend backend({echo_function("echo", 1)}, test_ports(), state_dir("kill"), 3s);
  backend.set_listener(std::ref(rec));
  REQUIRE(wait_until([&] { return rec.reported("echo", 1, 1); }, 15s));
  const auto before = backend.status("echo");
  REQUIRE(before.size() == 1);
  const pid_t old_pid = before[0].pid;
  REQUIRE(old_pid > 0);
  const int ready_reports = rec.ready_report_count();

  REQUIRE(::kill(old_pid, SIGKILL) == 0);
  bool saw_crash = false;
  CHECK(wait_until([&] {
    auto st = backend.status("echo");
    if (st.size() == 1 && st[0].status.rfind("Crashed (signal 9), restart in 1 s", 0) == 0) saw_crash = true;
    return saw_crash;
  }, 10s, 5ms));
  CHECK(wait_until([&] { return rec.reported("echo", 1, 0); }, 10s));
  REQUIRE(wait_until([&] { return rec.reported("echo", 1, 1) && rec.ready_report_count() > ready_reports; }, 15s));
  const auto after = backend.status("echo");
  INFO(describe(after));
  REQUIRE(after.size() == 1);
  CHECK(after[0].pid != old_pid);
  CHECK(after[0].pid > 0);
  CHECK(after[0].restarts == 1);
  CHECK(after[0].last_exit == "signal 9");
  CHECK(after[0].status == "Ready");
  CHECK(health_ok(after[0].port));
  CHECK_FALSE(process_alive(old_pid));
}

TEST_CASE("a command that exits at once is restarted with growing backoff and never ready") {
  Recorder rec;
  auto dir = state_dir("crash");
  ProcessFunction f;
  f.name = "crasher";
  f.annotations = {{"SlimFaas/ReplicasMin", "1"}};
  f.command = {"/bin/sh", "-c", "echo \"boom-stderr replica={replica} port={port} var=$CRASH_VAR cwd=$(pwd)\" >&2; exit 3"};
  f.environment = {{"CRASH_VAR", "value-{replica}"}};
  f.working_directory = dir;
  ProcessBackend backend({f}, test_ports(), dir, 3s);
  backend.set_listener(std::ref(rec));

  std::set<std::string> seen;
  auto watch = [&] {
    for (const auto& s : backend.status("crasher")) seen.insert(s.status);
  };
  CHECK(wait_until([&] {
    watch();
    return seen.count("Crashed (exit 3), restart in 4 s") > 0;
  }, 20s, 5ms));
  INFO(describe(backend.status("crasher")));
  CHECK(seen.count("Crashed (exit 3), restart in 1 s") == 1);
  CHECK(seen.count("Crashed (exit 3), restart in 2 s") == 1);
  const auto st = backend.status("crasher");
  REQUIRE(st.size() == 1);
  CHECK(st[0].restarts >= 2);
  CHECK(st[0].last_exit == "exit 3");
  CHECK_FALSE(st[0].ready);
  {
    std::lock_guard lock(rec.mutex);
    CHECK_FALSE(rec.ever_ready);
  }

  // /bin/false too, with its log file receiving nothing harmful.
  const std::string log = read_file(dir / "logs" / "crasher-0.log");
  INFO(log);
  CHECK(log.find("boom-stderr replica=0 port=") != std::string::npos);
  CHECK(log.find("var=value-0") != std::string::npos);
  CHECK(log.find("cwd=" + dir.string()) != std::string::npos);
}

TEST_CASE("bin false is restarted and never reported ready") {
  Recorder rec;
  ProcessFunction f;
  f.name = "false";
  f.annotations = {{"SlimFaas/ReplicasMin", "1"}};
  f.command = {"false"};  // PATH search
  ProcessBackend backend({f}, test_ports(), state_dir("false"), 3s);
  backend.set_listener(std::ref(rec));
  CHECK(wait_until([&] {
    auto st = backend.status("false");
    return st.size() == 1 && st[0].restarts >= 1 && st[0].last_exit == "exit 1";
  }, 10s));
  std::lock_guard lock(rec.mutex);
  CHECK_FALSE(rec.ever_ready);
}

TEST_CASE("stopping the backend leaves no process behind") {
  Recorder rec;
  auto dir = state_dir("stop");
  ProcessFunction f = echo_function("echo", 2);
  // A grandchild in the replica's process group must go too.
  f.command = {"/bin/sh", "-c",
               "sleep 1000 & echo $! > '" + dir.string() + "/sleep-{replica}.pid'; exec '" + echo_binary() +
                   "' --port {port}"};
  ProcessFunction stubborn;
  stubborn.name = "stubborn";
  stubborn.annotations = {{"SlimFaas/ReplicasMin", "1"}};
  stubborn.command = {"/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"};
  auto backend = std::make_unique<ProcessBackend>(std::vector<ProcessFunction>{f, stubborn}, test_ports(), dir, 1s);
  backend->set_listener(std::ref(rec));
  REQUIRE(wait_until([&] { return rec.reported("echo", 2, 2); }, 15s));
  REQUIRE(wait_until([&] { return backend->status("stubborn").size() == 1 && backend->status("stubborn")[0].pid > 0; }, 5s));

  std::vector<pid_t> pids;
  for (const auto& s : backend->status("echo")) pids.push_back(s.pid);
  pids.push_back(backend->status("stubborn")[0].pid);
  for (int i = 0; i < 2; ++i) {
    std::string text;
    REQUIRE(wait_until([&] {
      text = read_file(dir / ("sleep-" + std::to_string(i) + ".pid"));
      return !text.empty() && text.back() == '\n';
    }, 5s));
    pids.push_back(static_cast<pid_t>(std::stoi(text)));
  }
  for (pid_t pid : pids) REQUIRE(process_alive(pid));

  const auto started = std::chrono::steady_clock::now();
  backend->stop();
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < 8s);
  // The replicas are reaped by stop(); grandchildren are reaped by init.
  CHECK(wait_until([&] {
    for (pid_t pid : pids)
      if (process_alive(pid)) return false;
    return true;
  }, 10s));
  backend.reset();
}
