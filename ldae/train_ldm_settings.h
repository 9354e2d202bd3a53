// The settings of stage 2, `ldae train-ldm` (ldae-reference 4.2): the published values at
// the paper preset, smaller runs at tiny (tests, seconds) and course (the tutorials,
// minutes on a 2-core CPU). See ldae/run/settings.h for how they are resolved.
#pragma once
#include "ldae/run/settings.h"

namespace ldae::stages {

const run::SettingsTable& train_ldm_settings();

}  // namespace ldae::stages
