// The settings of stage 3, `ldae train-repr` (ldae-reference 5.3-5.5): the published values
// at the paper preset, smaller runs at tiny (tests, seconds) and course (the tutorials,
// minutes on a 2-core CPU). See ldae/run/settings.h for how they are resolved.
#pragma once
#include "ldae/run/settings.h"

namespace ldae::stages {

const run::SettingsTable& train_repr_settings();

}  // namespace ldae::stages
