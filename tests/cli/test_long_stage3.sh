#!/usr/bin/env bash
# docs/analysis/long_stage3.sh (stage 3 under a time limit, then what its codes carry; meant for
# a lent GPU) at the tiny preset on the CPU with limits of a nanosecond: stage 2 stops after
# epoch 1 of 10 and stage 3 after epoch 1 of 50 (`--time-limit`), the codes are encoded and
# probed, the summary holds every part, and KEEP gets its 6 files. With numpy, also the ridge
# read-out's five rows.
# Usage: test_long_stage3.sh /path/to/ldae /path/to/source
set -u
LDAE=${1:?usage: test_long_stage3.sh /path/to/ldae /path/to/source}
SRC=${2:?usage: test_long_stage3.sh /path/to/ldae /path/to/source}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
export OMP_NUM_THREADS=1
PY=$(numpy_python)  # for the ridge read-out; without numpy the script skips it
PY=${PY:-python3}

if KEEP="$WORK/kept" PYTHON=$PY PRESET=tiny LDM_EPOCHS=10 LDM_MIN=1e-9 REPR_EPOCHS=50 REPR_MIN=1e-9 \
   bash "$SRC/docs/analysis/long_stage3.sh" "$LDAE" "$WORK/out" cpu > "$WORK/log.txt" 2>&1; then
  ok "long_stage3.sh ran"
else
  fail "long_stage3.sh failed:"; sed 's/^/    /' "$WORK/log.txt"
fi
S="$WORK/out/summary.txt"
for pattern in 'preset tiny, seed 0, device cpu' \
               '2-ldm: stopped early: the time limit of 1e-09 min \(--time-limit\) was reached after epoch 1 of 10' \
               '3-repr: stopped early: the time limit of 1e-09 min \(--time-limit\) was reached after epoch 1 of 50' \
               'stage 3 by epoch' '^  1 [0-9.e-]+ [0-9.e-]+ ' \
               'AD vs CN: AUC [0-9.]+ \[[0-9.]+, [0-9.]+\] on [0-9]+ test subjects; age: MAE [0-9.]+'; do
  grep -Eq -- "$pattern" "$S" && ok "summary: /$pattern/" || fail "summary lacks /$pattern/"
done
grep -q '"epochs_planned": 50' "$WORK/out/runs/3-repr/done.json" && ok "stage 3's done.json: 1 epoch of 50" \
  || fail "stage 3's done.json: $(cat "$WORK/out/runs/3-repr/done.json")"
n=$(ls "$WORK/kept" 2> /dev/null | wc -l)
[ "$n" -eq 6 ] && cmp -s "$S" "$WORK/kept/summary.txt" && [ -s "$WORK/kept/log_3-repr.csv" ] \
  && ok "KEEP: 6 files, summary.txt among them" || fail "KEEP: $(ls "$WORK/kept" 2> /dev/null | tr '\n' ' ')"
if "$PY" -c 'import numpy' 2> /dev/null; then
  n=$(grep -cE '^  (hippocampus_ml|ventricle_ml|gm_ml|severity|age) +out-of-fold R\^2' "$S")
  [ "$n" -eq 5 ] && ok "ridge read-out: 5 rows" || fail "ridge read-out: $n rows, want 5"
else
  echo "note: no numpy for python3, the ridge read-out is not checked"
fi
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
