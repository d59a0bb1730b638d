# Fuzz targets: <dir>/fuzz/fuzz_<name>.cpp, each one body (tests/fuzz/target.hpp) built two ways.
#   turnpike_fuzz_targets(<lib>)           with -DTURNPIKE_FUZZ=ON: libFuzzer binaries fuzz_<name> of the
#                                           calling folder, linked to <lib> (all of them: the target
#                                           turnpike_fuzz_all, top CMakeLists.txt)
#   turnpike_fuzz_replay(<test> <dir>...)  the same bodies compiled into the unit test binary <test>,
#                                           which replays corpus/ and crashes/ (tests/unit/fuzz_replay.cpp)
# scripts/fuzz-targets lists the same files for scripts/test and scripts/fuzz-long. <name> is unique across
# folders: every binary lands in bin/ (sfu/'s fuzz_rtp, loadgen's fuzz_media).
function(turnpike_fuzz_targets lib)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_*.cpp)
  foreach(src ${srcs})
    get_filename_component(t ${src} NAME_WE)
    add_executable(${t} ${src})
    target_link_libraries(${t} PRIVATE ${lib})
    target_compile_definitions(${t} PRIVATE TURNPIKE_FUZZ_MAIN)
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer,address,undefined)
    set_property(GLOBAL APPEND PROPERTY TURNPIKE_FUZZ_BINARIES ${t})
  endforeach()
endfunction()

function(turnpike_fuzz_replay test)
  foreach(dir ${ARGN})
    file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${dir}/fuzz/fuzz_*.cpp)
    # The libFuzzer binaries of every folder share bin/: a name must be unique across folders.
    # Checked here too, so the normal build (not only -DTURNPIKE_FUZZ=ON) refuses a clash.
    get_property(seen GLOBAL PROPERTY TURNPIKE_FUZZ_NAMES)
    foreach(src ${srcs})
      get_filename_component(t ${src} NAME_WE)
      if(t IN_LIST seen)
        message(FATAL_ERROR "fuzz target ${t} (${dir}/fuzz/) has the name of another folder's target")
      endif()
      list(APPEND seen ${t})
    endforeach()
    set_property(GLOBAL PROPERTY TURNPIKE_FUZZ_NAMES "${seen}")
    target_sources(${test} PRIVATE ${srcs})
  endforeach()
  target_sources(${test} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit/fuzz_replay.cpp)
endfunction()
