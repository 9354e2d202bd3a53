// The ROC curve of a probe as a PNG figure (data/figures.h's Image and font): a square
// plot with axes, ticks at 0, 0.25, ..., 1, the chance diagonal (dashed grey), the curve
// (blue, steps between the points), axis labels and a title (e.g. "AD vs CN (test): AUC
// 0.912 [0.85, 0.96]").
#pragma once
#include <string>
#include <vector>

#include "data/figures.h"
#include "ldae/probe_metrics.h"

namespace ldae::probe {

// curve: from roc_curve() (at least 2 points, coordinates in [0, 1]). Throws ldae::Error
// for an empty or out-of-range curve.
data::Image roc_figure(const std::vector<RocPoint>& curve, const std::string& title,
                       const std::string& x_label = "false positive rate (1 - specificity)",
                       const std::string& y_label = "true positive rate (sensitivity)");

}  // namespace ldae::probe
