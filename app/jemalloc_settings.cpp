// The server's built-in jemalloc settings (app/CMakeLists.txt links this
// file only where jemalloc replaces malloc).
//
// jemalloc reads the `malloc_conf` symbol at its first allocation, then
// MALLOC_CONF from the environment, which wins: an operator can change or
// undo each setting without a rebuild (docs/configuration.md, "Memory").
//
// thp:always: the heap is advised for transparent huge pages. Why: under
// the paravirtualized hosts SlimFaas runs on, a minor page fault costs
// about 11 µs (shadow page tables); filling 2 MiB pages costs about 0.24 µs
// per 4 KiB. An async call's bytes are copied into memory that was never
// touched, or that the allocator gave back to the kernel: RocksDB's
// memtable, the log's write batch, the copies received from the leader.
// At 4 KiB per call that was one fault per call on every node; with this
// setting, 0.1 (docs/benchmarks/2026-12-07-38-heap-huge-pages.md).
//
// narenas:2: each arena's first huge pages are a fixed cost (about 4 MiB
// each, idle), and jemalloc's default of four arenas per CPU made an idle
// node 54 MiB instead of 21. Two arenas make it 29 MiB. The hot threads
// are few (ingress, delivery, Raft log, actors) and allocate mostly from
// their thread caches, which take no arena lock.
extern "C" {
const char* malloc_conf = "thp:always,narenas:2";
}
