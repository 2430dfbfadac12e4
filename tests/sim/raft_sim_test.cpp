// Seeded whole-cluster simulations (tests/sim/sim_cluster.hpp).
//
// CI runs 8 ranges of 125 seeds (1,000 seeds: 3 and 5 nodes), one Catch
// test case per range so that ctest -j runs them in parallel.
//   SLIMFAAS_SIM_SEEDS=N    run N seeds in total instead (split the same way)
//   SLIMFAAS_SIM_SEED=S     replay seed S only (in every range's node count;
//                           pick the test case the failure named)
//   SLIMFAAS_SIM_TRACE=1    print every step of the run to stderr
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "tests/sim/sim_cluster.hpp"

namespace {

constexpr std::uint64_t kRanges = 8;
constexpr std::uint64_t kDefaultSeedsPerRange = 125;

std::optional<std::uint64_t> env_number(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::strtoull(value, nullptr, 10);
}

void run_range(std::uint64_t range, int nodes, const std::string& test_name) {
  std::uint64_t per_range = kDefaultSeedsPerRange;
  if (auto total = env_number("SLIMFAAS_SIM_SEEDS")) per_range = std::max<std::uint64_t>(1, (*total + kRanges - 1) / kRanges);
  std::uint64_t first = range * per_range;
  std::uint64_t count = per_range;
  const auto replay = env_number("SLIMFAAS_SIM_SEED");
  if (replay) {
    first = *replay;
    count = 1;
  }
  const bool trace = env_number("SLIMFAAS_SIM_TRACE").value_or(0) != 0;

  slimfaas::sim::SimStats total;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    slimfaas::sim::SimOptions options;
    options.seed = seed;
    options.nodes = nodes;
    options.trace = trace;
    const auto result = slimfaas::sim::run_simulation(options);
    if (!result.ok) {
      std::ostringstream message;
      message << "seed " << seed << " (" << nodes << " nodes) failed at " << result.failure << "\n"
              << "replay: SLIMFAAS_SIM_SEED=" << seed << " SLIMFAAS_SIM_TRACE=1 tests/sim/sim_raft_tests \""
              << test_name << "\"";
      FAIL(message.str());
    }
    total.elections_won += result.stats.elections_won;
    total.crashes += result.stats.crashes;
    total.snapshots_installed += result.stats.snapshots_installed;
    total.proposals_acknowledged += result.stats.proposals_acknowledged;
    total.reads_served += result.stats.reads_served;
    total.messages_delivered += result.stats.messages_delivered;
  }
  INFO("seeds " << first << " to " << first + count - 1 << ": elections " << total.elections_won << " crashes "
                << total.crashes << " snapshots installed " << total.snapshots_installed << " acknowledged "
                << total.proposals_acknowledged << " reads " << total.reads_served);
  if (!replay && count >= 20) {
    // The faults must actually happen, or the runs prove little.
    CHECK(total.crashes > 0);
    CHECK(total.snapshots_installed > 0);
    CHECK(total.proposals_acknowledged > 0);
    CHECK(total.reads_served > 0);
    CHECK(total.elections_won > static_cast<int>(count));
  }
}

}  // namespace

#define SIM_RANGE(range, nodes)                                                          \
  TEST_CASE("raft sim " #nodes " nodes range " #range, "[sim]") {                        \
    run_range(range, nodes, "raft sim " #nodes " nodes range " #range);                  \
  }

SIM_RANGE(0, 3)
SIM_RANGE(1, 3)
SIM_RANGE(2, 3)
SIM_RANGE(3, 3)
SIM_RANGE(4, 5)
SIM_RANGE(5, 5)
SIM_RANGE(6, 5)
SIM_RANGE(7, 5)
