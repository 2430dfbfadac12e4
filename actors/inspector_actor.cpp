#include "actors/inspector_actor.hpp"

#include <nlohmann/json.hpp>
#include <vector>

#include "actors/mailbox_size.hpp"
#include "actors/messages.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;

struct Entry {
  std::string kind;
  std::string name;
  caf::actor handle;
};

struct InspectorState {
  static inline const char* name = "inspector";
  std::vector<Entry> entries;
};

using Self = caf::stateful_actor<InspectorState>*;

// Collects answers from every registered actor, then fulfils the promise.
struct Gathering {
  caf::response_promise promise;
  json actors = json::array();
  std::size_t pending = 0;
  void add(json entry) {
    actors.push_back(std::move(entry));
    if (--pending == 0) finish();
  }
  void finish() {
    std::sort(actors.begin(), actors.end(), [](const json& a, const json& b) { return a["id"] < b["id"]; });
    promise.deliver(actors.dump());
  }
};

caf::behavior inspector(Self self, std::string node_name) {
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& entries = self->state.entries;
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [&](const Entry& e) { return e.handle.address() == down.source; }),
                  entries.end());
  });
  return {
      [=](register_atom, const std::string& kind, const std::string& name, const caf::actor& actor) {
        self->monitor(actor);
        self->state.entries.push_back(Entry{kind, name, actor});
      },
      [=](inspect_atom) -> caf::response_promise {
        auto gathering = std::make_shared<Gathering>();
        gathering->promise = self->make_response_promise();
        gathering->pending = self->state.entries.size() + 1;
        gathering->add({{"id", self->id()},
                        {"kind", "inspector"},
                        {"name", node_name},
                        {"mailbox", mailbox_size(self)},
                        {"state", {{"registered", self->state.entries.size()}}}});
        for (const auto& entry : self->state.entries) {
          json base{{"id", entry.handle.id()}, {"kind", entry.kind}, {"name", entry.name}};
          self->request(entry.handle, std::chrono::seconds(2), inspect_atom::value)
              .then(
                  [gathering, base](const std::string& answer) mutable {
                    json parsed = json::parse(answer, nullptr, false);
                    if (parsed.is_object()) base.update(parsed);
                    gathering->add(std::move(base));
                  },
                  [gathering, base](caf::error& err) mutable {
                    base["error"] = caf::to_string(err);
                    gathering->add(std::move(base));
                  });
        }
        return gathering->promise;
      },
  };
}

}  // namespace

// The inspector takes an argument also because CAF 0.17 dereferences a null
// tuple when spawning a function-based actor without one (UBSan reports it).
caf::actor spawn_inspector(caf::actor_system& system, const std::string& node_name) {
  return system.spawn(inspector, node_name);
}

void register_actor(const caf::actor& inspector, const std::string& kind, const std::string& name,
                    const caf::actor& actor) {
  caf::anon_send(inspector, register_atom::value, kind, name, actor);
}

}  // namespace slimfaas::actors
