// RocksDB's CRC32C as store/rocksdb_crc32c.cpp computes it: the standard
// CRC-32C (so logs written by either build read back), both ways of
// computing it, the combine, and RocksDB itself using it to find damage.
#include <catch2/catch.hpp>

// Built where store/rocksdb_crc32c.cpp is (x86-64); elsewhere RocksDB's own CRC runs.
#if defined(SLIMFAAS_ROCKSDB_CRC32C)

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "store/raft_log.hpp"
#include "store/rocksdb_crc32c.hpp"
#include "tests/unit/store_temp_dir.hpp"

namespace {

// One bit at a time, straight from the definition: reflected polynomial
// 0x82F63B78, register preset to all ones, result inverted.
std::uint32_t reference_crc32c(const std::string& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}

std::uint32_t extend_with(bool hardware, std::uint32_t crc, const std::string& bytes, std::size_t offset = 0) {
  namespace ours = slimfaas::store::crc32c;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  const std::size_t n = bytes.size() - offset;
  return ~(hardware ? ours::extend_hardware(~crc, p, n) : ours::extend_portable(~crc, p, n));
}

}  // namespace

TEST_CASE("crc32c is the standard CRC-32C", "[crc32c]") {
  CHECK(rocksdb::crc32c::Extend(0, "123456789", 9) == 0xE3069283u);  // the catalogued check value
  CHECK(rocksdb::crc32c::Extend(0, "", 0) == 0u);
  CHECK(rocksdb::crc32c::Extend(0, std::string(32, '\0').data(), 32) == 0x8A9136AAu);  // RFC 3720 B.4
  CHECK(rocksdb::crc32c::Extend(0, std::string(32, '\xFF').data(), 32) == 0x62A8AB43u);
}

TEST_CASE("crc32c matches the bitwise definition for every length, alignment and split", "[crc32c]") {
  std::mt19937 rng(20261207);
  std::vector<bool> ways{false};
  if (slimfaas::store::crc32c::hardware_supported()) ways.push_back(true);
  for (bool hardware : ways) {
    INFO("hardware: " << hardware);
    for (std::size_t n = 0; n <= 300; ++n) {
      const std::string bytes = random_bytes(rng, n + 7);
      for (std::size_t offset = 0; offset < 8; offset += 3) {
        const std::string tail = bytes.substr(offset, n);
        REQUIRE(extend_with(hardware, 0, bytes.substr(0, offset + n), offset) == reference_crc32c(tail));
      }
    }
    const std::string big = random_bytes(rng, 1 << 16);
    const std::uint32_t whole = reference_crc32c(big);
    CHECK(extend_with(hardware, 0, big) == whole);
    for (std::size_t split : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{40000}}) {
      const std::uint32_t first = extend_with(hardware, 0, big.substr(0, split));
      CHECK(extend_with(hardware, first, big.substr(split)) == whole);
    }
  }
  // What RocksDB calls gives the same as both.
  const std::string sample = random_bytes(rng, 4099);
  CHECK(rocksdb::crc32c::Extend(0, sample.data(), sample.size()) == reference_crc32c(sample));
}

TEST_CASE("crc32c combine gives the CRC of the concatenation", "[crc32c]") {
  std::mt19937 rng(7);
  for (std::size_t a : {0, 1, 5, 64, 1000}) {
    for (std::size_t b : {0, 1, 3, 8, 255, 4096, 70000, 3 << 20}) {
      const std::string first = random_bytes(rng, a), second = random_bytes(rng, b);
      INFO(a << " + " << b);
      CHECK(rocksdb::crc32c::Crc32cCombine(reference_crc32c(first), reference_crc32c(second), b) ==
            reference_crc32c(first + second));
    }
  }
}

TEST_CASE("rocksdb links this crc32c and finds a damaged log record with it", "[crc32c][raft_log]") {
  // Only this file's implementation names itself; the archive's cannot be
  // linked beside it (duplicate symbols), so this shows which one runs.
  CHECK(slimfaas::store::RaftLog::checksum_implementation().find("slimfaas") != std::string::npos);

  using slimfaas::store::Entry;
  using slimfaas::store::RaftLog;
  slimfaas::test::TempDir dir;
  const std::string marked(2000, 'Z');
  {
    RaftLog log = RaftLog::open(dir.path());
    for (const std::vector<Entry>& one : {std::vector<Entry>{Entry{1, 1, Entry::Kind::Command, "one"}},
                                          std::vector<Entry>{Entry{1, 2, Entry::Kind::Command, "two"}},
                                          std::vector<Entry>{Entry{1, 3, Entry::Kind::Command, marked}}})
      log.persist(std::nullopt, 0, one);
  }
  // Change one byte inside entry 3's data in the write-ahead log: the
  // record still parses, only its checksum can tell.
  bool damaged = false;
  for (const auto& file : std::filesystem::directory_iterator(dir.path())) {
    if (file.path().extension() != ".log") continue;
    std::fstream io(file.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(io)), std::istreambuf_iterator<char>());
    const auto at = content.find(marked);
    if (at == std::string::npos) continue;
    io.seekp(static_cast<std::streamoff>(at + 1000));
    io.put('Y');
    damaged = true;
  }
  REQUIRE(damaged);  // the entry is in a WAL file, not flushed elsewhere

  RaftLog log = RaftLog::open(dir.path());
  // Point-in-time recovery stops before the damaged record: entries 1 and
  // 2 come back, entry 3 is not returned with a changed byte.
  CHECK(log.last_index() == 2);
  auto recovered = log.recover();
  REQUIRE(recovered.entries.size() == 2);
  CHECK(recovered.entries[1].data == "two");
}

#endif  // SLIMFAAS_ROCKSDB_CRC32C
