#include "actors/scaler_actor.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;

struct ScalerState {
  static inline const char* name = "scaler";
  ScalerSetup setup;
  std::unique_ptr<ScalerCore> core;
  std::uint64_t timer_generation = 0;
  std::optional<WallClock::time_point> timer_for;
  std::uint64_t scale_commands = 0;
};

using Self = caf::stateful_actor<ScalerState>*;

const FunctionHandle* handle_of(Self self, const std::string& function) {
  auto table = self->state.setup.gateway->functions();
  auto it = table->find(function);
  // The table lives as long as the node; handles are never removed from it.
  return it == table->end() ? nullptr : &it->second;
}

// Calls that took a free slot on the fast path only touched the board; read
// what they left there (steady clock) as wall-clock activity.
void refresh_from_boards(Self self, WallClock::time_point now) {
  auto& core = *self->state.core;
  const auto steady_now = Clock::now();
  for (const auto& name : core.names()) {
    const FunctionHandle* h = handle_of(self, name);
    if (!h) continue;
    const auto last = h->board->last_activity();
    if (last.time_since_epoch().count() != 0) {
      core.observe_activity(name, now - std::chrono::duration_cast<WallClock::duration>(steady_now - last));
    }
    core.observe_waiting(name, h->board->waiters() > 0);
  }
}

void apply(Self self, const ScaleCommand& command) {
  auto& s = self->state;
  const FunctionHandle* h = handle_of(self, command.function);
  switch (command.kind) {
    case ScaleCommand::Kind::Scale:
      ++s.scale_commands;
      spdlog::info("scaler: {} {} -> {}: {}", command.function, command.from, command.replicas, command.reason);
      s.setup.backend->scale(command.function, command.replicas);
      break;
    case ScaleCommand::Kind::Drain: {
      spdlog::info("scaler: {} draining {} -> {}: {}", command.function, command.from, command.replicas,
                   command.reason);
      if (!h) break;
      const std::string function = command.function;
      const int replicas = command.replicas;
      self->request(h->actor, s.setup.drain_grace + std::chrono::seconds(5), drain_atom::value, replicas,
                    static_cast<std::int64_t>(s.setup.drain_grace.count()))
          .then([=](bool drained) {
            if (drained) self->send(self, drained_atom::value, function, replicas);
          },
                [=](caf::error&) { self->send(self, drained_atom::value, function, replicas); });
      break;
    }
    case ScaleCommand::Kind::CancelDrain:
      spdlog::info("scaler: {} stays at {}: {}", command.function, command.replicas, command.reason);
      if (h) self->send(h->actor, undrain_atom::value);
      break;
  }
}

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

void evaluate(Self self) {
  auto& s = self->state;
  const auto now = s.setup.now();
  refresh_from_boards(self, now);
  auto result = s.core->evaluate(now);
  for (const auto& command : result.commands) apply(self, command);
  arm(self, result.next_check, now);
}

json summary(Self self) {
  auto& core = *self->state.core;
  json functions = json::object();
  for (const auto& name : core.names()) {
    auto v = core.view(name);
    json f{{"requested", v->requested}, {"ready", v->ready}, {"decision", v->last_reason}};
    f["draining_to"] = v->draining_to ? json(*v->draining_to) : json(nullptr);
    if (v->last_activity)
      f["idle_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(self->state.setup.now() - *v->last_activity).count();
    functions[name] = std::move(f);
  }
  json out{{"functions", functions}, {"scale_commands", self->state.scale_commands}};
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
  // First look once the node is wired (the function table is set before
  // any message reaches this actor's mailbox is processed in order).
  self->send(self, tick_atom::value, std::uint64_t{0});
  return {
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
        json out{{"mailbox", self->mailbox().size()}, {"state", summary(self)}};
        return out.dump();
      },
  };
}

}  // namespace

caf::actor spawn_scaler_actor(caf::actor_system& system, ScalerSetup setup) {
  return system.spawn(scaler_behavior, std::move(setup));
}

}  // namespace slimfaas::actors
