# SPDX-License-Identifier: LGPL-2.1-or-later
# The "opencv" component of the installed frameshm package (frameshm::opencv),
# loaded by frameshmConfig.cmake for find_package(frameshm COMPONENTS opencv).
set(frameshm_opencv_FOUND FALSE)
include(CMakeFindDependencyMacro)
find_dependency(OpenCV 4 COMPONENTS core imgproc)
include("${CMAKE_CURRENT_LIST_DIR}/frameshmOpenCVTargets.cmake")
set(frameshm_opencv_FOUND TRUE)
