// actors/mailbox_size: an actor counts the messages behind the one it is
// handling, including those that arrived while it handled it (they are
// still in CAF's inbox, not yet in its queues). That arrival is the case
// the sanitizer build once stopped a node on (see mailbox_size.hpp).
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <chrono>
#include <future>

#include "actors/mailbox_size.hpp"

namespace {

using hold_atom = caf::atom_constant<caf::atom("hold")>;
using more_atom = caf::atom_constant<caf::atom("more")>;

struct Probe {
  std::promise<void> entered;         // the actor is inside its `hold` handler
  std::promise<void> release;         // lets it go on
  std::promise<std::size_t> counted;  // what it counted then
};

caf::behavior probed(caf::event_based_actor* self, Probe* probe) {
  return {
      [=](hold_atom) {
        probe->entered.set_value();
        probe->release.get_future().wait();
        probe->counted.set_value(slimfaas::actors::mailbox_size(self));
      },
      [](more_atom) {},
  };
}

}  // namespace

TEST_CASE("an actor counts the messages that arrived while it was busy") {
  caf::actor_system_config config;
  caf::actor_system system{config};
  for (int messages : {1, 3}) {
    Probe probe;
    auto actor = system.spawn(probed, &probe);
    caf::anon_send(actor, hold_atom::value);
    REQUIRE(probe.entered.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    for (int i = 0; i < messages; ++i) caf::anon_send(actor, more_atom::value);
    probe.release.set_value();
    auto counted = probe.counted.get_future();
    REQUIRE(counted.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK(counted.get() == static_cast<std::size_t>(messages));
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }
}
