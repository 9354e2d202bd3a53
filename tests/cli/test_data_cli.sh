#!/usr/bin/env bash
# The data commands of `ldae` (synth, info, preprocess, figure) end to end on a tiny
# synthetic cohort: good input succeeds (exit 0), bad input is refused with "error: ..."
# (exit 1), wrong usage exits 2, and the same seed reproduces the cohort byte for byte;
# synth writes cohort.json, the record of how the cohort was drawn.
# synth runs on the template shipped in data/template/ unless told --phantom; batch
# preprocessing names outputs by subject and session and refuses collisions.
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
expect 0 "anatomy: .*data/template/mni_icbm152_2009a_t1_2mm.nii.gz" synth --out "$WORK/c4" --subjects 1 --shape 16,20,16 --visits 0 --no-overview
expect 0 "anatomy: procedural phantom" synth --out "$WORK/c5" --subjects 1 --shape 16,20,16 --visits 0 --phantom
# cohort.json, the record `ldae evaluate` rebuilds the ground truth from: the defaults record only
# seed, subjects, shape and visits; the phantom is named.
want='{"seed":3,"subjects":2,"shape":[32,40,32],"visits":[0,6,12,24]}'
if [ "$(tr -d ' \n' < "$WORK/c/cohort.json")" != "$want" ]; then
  echo "FAIL: cohort.json of the default cohort is not $want"
  failures=$((failures + 1))
fi
if ! grep -q '"anatomy": "phantom"' "$WORK/c5/cohort.json"; then
  echo "FAIL: the phantom cohort's cohort.json does not name the phantom"
  failures=$((failures + 1))
fi
expect 2 "excludes" synth --out "$WORK/c6" --phantom --template "$scan"
expect 1 "^error: synth: a template needs all three files" synth --out "$WORK/c7" --template "$scan"
expect 1 "^error: synth: visits must be increasing" synth --out "$WORK/c3" --visits 6,0
expect 2 "required" synth
# The diagnosis mix: all AD, and the refusals (not three numbers, a negative one, a bad sum).
expect 0 "wrote 2 scans of 2 subjects \\(CN 0, MCI 0, AD 2\\)" synth --out "$WORK/c8" --subjects 2 --shape 16,20,16 --visits 0 \
  --no-overview --diagnosis-mix 0,0,1
expect 2 "--diagnosis-mix: '0.5,0.5' is not three fractions" synth --out "$WORK/c9" --diagnosis-mix 0.5,0.5
expect 2 "is not three fractions" synth --out "$WORK/c9" --diagnosis-mix 0.5,0.6,-0.1
expect 2 "is not three fractions" synth --out "$WORK/c9" --diagnosis-mix 0.4,0.4,0.4
expect 2 "is not three fractions" synth --out "$WORK/c9" --diagnosis-mix 0.4,x,0.6
# What preprocessing has removed: recorded in cohort.json; the two flags exclude each other.
expect 0 "preprocessing already applied: full" synth --out "$WORK/c10" --subjects 1 --shape 16,20,16 --visits 0 \
  --no-overview --preprocessed
if grep -q '"preprocessed": true' "$WORK/c10/cohort.json"; then ok "cohort.json records preprocessed"; else fail "cohort.json lacks \"preprocessed\": true"; fi
expect 0 "preprocessing already applied: registered" synth --out "$WORK/c11" --subjects 1 --shape 16,20,16 \
  --visits 0 --no-overview --registered
expect 2 "excludes" synth --out "$WORK/c12" --registered --preprocessed

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

# Batch preprocessing: outputs are named by subject and session, so scans that share a
# file name in per-session folders (the usual layout) stay two files.
scan12="$WORK/c/sub-0001/sub-0001_ses-M12_T1w.nii.gz"
b="$WORK/bids"
mkdir -p "$b/sub-01/ses-M00/anat" "$b/sub-01/ses-M12/anat" "$b/sub-02/ses-bl/anat"
cp "$scan" "$b/sub-01/ses-M00/anat/T1w.nii.gz"
cp "$scan12" "$b/sub-01/ses-M12/anat/T1w.nii.gz"
cp "$scan" "$b/sub-02/ses-bl/anat/T1w.nii.gz"
printf 'subject,path,diagnosis,session,age\n' > "$b/manifest.csv"
printf 'sub-01,sub-01/ses-M00/anat/T1w.nii.gz,CN,ses-M00,70\n' >> "$b/manifest.csv"
printf 'sub-01,sub-01/ses-M12/anat/T1w.nii.gz,CN,m12,71\n' >> "$b/manifest.csv"
printf 'sub-02,sub-02/ses-bl/anat/T1w.nii.gz,AD,bl,72\n' >> "$b/manifest.csv"
expect 0 "wrote 3 volumes" preprocess --manifest "$b/manifest.csv" --out-dir "$WORK/pp" --spacing 8 --shape 8,8,8
for f in sub-01/sub-01_ses-M00_T1w.nii.gz sub-01/sub-01_ses-M12_T1w.nii.gz sub-02/sub-02_ses-M00_T1w.nii.gz; do
  if [ ! -f "$WORK/pp/$f" ] || ! grep -q "^sub-0[12],$f," "$WORK/pp/manifest.csv"; then
    echo "FAIL: $f missing, or not in $WORK/pp/manifest.csv:"
    sed 's/^/    /' "$WORK/pp/manifest.csv"
    failures=$((failures + 1))
  fi
