#pragma once
// Local mode: function replicas as OS processes on this machine.
//
// Everything runs on the backend's own thread (an asio io_context): spawning
// (fork+exec, own process group, PR_SET_PDEATHSIG), exit detection (a pidfd
// waited on by the io_context; no polling), HTTP readiness probes, restarts
// with exponential backoff, and stopping (SIGTERM to the group, SIGKILL after
// the grace period). The public methods only post work to that thread or read
// a snapshot under a mutex.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "k8s/replica_backend.hpp"
#include "k8s/static_backend.hpp"

namespace slimfaas::k8s {

struct ProcessHealth {
  std::string path = "/health";
  int period_seconds = 1;
  int timeout_seconds = 2;
  int startup_timeout_seconds = 120;
};

struct ProcessFunction {
  std::string name;
  Annotations annotations;  // parsed with parse_annotations (ReplicasMin, Scale.ReplicaMax, ...)
  // Arguments, run without a shell (PATH is searched when the program has no
  // '/'); "{port}" and "{replica}" are substituted in every argument.
  std::vector<std::string> command;
  std::filesystem::path working_directory;          // empty: the current one
  std::map<std::string, std::string> environment;   // on top of the parent's ("{port}"/"{replica}" substituted)
  ProcessHealth health;
  // The manifest's debugUrl: route to a process started by someone else (an
  // IDE). Nothing is spawned, stopped or scaled: one replica
  // "<function>-debug" at this address, ready while its health path answers.
  std::optional<Endpoint> debug_endpoint;
};

struct ProcessPortRange {
  int from = 5000;
  int to = 5999;  // inclusive
};

// What `status()` shows about one replica.
struct ReplicaStatus {
  int index = 0;
  std::string name;         // "<function>-<index>"
  pid_t pid = -1;           // -1 while no process runs
  std::uint16_t port = 0;   // 0 while no process runs
  bool ready = false;
  // "Starting", "Ready", "Not ready", "Crashed (exit 3), restart in 2 s",
  // "Crashed (signal 9), restart in 1 s", "Stopping", "No free port, retry in 1 s".
  std::string status;
  int restarts = 0;         // processes started for this replica after the first
  std::string last_exit;    // "exit 3", "signal 9", ... of the last unexpected exit
};

class ProcessBackend final : public ReplicaBackend {
 public:
  // Starts the backend thread and ReplicasMin replicas of every function.
  // Logs go to <state_directory>/logs/<function>-<replica>.log (appended).
  ProcessBackend(std::vector<ProcessFunction> functions, ProcessPortRange ports,
                 std::filesystem::path state_directory,
                 std::chrono::milliseconds stop_grace = std::chrono::seconds(10));
  ~ProcessBackend() override;
  ProcessBackend(const ProcessBackend&) = delete;
  ProcessBackend& operator=(const ProcessBackend&) = delete;

  const char* kind() const override { return "process"; }
  bool scalable() const override { return true; }
  std::vector<FunctionDefinition> functions() const override;
  // Clamped to [0, config.max_replicas()]; non-blocking.
  void scale(const std::string& function, int replicas) override;
  // Also reports every function's current replica list once (from the
  // backend thread), so a listener set after construction misses nothing.
  void set_listener(Listener listener) override;

  // The replicas of `function` (indexes ascending), including stopping ones.
  std::vector<ReplicaStatus> status(const std::string& function) const;

  // Stops every replica (SIGTERM, SIGKILL after the grace period), reaps them
  // and joins the backend thread. Idempotent; the destructor calls it.
  void stop() override;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::thread thread_;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace slimfaas::k8s
