#include "actors/scaler_actor.hpp"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/mailbox_size.hpp"
#include "actors/messages.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto ask_timeout = std::chrono::seconds(2);

struct ScalerState {
  static inline const char* name = "scaler";
  ScalerSetup setup;
  std::unique_ptr<ScalerCore> core;
  // The function actors serving each function (one per node).
  std::map<std::string, std::vector<caf::actor>> members;
  bool gathering = false;  // asking the members for their activity
  bool again = false;      // an input arrived meanwhile: decide once more after
  std::uint64_t timer_generation = 0;
  std::optional<WallClock::time_point> timer_for;
  std::uint64_t scale_commands = 0;
  std::uint64_t evaluations = 0;
};

using Self = caf::stateful_actor<ScalerState>*;

void evaluate(Self self);

// Collects answers from several actors, then runs `done` once.
struct Gathering {
  std::size_t pending = 0;
  std::function<void()> done;
  void one() {
    if (--pending == 0) done();
  }
};

void arm(Self self, std::optional<WallClock::time_point> next, WallClock::time_point now) {
  auto& s = self->state;
  if (!next) return;
  if (s.timer_for && *s.timer_for <= *next && *s.timer_for > now) return;  // an earlier timer already runs
  s.timer_for = *next;
  ++s.timer_generation;
  // Wake a few milliseconds after the instant so the decision sees it passed.
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now) + std::chrono::milliseconds(5);
  // CAF timers are steady; a wall-clock jump only moves the next look.
  delay = std::clamp(delay, std::chrono::milliseconds(1), std::chrono::milliseconds(std::chrono::hours(1)));
  self->delayed_send(self, delay, tick_atom::value, s.timer_generation);
}

void drain(Self self, const ScaleCommand& command) {
  auto& s = self->state;
  const std::string function = command.function;
  const int replicas = command.replicas;
  auto& members = s.members[function];
  if (members.empty()) {
    self->send(self, drained_atom::value, function, replicas);
    return;
  }
  // Every node must have stopped routing to the replicas and seen its calls
  // on them end; an unreachable node is waited for up to its timeout only.
  auto gathering = std::make_shared<Gathering>();
  gathering->pending = members.size();
  gathering->done = [=] { self->send(self, drained_atom::value, function, replicas); };
  for (const auto& member : members) {
    self->request(member, s.setup.drain_grace + std::chrono::seconds(5), drain_atom::value, replicas,
                  static_cast<std::int64_t>(s.setup.drain_grace.count()))
        .then([=](bool) { gathering->one(); }, [=](caf::error&) { gathering->one(); });
  }
}

void apply(Self self, const ScaleCommand& command) {
  auto& s = self->state;
  switch (command.kind) {
    case ScaleCommand::Kind::Scale:
      ++s.scale_commands;
      spdlog::info("scaler: {} {} -> {}: {}", command.function, command.from, command.replicas, command.reason);
      s.setup.backend->scale(command.function, command.replicas);
      break;
    case ScaleCommand::Kind::Drain:
      spdlog::info("scaler: {} draining {} -> {}: {}", command.function, command.from, command.replicas,
                   command.reason);
      drain(self, command);
      break;
    case ScaleCommand::Kind::CancelDrain:
      spdlog::info("scaler: {} stays at {}: {}", command.function, command.replicas, command.reason);
      for (const auto& member : s.members[command.function]) self->send(member, undrain_atom::value);
      break;
  }
}

void decide(Self self) {
  auto& s = self->state;
  ++s.evaluations;
  const auto now = s.setup.now();
  auto result = s.core->evaluate(now);
  for (const auto& command : result.commands) apply(self, command);
  arm(self, result.next_check, now);
}

