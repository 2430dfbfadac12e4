#pragma once
// RocksDB's CRC32C entry points (util/crc32c.h, which Debian does not
// install), defined by rocksdb_crc32c.cpp in place of the archive's
// software-only ones. The signatures must stay exactly RocksDB 7.8's.
#include <cstddef>
#include <cstdint>
#include <string>

namespace rocksdb::crc32c {

// What RocksDB logs at start-up ("Fast CRC32 supported: ...").
std::string IsFastCrc32Supported();
// The CRC-32C of the bytes whose CRC is `init_crc` followed by data[0, n).
std::uint32_t Extend(std::uint32_t init_crc, const char* data, std::size_t n);
// The CRC-32C of A followed by B, from CRC(A), CRC(B) and B's length.
std::uint32_t Crc32cCombine(std::uint32_t crc1, std::uint32_t crc2, std::size_t crc2len);

}  // namespace rocksdb::crc32c

namespace slimfaas::store::crc32c {

// Whether rocksdb::crc32c::Extend uses the CPU's crc32 instruction.
bool hardware_supported();
// The two ways Extend computes the raw (unconditioned) register; exposed
// so that tests check both on any CPU. extend_hardware needs SSE4.2.
std::uint32_t extend_hardware(std::uint32_t raw, const unsigned char* p, std::size_t n);
std::uint32_t extend_portable(std::uint32_t raw, const unsigned char* p, std::size_t n);

}  // namespace slimfaas::store::crc32c