done
if cmp -s "$WORK/pp/sub-01/sub-01_ses-M00_T1w.nii.gz" "$WORK/pp/sub-01/sub-01_ses-M12_T1w.nii.gz"; then
  echo "FAIL: months 0 and 12 of sub-01 gave the same output file content"
  failures=$((failures + 1))
fi
# The same with absolute paths from a manifest kept elsewhere (where the old naming, by
# file name, wrote both rows to one file).
mkdir -p "$WORK/elsewhere"
printf 'subject,path,diagnosis,session,age\n' > "$WORK/elsewhere/abs.csv"
printf 'sub-01,%s,CN,M00,70\n' "$b/sub-01/ses-M00/anat/T1w.nii.gz" >> "$WORK/elsewhere/abs.csv"
printf 'sub-01,%s,CN,M06,70\n' "$b/sub-01/ses-M12/anat/T1w.nii.gz" >> "$WORK/elsewhere/abs.csv"
expect 0 "wrote 2 volumes" preprocess --manifest "$WORK/elsewhere/abs.csv" --out-dir "$WORK/ppa" --spacing 8 --shape 8,8,8
if [ "$(ls "$WORK/ppa/sub-01" 2>/dev/null | wc -l)" -ne 2 ] || [ "$(cut -d, -f2 "$WORK/ppa/manifest.csv" | sort -u | wc -l)" -ne 3 ]; then
  echo "FAIL: two absolute-path rows did not give two files and two manifest paths:"
  ls -R "$WORK/ppa" | sed 's/^/    /'
  failures=$((failures + 1))
fi
# A true collision: the same subject and visit twice (M12 and 12 are one session).
cp "$b/manifest.csv" "$b/twice.csv"
printf 'sub-01,sub-01/ses-M00/anat/T1w.nii.gz,CN,12,71\n' >> "$b/twice.csv"
expect 1 "^error: .*twice.*line 3 \('sub-01/ses-M12/anat/T1w.nii.gz'\) and line 5 \('sub-01/ses-M00/anat/T1w.nii.gz'\)" \
  preprocess --manifest "$b/twice.csv" --out-dir "$WORK/pp2" --spacing 8
# Two subjects that become one file name ("sub.01" and "sub_01" both write sub_01/...).
printf 'subject,path,diagnosis,session,age\nsub.01,sub-01/ses-M00/anat/T1w.nii.gz,CN,0,70\n' > "$b/clash.csv"
printf 'sub_01,sub-01/ses-M12/anat/T1w.nii.gz,CN,0,70\n' >> "$b/clash.csv"
expect 1 "^error: preprocess: .*line 2 \('sub-01/ses-M00/anat/T1w.nii.gz'\) and line 3 \('sub-01/ses-M12/anat/T1w.nii.gz'\)" \
  preprocess --manifest "$b/clash.csv" --out-dir "$WORK/pp3" --spacing 8
for d in pp2 pp3; do
  if [ -e "$WORK/$d" ]; then
    echo "FAIL: a refused manifest still wrote $WORK/$d"
    failures=$((failures + 1))
  fi
done
# Bad session labels name the row and the label.
for bad in M6x -3 ""; do
  printf 'subject,path,diagnosis,session,age\nsub-01,sub-01/ses-M00/anat/T1w.nii.gz,CN,%s,70\n' "$bad" > "$b/bad.csv"
  expect 1 "^error: read_manifest: .*bad.csv:2: session '$bad' is not a visit label" \
    preprocess --manifest "$b/bad.csv" --out-dir "$WORK/pp4" --spacing 8
done

expect 0 "wrote .*f.png" figure "$scan" --out "$WORK/f.png"
expect 0 "wrote .*d.png" figure "$scan" "$WORK/c/sub-0001/sub-0001_ses-M24_T1w.nii.gz" --diff --out "$WORK/d.png"
expect 1 "^error: read_nifti: " figure "$WORK/not_nifti.nii" --out "$WORK/g.png"
expect 2 "" figure --out "$WORK/h.png"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all data CLI checks passed"
