// CodeStandardiser: y_sem standardised per component before the ShiftUNet's label_emb, an
// option of stage 3 (`ldae train-repr --set code_norm=running|batch`; off by default, as
// published). Why: on our cohorts the semantic encoder's codes differ between scans by
// 1-3 % of their size (docs/results.md, "Stage 3 for longer, and codes the branch can see"),
// so label_emb sees nearly one code for every scan and the shift branch learns a correction
// that ignores it. Standardised, the differences between scans are what the branch sees.
//
//   running:  c = (y - running_mean) / sqrt(running_var + eps)              (train and eval)
//   batch:    c = (y - mean over the micro-batch of y) / sqrt(running_var + eps)
//             in training, with the gradient through the mean, so the part of the gradient
//             that every scan of the batch shares does not reach the encoder; in eval, and for a
//             micro-batch of one scan, as running.
//
// The statistics are buffers (saved in checkpoints, used at inference): track() folds
// training codes in, the plain average of the first `warmup_codes` codes, then an exponential
// average with weight `weight` per code. Until two codes were seen, forward() is the identity.
// Like BatchNorm without the affine part, except for the scale in batch mode (the running
// one, steadier than a batch of four's) and the update rule.
#pragma once
#include <cstdint>
#include <string>

#include "nn/module.h"

namespace ldae::nets {

enum class CodeNorm { Off, Running, Batch };

// "off", "running" or "batch"; throws ldae::Error naming the choices for anything else.
CodeNorm parse_code_norm(const std::string& name);
std::string code_norm_name(CodeNorm mode);

struct CodeStandardiserOptions {
  CodeNorm mode = CodeNorm::Running;  // Running or Batch (Off builds no module)
  int64_t warmup_codes = 200;         // codes averaged plainly before the exponential average
  double weight = 0.005;              // weight of each later code in the running statistics
  double eps = 1e-8;                  // added to the variance
};

class CodeStandardiser : public nn::Module {
 public:
  CodeStandardiser(int64_t dim, const CodeStandardiserOptions& options = {});

  // y: (N, dim) -> (N, dim), see the header comment. Does not change the statistics.
  Tensor forward(const Tensor& y) const;
  // Folds the rows of y (N, dim) into the running statistics, row by row, in float64 on the
  // CPU (the buffers keep the module's dtype and device). No gradient.
  void track(const Tensor& y) const;

  int64_t codes_seen() const;
  const CodeStandardiserOptions& options() const { return options_; }

  Tensor running_mean, running_var, num_codes;  // (dim,), (dim,), () : the buffers

 private:
  int64_t dim_;
  CodeStandardiserOptions options_;
};

}  // namespace ldae::nets
