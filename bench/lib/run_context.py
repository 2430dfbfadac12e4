"""What a benchmark result names about its run: the commit (BENCH_COMMIT
overrides it when the binary was built from another tree), whether the work
tree had uncommitted changes, the CPU and the binary's build type."""
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_context(binary):
    given = os.environ.get("BENCH_COMMIT")
    commit = given or subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()
    dirty = "" if given else subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    build = "?"
    cache = os.path.join(os.path.dirname(binary), "CMakeCache.txt")
    if os.path.exists(cache):
        build = next((l.split("=", 1)[1].strip() for l in open(cache) if l.startswith("CMAKE_BUILD_TYPE:")), "?")
    return {"commit": commit, "dirty": bool(dirty), "cpu": cpu, "build": build, "cores": os.cpu_count()}
