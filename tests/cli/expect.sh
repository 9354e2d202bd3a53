# Shared by the tests/cli/*.sh scripts (source it after setting LDAE).
# expect CODE PATTERN ARGS...: runs "$LDAE" ARGS, checks the exit code and that the output
# (stdout + stderr) matches PATTERN (grep -E); counts mismatches in $failures.
failures=0

expect() {
  local code=$1 pattern=$2
  shift 2
  local out rc
  out=$("$LDAE" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$code" ] || ! printf '%s' "$out" | grep -Eq -- "$pattern"; then
    echo "FAIL: ldae $* -> exit $rc (want $code), output:"
    printf '%s\n' "$out" | sed 's/^/    /'
    echo "    (wanted /$pattern/)"
    failures=$((failures + 1))
  else
    echo "ok:   ldae $* -> exit $rc"
  fi
}

# ok MESSAGE / fail MESSAGE: one line of the test's report; fail counts in $failures.
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() { echo "ok:   $*"; }
# numpy_python: prints the first python3 with numpy, the one on PATH or else Debian's
# /usr/bin/python3 (python3-numpy installs there); prints nothing when neither has it.
numpy_python() {
  local candidate
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import numpy' 2> /dev/null; then echo "$candidate"; return; fi
  done
}
# now: seconds since the epoch, with fractions (for the timing lines).
now() { date +%s.%N; }

# kill_during_run DIR TARGET PAUSE ARGS...: runs "$LDAE" ARGS (a training stage writing
# DIR/log.csv) in the background and kills it with kill -9 once log.csv has TARGET rows,
# after a random pause of 0 to PAUSE-1 hundredths of a second (anywhere in the next step,
# maybe inside a checkpoint write). Reports ok when the run was killed before it finished.
kill_during_run() {
  local dir=$1 target=$2 pause=$3
  shift 3
  "$LDAE" "$@" > /dev/null 2>&1 &
  local pid=$! killed=0
  for _ in $(seq 1 6000); do
    if [ -f "$dir/log.csv" ] && [ "$(($(wc -l < "$dir/log.csv") - 1))" -ge "$target" ]; then
      sleep "$(printf '0.%02d' $((RANDOM % pause)))"
      kill -9 "$pid" 2>/dev/null && killed=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  wait "$pid" 2>/dev/null
  local at=$(($(wc -l < "$dir/log.csv") - 1))
  if [ "$killed" -eq 1 ] && [ ! -f "$dir/done.json" ]; then ok "killed with kill -9 after $at log rows (target $target)"
  else fail "the run finished before the kill (target $target rows)"; fi
}

# expect_same_files A B FILE...: each FILE of run folder B byte-identical to A's (cmp).
expect_same_files() {
  local a=$1 b=$2
  shift 2
  for f in "$@"; do
    cmp -s "$a/$f" "$b/$f" && ok "$(basename "$b")/$f byte-identical to $(basename "$a")/$f" \
      || fail "$(basename "$b")/$f differs from $(basename "$a")/$f"
  done
}
