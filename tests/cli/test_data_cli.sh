#!/usr/bin/env bash
# The data commands of `ldae` (synth, info, preprocess, figure) end to end on a tiny
# synthetic cohort: good input succeeds (exit 0), bad input is refused with "error: ..."
# (exit 1), wrong usage exits 2, and the same seed reproduces the cohort byte for byte.
# Usage: test_data_cli.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_data_cli.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

source "$(dirname "$0")/expect.sh"

scan="$WORK/c/sub-0001/sub-0001_ses-M00_T1w.nii.gz"
expect 0 "synth" --help
expect 0 "wrote 8 scans of 2 subjects" synth --out "$WORK/c" --subjects 2 --shape 32,40,32 --seed 3 --no-overview
expect 0 "wrote 8 scans" synth --out "$WORK/c2" --subjects 2 --shape 32,40,32 --seed 3 --no-overview
if ! diff -r -q "$WORK/c" "$WORK/c2" > /dev/null; then
  echo "FAIL: the same seed gave different cohorts"
  failures=$((failures + 1))
fi
expect 1 "^error: synth: visits must be increasing" synth --out "$WORK/c3" --visits 6,0
expect 2 "required" synth

expect 0 "dimensions: +32 x 40 x 32" info "$scan"
expect 0 "RAS" info "$scan"
expect 1 "^error: read_nifti: .*no such file" info "$WORK/missing.nii.gz"
echo hello > "$WORK/not_nifti.nii"
expect 1 "^error: read_nifti: " info "$WORK/not_nifti.nii"
expect 2 "" info

expect 0 "24x28x24 at 4x4x4 mm, RAS" preprocess "$scan" "$WORK/p.nii.gz" --spacing 4 --shape 24,28,24
expect 0 "dimensions: +24 x 28 x 24" info "$WORK/p.nii.gz"
expect 2 "bogus" preprocess "$scan" "$WORK/q.nii.gz" --normalize bogus
expect 1 "^error: " preprocess "$WORK/missing.nii.gz" "$WORK/q.nii.gz"

expect 0 "wrote .*f.png" figure "$scan" --out "$WORK/f.png"
expect 0 "wrote .*d.png" figure "$scan" "$WORK/c/sub-0001/sub-0001_ses-M24_T1w.nii.gz" --diff --out "$WORK/d.png"
expect 1 "^error: read_nifti: " figure "$WORK/not_nifti.nii" --out "$WORK/g.png"
expect 2 "" figure --out "$WORK/h.png"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all data CLI checks passed"
