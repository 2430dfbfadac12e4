#pragma once
// SIGTERM and SIGINT end a slimfaas process: they are blocked in every
// thread (call block_stop_signals() before starting any) and taken by one
// sigwait() on the main thread. SIGPIPE is ignored: a peer that hangs up is
// an error code on the socket, not a signal.
#include <csignal>
#include <pthread.h>

namespace slimfaas::app {

inline sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

inline void block_stop_signals() {
  sigset_t set = stop_signal_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

// Returns SIGTERM or SIGINT.
inline int wait_for_stop_signal() {
  sigset_t set = stop_signal_set();
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

}  // namespace slimfaas::app
