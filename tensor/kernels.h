// Which CPU kernels the ops run: the fast ones (default) or the plain reference loops.
//
// The fast CPU kernels (e.g. tensor/cpu/conv_direct.cpp) are tiled, vectorised and threaded, and
// hard to read. Some ops also have a reference implementation written as plain nested loops
// (today: conv2d / conv3d in tensor/cpu/conv_reference.cpp; group norm and layer norm in
// tensor/cpu/norm_reference.cpp). With reference kernels on, those ops run the reference on the
// CPU instead: much slower, same results up to rounding. Use it to read
// along in a debugger, or to check that a surprising result is not a bug of a fast kernel. CUDA
// tensors are not affected.
//
// Two ways to switch it on:
//   - in the environment, before the program starts: LDAE_REFERENCE_KERNELS=1 (read once, the
//     first time the setting is needed; "0" or unset: off);
//   - in code: ldae::set_reference_kernels(true), which overrides the environment from then on.
#pragma once
#include <cstddef>

namespace ldae {

// Turns the reference CPU kernels on (true) or off (false) for every later op call, in every
// thread. Thread-safe.
void set_reference_kernels(bool on);

// True when the ops run the reference CPU kernels: the last value given to set_reference_kernels,
// else whether LDAE_REFERENCE_KERNELS is set to something other than "0" or "".
bool reference_kernels();

// ---- Attention memory ------------------------------------------------------------------------
// The attention ops (scaled_dot_product_attention, with or without autograd) materialise at most
// this many bytes of attention weights (all batch entries and heads of a (..., Lq, Lk) matrix)
// at once: a larger problem is processed in chunks of query rows, and its backward recomputes
// each chunk's weights instead of keeping them (as memory-efficient "flash" attention does, here
// with plain ops; the backward holds up to three chunk-sized matrices: P, gP, gS). The chunk size depends only on the shapes and the budget, so results stay
// bit-reproducible. Default 128 MiB; LDAE_ATTENTION_BUDGET_MB in the environment or
// set_attention_budget_bytes() (thread-safe) change it; at least one query row is processed at a
// time whatever the budget.
void set_attention_budget_bytes(size_t bytes);
size_t attention_budget_bytes();

}  // namespace ldae