// Asks every member for its activity and held callers, then decides. Inputs
// that arrive meanwhile make it run once more afterwards.
void evaluate(Self self) {
  auto& s = self->state;
  if (s.gathering) {
    s.again = true;
    return;
  }
  std::size_t count = 0;
  for (const auto& [_, members] : s.members) count += members.size();
  if (count == 0) {
    decide(self);
    return;
  }
  s.gathering = true;
  auto waiting = std::make_shared<std::map<std::string, bool>>();
  auto gathering = std::make_shared<Gathering>();
  gathering->pending = count;
  gathering->done = [=] {
    auto& s = self->state;
    for (const auto& [function, held] : *waiting) s.core->observe_waiting(function, held);
    decide(self);
    s.gathering = false;
    if (s.again) {
      s.again = false;
      evaluate(self);
    }
  };
  for (const auto& [function, members] : s.members) {
    (*waiting)[function] = false;
    for (const auto& member : members) {
      const std::string name = function;
      self->request(member, ask_timeout, activity_atom::value)
          .then(
              [=](const std::vector<std::int64_t>& answer) {
                if (answer.size() == 2) {
                  if (answer[0] >= 0)
                    self->state.core->observe_activity(name,
                                                       self->state.setup.now() - std::chrono::milliseconds(answer[0]));
                  if (answer[1] > 0) (*waiting)[name] = true;
                }
                gathering->one();
              },
              [=](caf::error&) { gathering->one(); });
    }
  }
}

json summary(Self self) {
  auto& core = *self->state.core;
  json functions = json::object();
  for (const auto& name : core.names()) {
    auto v = core.view(name);
    json f{{"requested", v->requested}, {"ready", v->ready}, {"decision", v->last_reason},
           {"nodes", self->state.members[name].size()}};
    f["draining_to"] = v->draining_to ? json(*v->draining_to) : json(nullptr);
    if (v->last_activity)
      f["idle_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(self->state.setup.now() - *v->last_activity).count();
    functions[name] = std::move(f);
  }
  json out{{"functions", functions}, {"scale_commands", self->state.scale_commands},
           {"evaluations", self->state.evaluations}};
  if (self->state.timer_for) {
    out["next_check_in_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(*self->state.timer_for - self->state.setup.now()).count();
  }
  return out;
}

caf::behavior scaler_behavior(Self self, ScalerSetup setup) {
  auto& s = self->state;
  s.core = std::make_unique<ScalerCore>(setup.functions, setup.pod_scaled_up_by_default_when_never_called);
  s.setup = std::move(setup);
  self->set_down_handler([=](caf::down_msg& down) {
    for (auto& [_, members] : self->state.members)
      std::erase_if(members, [&](const caf::actor& a) { return a.address() == down.source; });
  });
  self->send(self, tick_atom::value, std::uint64_t{0});
  return {
      // A function actor (of this node or another) serves `function`.
      [=](register_atom, const std::string& function, caf::actor& member) {
        if (!self->state.core->view(function)) return;
        self->monitor(member);
        self->state.members[function].push_back(std::move(member));
        evaluate(self);
      },
      // A caller is held at zero, an item waits, or a wake was asked for.
      [=](demand_atom, const std::string& function) {
        self->state.core->record_activity(function, self->state.setup.now(), true);
        evaluate(self);
      },
      [=](ready_atom, const std::string& function, int ready) {
        self->state.core->observe_ready(function, ready);
        evaluate(self);
      },
      [=](tick_atom, std::uint64_t generation) {
        auto& s = self->state;
        if (generation != 0 && generation != s.timer_generation) return;  // superseded
        if (generation != 0) s.timer_for.reset();
        evaluate(self);
      },
      [=](drained_atom, const std::string& function, int replicas) {
        if (auto command = self->state.core->drain_finished(function, replicas)) apply(self, *command);
        evaluate(self);
      },
      [=](inspect_atom) -> std::string {
        json out{{"mailbox", mailbox_size(self)}, {"state", summary(self)}};
        return out.dump();
      },
  };
}

}  // namespace

caf::actor spawn_scaler_actor(caf::actor_system& system, ScalerSetup setup) {
  return system.spawn(scaler_behavior, std::move(setup));
}

}  // namespace slimfaas::actors
