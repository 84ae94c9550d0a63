# FindFDT: libfdt (Debian: libfdt-dev), the flattened device tree library the arm64 machine builds
# its device tree with. Debian 12's libfdt-dev has no pkg-config file and is not Multi-Arch: same, so
# the arm64 cross build (toolchain-aarch64-linux-gnu.cmake) uses the amd64 package's headers (the same
# files for every architecture) with libfdt1:arm64's library, found by its soname libfdt.so.1 as
# there is no libfdt.so link for arm64. Natively (amd64 or arm64) this finds libfdt.so as usual.
# Use: list(APPEND CMAKE_MODULE_PATH ${PROJECT_SOURCE_DIR}/cmake), find_package(FDT REQUIRED),
# target_link_libraries(... PRIVATE FDT::FDT).
find_path(FDT_INCLUDE_DIR NAMES libfdt.h)
find_library(FDT_LIBRARY NAMES fdt libfdt.so.1)
mark_as_advanced(FDT_INCLUDE_DIR FDT_LIBRARY)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(FDT REQUIRED_VARS FDT_LIBRARY FDT_INCLUDE_DIR)
if(FDT_FOUND AND NOT TARGET FDT::FDT)
  add_library(FDT::FDT UNKNOWN IMPORTED)
  set_target_properties(FDT::FDT PROPERTIES IMPORTED_LOCATION "${FDT_LIBRARY}"
                                            INTERFACE_INCLUDE_DIRECTORIES "${FDT_INCLUDE_DIR}")
endif()
