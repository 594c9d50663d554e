# Helpers shared by every target of the project.

# Warnings and sanitizers for project code only, through one interface target
# linked PRIVATE (dependencies' headers are system headers and stay quiet).
add_library(switchboard_internal INTERFACE)
target_compile_options(switchboard_internal INTERFACE
  -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wno-unused-parameter
  # Libraries and programs share one precompiled header, which GCC uses
  # only when both compile with the same code model.
  -fPIC)
if(SWITCHBOARD_FUZZ)
  # Coverage for libFuzzer in every library; undefined behaviour is a
  # finding, not a warning.
  target_compile_options(switchboard_internal INTERFACE
    -fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined)
endif()
if(SWITCHBOARD_SANITIZERS)
  target_compile_options(switchboard_internal INTERFACE
    -fsanitize=${SWITCHBOARD_SANITIZERS} -fno-omit-frame-pointer)
  target_link_options(switchboard_internal INTERFACE
    -fsanitize=${SWITCHBOARD_SANITIZERS})
endif()

# The libraries link the sanitizer runtime too, so a test that links them
# works however it is built.
function(switchboard_sanitize target)
  if(SWITCHBOARD_SANITIZERS)
    target_link_options(${target} PUBLIC -fsanitize=${SWITCHBOARD_SANITIZERS})
  endif()
endfunction()

# CAF's headers take about 3 s to parse per translation unit; one precompiled
# header shared by every target saves most of that. ccache still hits with
# the sloppiness set in scripts/build.sh.
set(switchboard_pch_headers <caf/all.hpp> <nlohmann/json.hpp>)
function(switchboard_use_pch target)
  if(NOT SWITCHBOARD_PCH)
    return()
  endif()
  get_property(host GLOBAL PROPERTY SWITCHBOARD_PCH_HOST)
  if(host)
    target_precompile_headers(${target} REUSE_FROM ${host})
  else()
    target_precompile_headers(${target} PRIVATE ${switchboard_pch_headers})
    set_property(GLOBAL PROPERTY SWITCHBOARD_PCH_HOST ${target})
  endif()
endfunction()

# switchboard_add_component(NAME SOURCES ... INCLUDE_DIR dir
#                           DEPENDENCIES [PUBLIC ...] [PRIVATE ...])
# Adds the library switchboard_NAME with the alias switchboard::NAME.
function(switchboard_add_component name)
  cmake_parse_arguments(arg "" "INCLUDE_DIR" "SOURCES;DEPENDENCIES" ${ARGN})
  set(target switchboard_${name})
  add_library(${target} ${arg_SOURCES})
  add_library(switchboard::${name} ALIAS ${target})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/${arg_INCLUDE_DIR}>
    $<INSTALL_INTERFACE:include>)
  target_link_libraries(${target} ${arg_DEPENDENCIES})
  # Warnings are for building switchboard, not for those who link it.
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:switchboard_internal>)
  set_property(GLOBAL APPEND PROPERTY SWITCHBOARD_COMPONENTS ${target})
  switchboard_sanitize(${target})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # The first component compiles the precompiled header for all others.
  switchboard_use_pch(${target})
endfunction()

# switchboard_add_program(NAME OUTPUT_DIR SOURCES...): an example or
# benchmark program linked against everything, built into OUTPUT_DIR under
# the build directory.
function(switchboard_add_program name dir)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE switchboard::switchboard
                        switchboard_internal switchboard_allocator)
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/${dir}")
  switchboard_use_pch(${name})
endfunction()

# switchboard_use_simdjson(TARGET SOURCES...): links simdjson into TARGET,
# its define only on SOURCES (those that include simdjson.h), which skip the
# precompiled header. simdjson's target would put SIMDJSON_THREADS_ENABLED
# on every source of TARGET, and the precompiled header shared by all
# targets would then not match the others (top-level CMakeLists.txt clears
# the target's define).
function(switchboard_use_simdjson target)
  target_link_libraries(${target} PRIVATE simdjson::simdjson)
  set_source_files_properties(${ARGN} PROPERTIES
    COMPILE_DEFINITIONS SIMDJSON_THREADS_ENABLED=1
    SKIP_PRECOMPILE_HEADERS ON)
endfunction()
