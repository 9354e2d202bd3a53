#!/usr/bin/env bash
# `ldae probe` end to end on a generated features.csv (a feature that separates AD from CN,
# one that follows age, two of noise): the outputs exist, the same inputs and seed give an
# identical probe.json, --pca and the oracle mode (a hand-written manifest with a
# hippocampus_ml column) run, and bad input is refused (exit 1 "error: ...", usage exit 2).
# Usage: test_probe_cli.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_probe_cli.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

source "$(dirname "$0")/expect.sh"

# 90 subjects x 2 sessions; diagnosis cycles CN, AD, MCI; split by subject 60/20/20.
# Pseudo-random numbers from a hash of (subject, column), so every awk gives the same file.
awk 'function h(a, b) { x = sin(a * 12.9898 + b * 78.233) * 43758.5453; return x - int(x) - 0.5 }
BEGIN {
  print "subject,session,diagnosis,age,split,y0,y1,y2,y3"
  for (s = 0; s < 90; s++) {
    dx = (s % 3 == 0) ? "CN" : ((s % 3 == 1) ? "AD" : "MCI")
    m = s % 10; part = (m < 6) ? "train" : ((m < 8) ? "val" : "test")
    age0 = 60 + 30 * (h(s, 99) + 0.5)
    for (ses = 0; ses < 2; ses++) {
      age = age0 + ses
      shift = (dx == "AD") ? 1.5 : ((dx == "CN") ? -1.5 : 0)
      printf "sub-%03d,%d,%s,%.2f,%s,%.6f,%.6f,%.6f,%.6f\n", s, 12 * ses, dx, age, part,
             shift + 2 * h(s, ses + 1), (age - 75) / 8 + 0.05 * h(s, ses + 5), 2 * h(s, ses + 7), 2 * h(s, ses + 9)
    }
  }
}' > "$WORK/features.csv"

expect 0 "Linear probes" probe --help
expect 0 "AD vs CN on 24 test scans: AUC .*age on 36 test scans" probe --features "$WORK/features.csv" --out "$WORK/p1" \
  --epochs 60 --bootstrap 200 --quiet
for f in probe.json predictions.csv roc.png probes.safetensors; do
  if [ ! -s "$WORK/p1/$f" ]; then
    echo "FAIL: $WORK/p1/$f missing or empty"
    failures=$((failures + 1))
  fi
done
if [ "$(head -c 4 "$WORK/p1/roc.png" | tail -c 3)" != "PNG" ]; then
  echo "FAIL: roc.png is not a PNG file"
  failures=$((failures + 1))
fi
# One prediction per test scan (36) plus the header; AD is the positive class.
if [ "$(wc -l < "$WORK/p1/predictions.csv")" -ne 37 ] || ! grep -q '"positive_class": "AD"' "$WORK/p1/probe.json"; then
  echo "FAIL: predictions.csv should have 37 lines and probe.json name AD positive"
  failures=$((failures + 1))
fi
# Deterministic: the same inputs and seed give the same report (progress on or off).
expect 0 "AUC" probe --features "$WORK/features.csv" --out "$WORK/p2" --epochs 60 --bootstrap 200
if ! cmp -s "$WORK/p1/probe.json" "$WORK/p2/probe.json" || ! cmp -s "$WORK/p1/predictions.csv" "$WORK/p2/predictions.csv"; then
  echo "FAIL: the same seed gave a different probe.json or predictions.csv"
  failures=$((failures + 1))
fi
expect 0 "AUC" probe --features "$WORK/features.csv" --out "$WORK/p3" --epochs 60 --bootstrap 200 --seed 5 --quiet
if cmp -s "$WORK/p1/probe.json" "$WORK/p3/probe.json"; then
  echo "FAIL: another seed gave the same probe.json"
  failures=$((failures + 1))
fi
expect 0 "AUC" probe --features "$WORK/features.csv" --out "$WORK/pca" --pca 2 --epochs 5 --bootstrap 0 --quiet
if ! grep -q '"pca_components": 2' "$WORK/pca/probe.json"; then
  echo "FAIL: --pca not recorded in probe.json"
  failures=$((failures + 1))
fi

# The oracle: one manifest column (no images needed), split by subject as train-ae.
{
  echo "subject,path,diagnosis,session,age,hippocampus_ml"
  for s in $(seq 0 59); do
    if [ $((s % 2)) -eq 1 ]; then dx=AD; hip=5.$((s % 7)); else dx=CN; hip=7.$((s % 7)); fi
    echo "sub-$s,x.nii.gz,$dx,0,$((60 + s % 25)),$hip"
    echo "sub-$s,y.nii.gz,$dx,12,$((61 + s % 25)),$hip"
  done
} > "$WORK/manifest.csv"
expect 0 "AUC" probe --oracle-column hippocampus_ml --data "$WORK/manifest.csv" --out "$WORK/oracle" --epochs 20 \
  --bootstrap 50 --test-fraction 0.3 --quiet
if ! grep -q '"column": "hippocampus_ml"' "$WORK/oracle/probe.json"; then
  echo "FAIL: the oracle column is not recorded in probe.json"
  failures=$((failures + 1))
fi

# Refusals.
expect 1 "^error: read_features: .*cannot open" probe --features "$WORK/missing.csv" --out "$WORK/x"
sed 's/^sub-000,0,CN,\([0-9.]*\),train,[-0-9.]*,/sub-000,0,CN,\1,train,nan,/' "$WORK/features.csv" > "$WORK/nan.csv"
expect 1 "^error: read_features: .*nan.csv:2: feature y0 is \"nan\", not a finite number" probe --features "$WORK/nan.csv" --out "$WORK/x"
cut -d, -f1-4,6- "$WORK/features.csv" > "$WORK/nosplit.csv"
expect 1 "^error: read_features: .*missing column\(s\) split" probe --features "$WORK/nosplit.csv" --out "$WORK/x"
sed 's/,test,/,val,/' "$WORK/features.csv" > "$WORK/notest.csv"
expect 1 "^error: probe: .*the test split is empty" probe --features "$WORK/notest.csv" --out "$WORK/x"
sed 's/,AD,\([0-9.]*\),train,/,MCI,\1,train,/' "$WORK/features.csv" > "$WORK/noad.csv"
expect 1 "^error: probe: .*the train split has no AD scan" probe --features "$WORK/noad.csv" --out "$WORK/x"
expect 1 "^error: oracle_features: .*no column \"ventricle_ml\"" probe --oracle-column ventricle_ml --data "$WORK/manifest.csv" --out "$WORK/x"
expect 2 "required" probe --features "$WORK/features.csv"
expect 2 "--features" probe --out "$WORK/x"
expect 2 "not both" probe --features "$WORK/features.csv" --oracle-column hippocampus_ml --data "$WORK/manifest.csv" --out "$WORK/x"
expect 2 "needs --data" probe --oracle-column hippocampus_ml --out "$WORK/x"
expect 2 "" probe --features "$WORK/features.csv" --out "$WORK/x" --epochs 0

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all probe CLI checks passed"
