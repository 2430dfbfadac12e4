#pragma once
// The scaler's bookkeeping for every function, as plain logic: what it asked
// of the backend, what is ready, when each function was last active, who is
// waiting to be woken, and which scale-downs are draining. The scaler actor
// feeds it observations and the time, applies the commands it returns, and
// arms one timer for `next_check`; tests drive it with any clock.
//
// Per function the rule is `decide_scale` (actors/scale_decision.hpp); this
// class adds what crosses functions and time:
//   - a wake of X (sync call held at zero, async item, /wake-function) also
//     wakes functions_to_wake(X): the DependsOn chain and every function with
//     ReplicasStartAsSoonAsOneFunctionRetrieveARequest;
//   - DependsOn readiness comes from the other functions' observed replicas;
//   - a scale-down is a two-step command: drain the replicas that will go
//     (the highest-indexed ones, which the backend removes), then scale once
//     they are idle. A decision to stay or grow while a drain runs cancels it.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/scale_decision.hpp"
#include "actors/schedule.hpp"
#include "k8s/function_config.hpp"

namespace slimfaas::actors {

struct ScaleCommand {
  enum class Kind {
    Scale,        // ask the backend for `replicas`
    Drain,        // stop routing new calls to replicas [replicas, from); scale when idle
    CancelDrain,  // route to every replica again; the scale-down is off
  };
  Kind kind = Kind::Scale;
  std::string function;
  int replicas = 0;
  int from = 0;  // replicas requested before the command
  std::string reason;

  friend bool operator==(const ScaleCommand&, const ScaleCommand&) = default;
};

struct ScaledFunction {
  std::string name;
  k8s::FunctionConfig config;
  int initial_replicas = 0;  // what the backend starts with (ReplicasMin)
};

class ScalerCore {
 public:
  ScalerCore(std::vector<ScaledFunction> functions, bool pod_scaled_up_by_default_when_never_called);

  // A call or wake reached `function` (it counts as activity at `now`).
  // `demand`: a caller is held until a replica is ready (or an item waits),
  // so the function must wake if it is at zero; the wake cascades.
  void record_activity(const std::string& function, WallClock::time_point now, bool demand);
  // Activity observed without a wake (e.g. a call served by a ready replica).
  void observe_activity(const std::string& function, WallClock::time_point at);
  // Callers currently held for `function` (they keep it awake).
  void observe_waiting(const std::string& function, bool waiting);
  void observe_ready(const std::string& function, int ready_replicas);
  // The drain of `function` towards `replicas` finished (idle or grace over):
  // returns the Scale command to apply, or nothing when the drain was
  // cancelled or superseded since.
  std::optional<ScaleCommand> drain_finished(const std::string& function, int replicas);

  struct Evaluation {
    std::vector<ScaleCommand> commands;
    std::optional<WallClock::time_point> next_check;
  };
  // Decides every function at `now`. Commands are already reflected in the
  // state (requested replicas, drains).
  Evaluation evaluate(WallClock::time_point now);

  struct FunctionView {
    int requested = 0;
    int ready = 0;
    std::optional<int> draining_to;
    std::optional<WallClock::time_point> last_activity;
    std::string last_reason;
  };
  std::optional<FunctionView> view(const std::string& function) const;
  std::vector<std::string> names() const;

 private:
  struct State {
    ScaledFunction function;
    std::unique_ptr<Schedule> schedule;  // null: no SlimFaas/Schedule
    int requested = 0;
    int ready = 0;
    bool waiting = false;
    bool wake_requested = false;  // one-shot: consumed once the function is up
    bool called = false;
    std::optional<int> draining_to;
    std::optional<WallClock::time_point> last_activity;
    std::optional<WallClock::time_point> previous_evaluation;
    std::string last_reason;
  };

  State* find(const std::string& function);
  Evaluation evaluate_once(WallClock::time_point now, bool& consumed_wake);
  std::map<std::string, DependencyState> dependencies_of(const State& state) const;

  std::map<std::string, State> states_;
  std::map<std::string, k8s::FunctionConfig> configs_;
  bool pod_scaled_up_by_default_;
};

}  // namespace slimfaas::actors
