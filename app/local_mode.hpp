#pragma once
// `slimfaas local validate` and `slimfaas local up`: functions from a
// `slimfaas.local.yaml` manifest run as OS processes on this machine, behind
// a slimfaas node that scales them (to zero and back) like Kubernetes
// workloads. See docs/local-mode.md.
#include <filesystem>
#include <string>
#include <vector>

#include "app/local_manifest.hpp"

namespace slimfaas::app {

// `args` are what follows `slimfaas local`. Returns the exit code: 0, 1 for
// a failure while running, 2 for bad usage or an invalid manifest.
int local_command(const std::vector<std::string>& args);

// The state directory of a manifest, created if needed and marked as ours
// (`.slimfaas-local.json`). `clean` first deletes it, but only when it
// carries our marker. Throws std::runtime_error with a message for the user
// when the directory is not ours, or belongs to a cluster of another size.
std::filesystem::path prepare_state_directory(const LocalManifest& manifest, bool clean);

// What the node's log level is for a manifest's `cluster.nodeLogLevel`
// (Trace, Debug, Information, Warning, Error, Critical, None).
std::string node_log_level(const std::string& manifest_level);

}  // namespace slimfaas::app
