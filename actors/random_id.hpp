#pragma once
// Random ids that must not collide across nodes and restarts (data-set ids,
// side-stored body ids): 128 bits as 32 lowercase hex characters, like
// SlimFaas's Guid.ToString("N").
#include <random>
#include <string>

namespace slimfaas::actors {

inline std::string random_hex_id() {
  // Per thread, seeded from 128 bits of the OS's entropy (one 32-bit seed
  // would make collisions across nodes plausible).
  thread_local std::mt19937_64 random = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  static constexpr char digits[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = random();
    for (int i = 0; i < 16; ++i, bits >>= 4) id.push_back(digits[bits & 0xf]);
  }
  return id;
}

}  // namespace slimfaas::actors
