#!/usr/bin/env bash
# docs/analysis/voxel_ridge.py (the check behind the probes' reading in docs/results.md) on a
# small generated cohort: it runs, prints the true hippocampal volume's test AUC and one line
# per training size, and every AUC it prints lies in [0, 1]. docs/analysis/voxel_pca.py on the
# same cohort: eight components, shares of the variance that fall, correlations in [-1, 1] and
# AUCs in [0.5, 1] (the larger of the two signs). Needs python3 with numpy
# (python3-numpy); exits 77 (skipped, with the reason) without it.
# Usage: test_voxel_ridge.sh /path/to/ldae /path/to/source
set -u
LDAE=${1:?usage: test_voxel_ridge.sh /path/to/ldae /path/to/source}
SRC=${2:?usage: test_voxel_ridge.sh /path/to/ldae /path/to/source}
source "$(dirname "$0")/expect.sh"
PY=$(numpy_python)
if [ -z "$PY" ]; then
  echo "skipped: no python3 with numpy (apt-get install python3-numpy), which the script needs"
  exit 77
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

expect 0 'manifest' synth --out "$WORK/cohort" --subjects 30 --seed 0 --shape 16,20,16 --visits 0,12 --no-overview
if "$PY" "$SRC/docs/analysis/voxel_ridge.py" "$WORK/cohort/manifest.csv" > "$WORK/out.txt" 2>&1; then
  echo "ok:   voxel_ridge.py ran"
else
  echo "FAIL: voxel_ridge.py failed:"; sed 's/^/    /' "$WORK/out.txt"; failures=$((failures + 1))
fi
grep -Eq '^[0-9]+ test subjects \([0-9]+ scans\); true hippocampal volume: test AUC [01]\.[0-9]{3}$' "$WORK/out.txt" \
  && echo "ok:   the oracle line" || { echo "FAIL: no oracle line:"; cat "$WORK/out.txt"; failures=$((failures + 1)); }
n=$(grep -Ec '^[0-9]+ AD/CN training subjects \([0-9]+ scans\): voxel ridge test AUC, penalty 100: [01]\.[0-9]{3}, penalty 10000: [01]\.[0-9]{3}, penalty 1e\+06: [01]\.[0-9]{3}$' "$WORK/out.txt")
[ "$n" -eq 5 ] && echo "ok:   five training sizes, three AUCs each" \
  || { echo "FAIL: $n well-formed training lines of 5:"; cat "$WORK/out.txt"; failures=$((failures + 1)); }
# Every printed AUC is a probability (the only decimals in the output; sizes and penalties are integers).
"$PY" - "$WORK/out.txt" <<'PY' && echo "ok:   every AUC in [0, 1]" || { echo "FAIL: an AUC outside [0, 1]"; failures=$((failures + 1)); }
import re, sys
values = [float(v) for v in re.findall(r'\b\d+\.\d+\b', open(sys.argv[1]).read())]  # AUCs only: the rest are integers
sys.exit(0 if values and all(0 <= v <= 1 for v in values) else 1)
PY

if "$PY" "$SRC/docs/analysis/voxel_pca.py" "$WORK/cohort/manifest.csv" > "$WORK/pca.txt" 2>&1; then
  echo "ok:   voxel_pca.py ran"
else
  echo "FAIL: voxel_pca.py failed:"; sed 's/^/    /' "$WORK/pca.txt"; failures=$((failures + 1))
fi
"$PY" - "$WORK/pca.txt" <<'PY' && echo "ok:   voxel_pca.py: 8 well-formed components" \
  || { echo "FAIL: voxel_pca.py's output:"; cat "$WORK/pca.txt"; failures=$((failures + 1)); }
import re, sys
pattern = (r'^component (\d): ([\d.]+) % of the variance; correlation with severity ([+-][\d.]+), age ([+-][\d.]+), '
           r'hippocampus_ml ([+-][\d.]+), ventricle_ml ([+-][\d.]+), gm_ml ([+-][\d.]+); AD vs CN AUC ([\d.]+)$')
found = [re.match(pattern, line) for line in open(sys.argv[1]).read().splitlines()[1:]]
ok = len(found) == 8 and all(found)
if ok:
    shares = [float(m.group(2)) for m in found]
    ok = [int(m.group(1)) for m in found] == list(range(1, 9)) and shares == sorted(shares, reverse=True)
    ok = ok and all(-1 <= float(m.group(i)) <= 1 for m in found for i in range(3, 8))
    ok = ok and all(0.5 <= float(m.group(8)) <= 1 for m in found)
sys.exit(0 if ok else 1)
PY
exit $((failures > 0))
