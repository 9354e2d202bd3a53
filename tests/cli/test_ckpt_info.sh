#!/usr/bin/env bash
# `ldae ckpt info FILE` on a good safetensors file and on hostile ones: the good file is
# listed (exit 0); every bad file is refused with "error: ..." on stderr and exit 1 (never
# a crash); wrong usage exits 2.
# Usage: test_ckpt_info.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_ckpt_info.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# le64 N: N as 8 little-endian bytes.
le64() {
  local n=$1 i
  for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf '%03o' $(((n >> (8 * i)) & 255)))"; done
}
# write_st FILE HEADER DATA_BYTES: a safetensors file with this header and DATA_BYTES zero bytes.
write_st() {
  { le64 ${#2}; printf '%s' "$2"; head -c "$3" /dev/zero; } > "$1"
}

source "$(dirname "$0")/expect.sh"

good='{"__metadata__":{"ldae.format":"ldae-checkpoint-1","ldae.step":"12"},"model.w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"optim.w.step":{"dtype":"F64","shape":[],"data_offsets":[24,32]},"ema.w":{"dtype":"F16","shape":[2,3],"data_offsets":[32,44]}}'
write_st "$WORK/good.safetensors" "$good" 44
expect 0 'model\.w +F32 +\[2, 3\]' ckpt info "$WORK/good.safetensors"
expect 0 'ema\.w +F16 +\[2, 3\]' ckpt info "$WORK/good.safetensors"
expect 0 'optim\.w\.step +F64 +\[\]' ckpt info "$WORK/good.safetensors"
expect 0 'ldae\.step = 12' ckpt info "$WORK/good.safetensors"
expect 0 'ldae checkpoint .*step 12' ckpt info "$WORK/good.safetensors"

# Hostile files.
head -c 50 "$WORK/good.safetensors" > "$WORK/truncated_header.safetensors"
expect 1 '^error: .*truncated_header' ckpt info "$WORK/truncated_header.safetensors"
head -c $(($(wc -c < "$WORK/good.safetensors") - 4)) "$WORK/good.safetensors" > "$WORK/truncated_data.safetensors"
expect 1 '^error: .*truncated_data' ckpt info "$WORK/truncated_data.safetensors"
write_st "$WORK/not_json.safetensors" '{"a": [1, 2' 0
expect 1 '^error: .*not valid JSON' ckpt info "$WORK/not_json.safetensors"
write_st "$WORK/not_object.safetensors" '[1, 2, 3]' 0
expect 1 '^error: .*not a JSON object' ckpt info "$WORK/not_object.safetensors"
write_st "$WORK/overlap.safetensors" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
expect 1 '^error: .*overlap in the data section' ckpt info "$WORK/overlap.safetensors"
write_st "$WORK/out_of_bounds.safetensors" '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' 8
expect 1 '^error: .*out_of_bounds' ckpt info "$WORK/out_of_bounds.safetensors"
write_st "$WORK/bad_dtype.safetensors" '{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}' 1
expect 1 '^error: .*Q7' ckpt info "$WORK/bad_dtype.safetensors"
write_st "$WORK/size_mismatch.safetensors" '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}' 8
expect 1 '^error: .*size_mismatch' ckpt info "$WORK/size_mismatch.safetensors"
{ le64 1000000000000; printf '{}'; } > "$WORK/huge_header.safetensors"
expect 1 '^error: .*header length' ckpt info "$WORK/huge_header.safetensors"
: > "$WORK/empty.safetensors"
expect 1 '^error: .*empty.safetensors' ckpt info "$WORK/empty.safetensors"
expect 1 '^error: .*no such file' ckpt info "$WORK/missing.safetensors"
expect 1 '^error: .*directory' ckpt info "$WORK"

# Wrong usage.
expect 2 'usage error' ckpt info
expect 2 'usage error' ckpt
expect 2 'usage error' ckpt info "$WORK/good.safetensors" extra
expect 2 'usage error' ckpt frobnicate

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all ldae ckpt info checks passed"
