// RocksDB's CRC32C, computed with the CPU's crc32 instruction.
//
// Why this file exists: Debian builds librocksdb without SSE4.2, so every
// byte RocksDB checksums (each WAL record of the Raft log, each block it
// flushes or compacts) went through the table-driven `Slow_CRC32`: 6% of
// the three nodes' CPU in the 4 KiB async benchmark (perf, 2026-12-07).
// RocksDB is linked statically, and it reaches its CRC only through the
// three functions below, all in one object of the archive (crc32c.cc.o).
// Defining them here, in an object the link pulls first (raft_log.cpp
// names IsFastCrc32Supported), keeps the archive's object out of the
// link; defining only some would make the link fail on duplicates, so
// a partial override cannot slip through silently.
//
// The checksum is the standard CRC-32C (Castagnoli, reflected polynomial
// 0x82F63B78, conditioned with ~ before and after), the one RocksDB's own
// code computes, so files written before and after read the same.
// tests/unit/rocksdb_crc32c_test.cpp checks it against a bit-at-a-time
// reference and the standard check value.
#include "store/rocksdb_crc32c.hpp"

#include <array>
#include <cstring>

#include <nmmintrin.h>

namespace slimfaas::store::crc32c {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;

// Eight tables for the fallback: slicing-by-8 (a CPU without SSE4.2).
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (kPolynomial & (0u - (crc & 1u)));
    t[0][i] = crc;
  }
  for (std::uint32_t i = 0; i < 256; ++i)
    for (std::size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  return t;
}

constexpr Tables kTables = make_tables();

bool cpu_has_crc32() {
  __builtin_cpu_init();  // may run before the CPU model's own static initializer
  return __builtin_cpu_supports("sse4.2");
}

}  // namespace

// `crc` is the raw register (already inverted by the caller).
std::uint32_t extend_portable(std::uint32_t crc, const unsigned char* p, std::size_t n) {
  while (n >= 8) {
    std::uint32_t low, high;
    std::memcpy(&low, p, 4);
    std::memcpy(&high, p + 4, 4);
    low ^= crc;  // little-endian: the register lines up with the first four bytes
    crc = kTables[7][low & 0xFF] ^ kTables[6][(low >> 8) & 0xFF] ^ kTables[5][(low >> 16) & 0xFF] ^
          kTables[4][low >> 24] ^ kTables[3][high & 0xFF] ^ kTables[2][(high >> 8) & 0xFF] ^
          kTables[1][(high >> 16) & 0xFF] ^ kTables[0][high >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFF];
  return crc;
}

__attribute__((target("sse4.2"))) std::uint32_t extend_hardware(std::uint32_t crc, const unsigned char* p,
                                                                 std::size_t n) {
  std::uint64_t wide = crc;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    wide = _mm_crc32_u64(wide, word);
    p += 8;
    n -= 8;
  }
  crc = static_cast<std::uint32_t>(wide);
  while (n-- > 0) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}

bool hardware_supported() {
  static const bool supported = cpu_has_crc32();
  return supported;
}

}  // namespace slimfaas::store::crc32c

namespace rocksdb::crc32c {
namespace {

using slimfaas::store::crc32c::hardware_supported;
using slimfaas::store::crc32c::kPolynomial;

// Crc32cCombine as zlib 1.2.12's crc32_combine: CRC(A || B) is CRC(A)
// advanced over |B| zero bytes, XOR CRC(B) (the conditioning cancels), and
// advancing over n zero bytes is a multiplication by x^(8n) modulo the
// polynomial. RocksDB calls it on every buffered append of a file, so it
// must cost a few multiplications, not |B| bytes of work.

// a * b modulo the polynomial, in the reflected bit order (bit 31 is x^0).
constexpr std::uint32_t multiply_mod(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (std::uint32_t m = 1u << 31; m != 0; m >>= 1) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    b = (b & 1u) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// x^(2^k) modulo the polynomial for every k a 64-bit byte count times 8
// can need (no wrap-around: x's order modulo this polynomial is not
// assumed).
constexpr std::size_t kPowers = 64 + 3;
constexpr std::array<std::uint32_t, kPowers> make_powers() {
  std::array<std::uint32_t, kPowers> powers{};
  std::uint32_t p = 1u << 30;  // x^1
  for (auto& power : powers) {
    power = p;
    p = multiply_mod(p, p);
  }
  return powers;
}

constexpr std::array<std::uint32_t, kPowers> kPowersOfX = make_powers();

// x^(8 * bytes) modulo the polynomial.
std::uint32_t shift_operator(std::size_t bytes) {
  std::uint32_t p = 1u << 31;  // x^0
  for (std::size_t k = 3; bytes != 0; bytes >>= 1, ++k)
    if (bytes & 1u) p = multiply_mod(kPowersOfX[k], p);
  return p;
}

}  // namespace

std::string IsFastCrc32Supported() {
  return hardware_supported() ? "SSE4.2 crc32 instruction (slimfaas)" : "slicing-by-8 tables, no SSE4.2 (slimfaas)";
}

std::uint32_t Extend(std::uint32_t init_crc, const char* data, std::size_t n) {
  namespace ours = slimfaas::store::crc32c;
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  const std::uint32_t raw = ~init_crc;
  return ~(hardware_supported() ? ours::extend_hardware(raw, p, n) : ours::extend_portable(raw, p, n));
}

std::uint32_t Crc32cCombine(std::uint32_t crc1, std::uint32_t crc2, std::size_t crc2len) {
  return multiply_mod(shift_operator(crc2len), crc1) ^ crc2;
}

}  // namespace rocksdb::crc32c
