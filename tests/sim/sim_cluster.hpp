#pragma once
// Deterministic simulation of a Raft cluster built from store/raft_core:
// N cores, each with a "durable" store (what its Readies persisted) and
// volatile state (the core, its state machine, a Ready taken but not yet
// persisted), on a simulated network with seeded drops, delays, duplicates,
// reordering and partitions, plus crashes (everything not persisted is lost)
// and restarts (the core is rebuilt from the durable store).
//
// After every step the safety properties of the Raft paper (Figure 3) are
// checked; a violation ends the run with a message. At the end the network
// heals, every node restarts, and the cluster must converge with every
// acknowledged proposal applied everywhere.
#include <cstdint>
#include <string>
#include <vector>

namespace slimfaas::sim {

struct SimOptions {
  std::uint64_t seed = 0;
  int nodes = 3;
  int chaos_rounds = 800;      // rounds of faults, one tick per node per round
  int converge_rounds = 600;   // the bound for convergence after healing
  bool trace = false;          // print every step to stderr
};

struct SimStats {
  int rounds = 0;
  int elections_won = 0;
  int crashes = 0;
  int snapshots_installed = 0;
  int proposals_acknowledged = 0;
  int reads_served = 0;
  int messages_delivered = 0;
};

struct SimResult {
  bool ok = true;
  std::string failure;  // what was violated, and when
  SimStats stats;
};

SimResult run_simulation(const SimOptions& options);

}  // namespace slimfaas::sim
