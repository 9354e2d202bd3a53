// The linear probe of ldae-reference 7.2: per-feature z-scoring with statistics of the
// probe-train features, then one Linear(F, 1). Its output is a logit (AD vs CN, trained with
// BCE-with-logits) or a normalised age (trained with MSE). Which class is positive is the
// trainer's choice: the published disease_classifier.ckpt has CN = 1 (its weight points
// towards CN); `ldae probe` (ldae/probe.h) trains with AD = 1.
//
// State: buffers "mean" (F) and "std" (F) (the published semantic_mean.pt / semantic_std.pt),
// and "linear" (weight (1, F), bias (1)) as the published disease_classifier.ckpt.
#pragma once
#include <memory>
#include <vector>

#include "nn/linear.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace ldae::nets {

class LinearProbe : public nn::Module {
 public:
  // features > 0. mean starts at 0 and std at 1 (no normalisation until fit_normalisation);
  // the Linear is initialised like PyTorch's from gen.
  LinearProbe(int64_t features, Generator& gen);

  // features: (M, F) probe-train features, M >= 1. Sets mean to their per-feature mean and
  // std to their population standard deviation (divisor M, like the published script's);
  // a feature with std 0 (constant) gets std 1 instead, so it maps to 0 rather than NaN.
  void fit_normalisation(const Tensor& features);

  // Sets the weight to 0 and the bias to `bias`: the probe then starts as the constant
  // output `bias` (e.g. 0 for a classifier, the mean training target for a regressor).
  void start_constant(double bias);

  // y: (M, F) -> (M,): linear((y - mean) / std) squeezed.
  Tensor forward(const Tensor& y) const;

  // sigmoid(forward(y)) per row, in float64, without autograd: the positive class's
  // probability of a classifier probe (AD for `ldae probe`'s).
  std::vector<double> probabilities(const Tensor& y) const;

  // The Linear's weight as a vector (F), detached: the direction the probe reads, in the
  // z-scored space.
  Tensor direction() const;

  int64_t features() const { return features_; }
  Tensor mean;  // (F) buffer
  Tensor std;   // (F) buffer

 private:
  int64_t features_;
  std::shared_ptr<nn::Linear> linear_;
};

}  // namespace ldae::nets
