#include "apps/cohort_args.h"

namespace ldae::app {

void add_preprocessing_flags(CLI::App* sub, data::Preprocessing& target) {
  auto* registered = sub->add_flag_callback(
      "--registered", [&target] { target = data::Preprocessing::registered; },
      "Scans as an exact affine registration to the template leaves them: every subject's head size and pose "
      "removed (the same subjects otherwise)");
  sub->add_flag_callback("--preprocessed", [&target] { target = data::Preprocessing::full; },
                         "Scans roughly as a whole preprocessing leaves them: registered as above, no bias field (bias "
                         "correction), 30 % of the smooth random deformation (what a deformable registration leaves; "
                         "a guess) and the template's tissue intensities (intensity standardisation); the same "
                         "subjects otherwise")
      ->excludes(registered);
}

}  // namespace ldae::app
