#pragma once
// Names the calling thread, so that `top -H`, `perf` and /proc/<pid>/task
// tell a node's threads apart (the kernel keeps 15 bytes; the rest is cut).
#include <pthread.h>

#include <string>
#include <string_view>

namespace slimfaas::net {

inline void name_this_thread(std::string_view name) {
  const std::string kept(name.substr(0, 15));
  ::pthread_setname_np(::pthread_self(), kept.c_str());
}

// For a detached CAF actor: its private thread exists only once the actor
// handles a message, so it names itself there, the first time.
inline void name_this_thread_once(std::string_view name) {
  thread_local bool named = false;
  if (named) return;
  name_this_thread(name);
  named = true;
}

}  // namespace slimfaas::net
