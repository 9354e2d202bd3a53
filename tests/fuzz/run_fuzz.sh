#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time, starting from the seed corpus.
# Usage: tests/fuzz/run_fuzz.sh [BUILD_DIR (default build-fuzz)] [SECONDS per target (default 30)]
# Exit status: 0 when no target found a crash, leak or timeout; 1 otherwise (the
# reproducer is left in BUILD_DIR/fuzz-artifacts/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build-fuzz}"
seconds="${2:-30}"
status=0
mkdir -p "$build/fuzz-artifacts"
for target in fuzz_nifti fuzz_manifest; do
  exe="$build/tests/fuzz/$target"
  if [[ ! -x "$exe" ]]; then
    echo "run_fuzz.sh: $exe not found; build with -DLDAE_FUZZ=ON and clang (see tests/fuzz/CMakeLists.txt)" >&2
    exit 2
  fi
  seeds="$here/corpus/${target#fuzz_}"
  work="$build/fuzz-corpus/${target#fuzz_}"   # grows between runs; the seeds stay untouched
  mkdir -p "$work"
  echo "== $target for ${seconds}s"
  if ! "$exe" "$work" "$seeds" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$build/fuzz-artifacts/$target-" -print_final_stats=1 2>"$build/fuzz-artifacts/$target.log"; then
    echo "$target FAILED: see $build/fuzz-artifacts/$target.log" >&2
    tail -n 40 "$build/fuzz-artifacts/$target.log" >&2
    status=1
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$build/fuzz-artifacts/$target.log" || true
  fi
done
exit $status
