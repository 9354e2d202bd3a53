// The PCA-of-the-images baseline's memory limit on its training scans (ldae/evaluate.h): the
// course demo's fit, the paper preset's does not, and the refusal says why.
#include <gtest/gtest.h>

#include <string>

#include "ldae/evaluate.h"

using ldae::stages::image_pca_too_large;

TEST(ImagePcaLimit, CourseDemoFitsAndThePaperPresetDoesNot) {
  EXPECT_EQ(image_pca_too_large(112, 64 * 80 * 64), "");  // the course demo: 3.7e7 values
  EXPECT_EQ(image_pca_too_large(320, 64 * 80 * 64), "");  // 1.05e8 values
  EXPECT_EQ(image_pca_too_large(1, 1), "");
  // The paper preset: 160 x 192 x 160 voxels; 20 training scans are already 9.8e7, 40 are 1.97e8.
  EXPECT_EQ(image_pca_too_large(19, 160 * 192 * 160), "");
  const std::string why = image_pca_too_large(40, 160 * 192 * 160);
  EXPECT_NE(why.find("40 training scans of 4915200 voxels"), std::string::npos) << why;
  EXPECT_NE(why.find("exceed the 1.5e+08"), std::string::npos) << why;
}
