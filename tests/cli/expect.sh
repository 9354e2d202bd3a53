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
