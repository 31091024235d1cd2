# Two interface targets for the project's own code: settings and warnings.

find_program(HAS_CCACHE ccache)
if(HAS_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${HAS_CCACHE})
endif()

add_library(has_settings INTERFACE)
target_compile_features(has_settings INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)
if(HAS_SANITIZE)
  list(JOIN HAS_SANITIZE "," _has_san)
  target_compile_options(has_settings INTERFACE -fsanitize=${_has_san} -fno-omit-frame-pointer)
  target_link_options(has_settings INTERFACE -fsanitize=${_has_san})
endif()

add_library(has_warnings INTERFACE)
target_compile_options(has_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
if(HAS_WERROR)
  target_compile_options(has_warnings INTERFACE -Werror)
endif()

# The source tree's git commit, baked into `has version`. Regenerated at every
# build; the file is rewritten only when the commit changes, so nothing
# recompiles needlessly.
set(HAS_GIT_CPP ${CMAKE_BINARY_DIR}/generated/git_commit.cpp)
add_custom_target(has_git_commit
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${HAS_GIT_CPP}
          -P ${CMAKE_SOURCE_DIR}/cmake/GitCommit.cmake
  BYPRODUCTS ${HAS_GIT_CPP}
  COMMENT "" VERBATIM)
