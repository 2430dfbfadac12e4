#pragma once
// Moving this executable's machine code onto transparent huge pages.
//
// Why: on the virtual machines SlimFaas runs on, a thread that wakes after
// a few milliseconds idle pays for every 4 KiB page it touches again, a TLB
// miss with a nested (guest + host) page walk on cold caches: about 1-2 µs
// each, measured here. A call that crosses an idle cluster runs a long
// chain of code (HTTP parser, actors, Raft, the RocksDB write path) once
// per hop, so most of a paced call's time before the disk went to those
// misses. With the code on 2 MiB pages, one TLB entry covers what needed
// 512; a RocksDB write after 100 ms idle took about half as long.
//
// How: the 2 MiB-aligned part of the executable's code segment is copied
// into anonymous memory advised MADV_HUGEPAGE, made read+execute, and
// mremap'ed over the original at the same address: same bytes, same
// addresses, nothing to relink. The executable is linked with 2 MiB
// segment alignment (app/CMakeLists.txt), and RocksDB statically
// (store/CMakeLists.txt), so that its write path is part of that code.
//
// The cost: the moved code is private memory (a few MiB per process,
// counted in RSS) instead of page cache shared with other processes, and
// profilers that read symbols from the file mapping (perf) no longer see
// names for it: turn it off (--huge-page-code false) to profile.
#include <cstddef>
#include <string>

namespace slimfaas::app {

struct HugePageCodeResult {
  std::size_t moved_bytes = 0;       // code now in anonymous memory advised for huge pages
  std::size_t huge_page_bytes = 0;   // of it, what the kernel backs with huge pages (/proc/self/smaps)
  std::string skipped;               // why nothing was moved, when nothing was
};

// Must run before the process starts any other thread: the code is
// replaced while this one runs it. Refuses (skipped says why) when other
// threads exist, when transparent huge pages are off, or when the code
// segment holds no whole aligned 2 MiB page. Never leaves the code
// unmapped: on any failure the original mapping stays.
HugePageCodeResult move_code_to_huge_pages();

// The same, logging what was moved or why nothing was (info).
void move_code_to_huge_pages_and_log();

}  // namespace slimfaas::app
