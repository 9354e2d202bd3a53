// Safetensors files: the checkpoint and test-case format PyTorch users already know
// (https://github.com/huggingface/safetensors). Layout:
//
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  a JSON object, UTF-8:
//                { "__metadata__": {"key": "value", ...},            (optional)
//                  "<name>": {"dtype": "F32", "shape": [2, 3],
//                             "data_offsets": [begin, end]}, ... }
//   [rest]     the data section; tensor <name> occupies bytes [begin, end) of it,
//              row-major, little-endian.
//
// The reader trusts nothing in the file: every length, offset, shape and dtype is
// checked before it is used, so a truncated, corrupted or hostile file produces an
// ldae::Error("safetensors: <file>: <problem>"), never a crash or a huge allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "tensor/tensor.h"

namespace ldae {

struct SafetensorsFile {
  // The tensors, converted to the framework's dtypes (CPU, contiguous):
  //   F32, F64         kept as they are;
  //   F16, BF16        converted to F32 (exact: every half value is a float value);
  //   I64, I32, I16, I8, U8, BOOL
  //                    converted to F64 (exact for integers of magnitude <= 2^53;
  //                    larger I64 values are rounded to the nearest double).
  // Other dtypes (U16, U32, U64, F8_*, ...) are refused with an error naming them.
  std::map<std::string, Tensor> tensors;
  // The "__metadata__" map (empty when the file has none).
  std::map<std::string, std::string> metadata;
  // The dtype each tensor had in the file ("F16", "I64", ...), by name.
  std::map<std::string, std::string> stored_dtype;
};

// Reads a safetensors file.
// Requires: `path` names a regular file in the layout above.
// Ensures: every tensor of the header is returned (see SafetensorsFile for dtypes).
// Throws ldae::Error("safetensors: <path>: <problem>") when the file is missing, not a
// regular file, truncated, or when the header is invalid: not a JSON object, header
// length over 100 MB or past the end of the file, an entry without a valid dtype /
// shape / data_offsets, offsets outside the data section, a byte size that is not
// numel * element size, two tensors sharing bytes, a "__metadata__" that is not a
// map of strings to strings, or a duplicate key.
SafetensorsFile read_safetensors(const std::string& path);

// The same, from a file already in memory (`name` is used in error messages).
// Useful for tests and fuzzing.
SafetensorsFile read_safetensors_from_memory(const void* bytes, size_t size,
                                             const std::string& name);

// Writes `tensors` (F32 or F64, CPU, any strides) and `metadata` to `path`.
// Requires: names non-empty and not "__metadata__"; tensors defined.
// Ensures: the file is replaced atomically: the data goes to "<path>.tmp.<pid>",
// which is flushed to disk (fsync) and then renamed over `path`, so a reader or a
// crash never sees a half-written file. Tensors are laid out in name order; the
// header is padded with spaces so that the data section starts at a multiple of 8.
// Throws ldae::Error("safetensors: <path>: <problem>") on invalid input or I/O failure
// (the temporary file is removed).
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ldae
