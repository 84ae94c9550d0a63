# Cross build for arm64 (aarch64) with Debian 12's cross toolchain (g++-aarch64-linux-gnu, g++ 12) and
# the arm64 multiarch libraries in /usr/lib/aarch64-linux-gnu (scripts/install-deps --arm64):
#   cmake -S . -B build-arm64 --toolchain cmake/toolchain-aarch64-linux-gnu.cmake   (./run build-arm64)
# There is no sysroot: Debian's multiarch layout keeps both architectures' libraries under /usr, one
# directory per architecture, and the arm64 headers that differ in /usr/include/aarch64-linux-gnu.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# find_library, find_path and find_package look in /usr/lib/aarch64-linux-gnu (and its cmake/ for
# fmt, pugixml, GTest) and never in /usr/lib/x86_64-linux-gnu: CMake's multiarch search uses this.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# The cross compiler's own root (libc, libstdc++) and the multiarch root /; programs (pkg-config,
# bash, the testbed's tools) are this machine's.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg_check_modules (libpci, libseccomp, liburing, libvncserver, libvncclient) reads the arm64 .pc
# files only. pkgconfig-aarch64/ stands in for libvncserver-dev:arm64, which Debian 12 cannot
# install beside libvncserver-dev (amd64): see the files there.
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig:${CMAKE_CURRENT_LIST_DIR}/pkgconfig-aarch64")
unset(ENV{PKG_CONFIG_PATH})
# Unit tests (gtest_discover_tests lists each binary's tests at build time) and ctest run the arm64
# binaries under qemu-user on an x86_64 machine (install-deps --arm64 installs it).
if(NOT CMAKE_HOST_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  foreach(qemu /usr/bin/qemu-aarch64 /usr/bin/qemu-aarch64-static)
    if(EXISTS ${qemu})
      set(CMAKE_CROSSCOMPILING_EMULATOR ${qemu})
      break()
    endif()
  endforeach()
endif()
