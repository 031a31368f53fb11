# The installed package (issue 25): `cmake --install build --prefix P` gives
#   P/bin/dsq                                   the program
#   P/include/dsq/*.hpp                         the public headers (include/dsq/ + version.hpp)
#   P/lib/libdsq_*.a                            the libraries the program links
#   P/lib/cmake/dsq/dsqConfig.cmake, dsqConfigVersion.cmake, dsqTargets*.cmake
# so that a project does find_package(dsq 0.9 REQUIRED) and links dsq::dsq (docs/api.md).
#
# What a user's compile line gets is the public headers' dependencies only: include/ and Eigen.
# CAF, fmt, cereal and OpenSSL are internal: the installed libraries link them, the package
# config finds them (CAF 0.17 by path: it ships no CMake config), and they reach a user's link
# line only ($<LINK_ONLY:...>), never an include directory or a definition.
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(DSQ_INSTALL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dsq)

# Strips the wrappers a link item may carry ($<LINK_ONLY:x>, $<BUILD_INTERFACE:x>, ...).
function(dsq_unwrap_link_item item result_var)
  while(item MATCHES "^\\$<(LINK_ONLY|BUILD_INTERFACE|INSTALL_INTERFACE):(.*)>$")
    set(item "${CMAKE_MATCH_2}")
  endwhile()
  set(${result_var} "${item}" PARENT_SCOPE)
endfunction()

# The dsq_* libraries `target` links, directly or through another, into result_var.
function(dsq_library_closure target result_var)
  set(found ${${result_var}})
  set(links)
  foreach(property LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
    get_target_property(listed ${target} ${property})
    if(listed)
      list(APPEND links ${listed})
    endif()
  endforeach()
  foreach(link ${links})
    dsq_unwrap_link_item("${link}" link)
    if(link MATCHES "^dsq_" AND TARGET ${link} AND NOT link IN_LIST found)
      list(APPEND found ${link})
      dsq_library_closure(${link} found)
    endif()
  endforeach()
  set(${result_var} ${found} PARENT_SCOPE)
endfunction()

# Rewrites what `library` passes on to its users so that the installed package passes on only
# the public dependencies: in this build tree every item stays as it is ($<BUILD_INTERFACE:>);
# installed, another dsq library and Eigen stay, and an internal dependency becomes link-only,
# under the name the package config gives it. A dependency this does not know stops the
# configure step: say here how it reaches an installed package's users.
function(dsq_export_link_interface library)
  get_target_property(items ${library} INTERFACE_LINK_LIBRARIES)
  if(NOT items)
    return()
  endif()
  set(rewritten)
  foreach(item ${items})
    dsq_unwrap_link_item("${item}" name)
    if(name MATCHES "^::@")
      list(APPEND rewritten "${item}") # CMake's marker of a link added from another directory
    elseif((name MATCHES "^dsq_" AND TARGET ${name}) OR name STREQUAL "Eigen3::Eigen")
      list(APPEND rewritten "${item}") # exported with the package, or found by its config
    elseif(name STREQUAL "caf" OR name MATCHES "(^|/)libcaf_[a-z_]*\\.(so|a)$")
      # CAF 0.17's libraries, found by path by the package config (dsqConfig.cmake.in).
      list(APPEND rewritten "$<BUILD_INTERFACE:${item}>"
        "$<INSTALL_INTERFACE:$<LINK_ONLY:dsq::caf_libraries>>")
    elseif(name MATCHES "^(fmt::fmt|OpenSSL::SSL|OpenSSL::Crypto|Threads::Threads)$")
      list(APPEND rewritten "$<BUILD_INTERFACE:${item}>" "$<INSTALL_INTERFACE:$<LINK_ONLY:${name}>>")
    elseif(name STREQUAL "cereal")
      list(APPEND rewritten "$<BUILD_INTERFACE:${item}>") # header-only: nothing to link
    else()
      message(FATAL_ERROR "${library} links '${name}', which the installed package does not know: "
                          "say in cmake/dsq_package.cmake (dsq_export_link_interface) how it reaches "
                          "users of the package, and find it in cmake/dsqConfig.cmake.in")
    endif()
  endforeach()
  set_property(TARGET ${library} PROPERTY INTERFACE_LINK_LIBRARIES "${rewritten}")
endfunction()

# Keeps the trees' own include directories of `library` to this build ($<BUILD_INTERFACE:>):
# installed, the headers a user sees are include/ (dsq_base's $<INSTALL_INTERFACE:include>).
# The libraries say so themselves; this catches one that does not (CMake would refuse to export
# a source path).
function(dsq_keep_tree_includes_in_build library)
  get_target_property(dirs ${library} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT dirs)
    return()
  endif()
  set(kept)
  foreach(dir ${dirs})
    string(FIND "${dir}/" "${PROJECT_SOURCE_DIR}/" in_source)
    string(FIND "${dir}/" "${PROJECT_BINARY_DIR}/" in_build)
    if(in_source EQUAL 0 OR in_build EQUAL 0)
      list(APPEND kept "$<BUILD_INTERFACE:${dir}>")
    else()
      list(APPEND kept "${dir}") # already wrapped, or not ours
    endif()
  endforeach()
  set_property(TARGET ${library} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${kept}")
endfunction()

# Installs the program, the libraries it links, the public headers and the package files.
function(dsq_install_package program)
  set(libraries)
  dsq_library_closure(${program} libraries)
  list(SORT libraries)
  foreach(library ${libraries})
    dsq_export_link_interface(${library})
    dsq_keep_tree_includes_in_build(${library})
    # dsq::base, dsq::model, ...: the names a user may link one by one.
    string(REGEX REPLACE "^dsq_" "" export_name ${library})
    set_target_properties(${library} PROPERTIES EXPORT_NAME ${export_name})
  endforeach()

  # dsq::dsq: everything (the run functions live in the top libraries, which link the others).
  add_library(dsq_package INTERFACE)
  target_link_libraries(dsq_package INTERFACE ${libraries})
  target_compile_features(dsq_package INTERFACE cxx_std_20)
  set_target_properties(dsq_package PROPERTIES EXPORT_NAME dsq)
  add_library(dsq::dsq ALIAS dsq_package)

  install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(TARGETS ${libraries} dsq_package EXPORT dsqTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  # The public headers only (include/dsq/, floor 0 of docs/architecture.md), and the generated.
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/dsq DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.hpp")
  install(FILES ${PROJECT_BINARY_DIR}/include/dsq/version.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dsq)

  install(EXPORT dsqTargets NAMESPACE dsq:: DESTINATION ${DSQ_INSTALL_CMAKE_DIR})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/dsqConfig.cmake.in
    ${PROJECT_BINARY_DIR}/package/dsqConfig.cmake INSTALL_DESTINATION ${DSQ_INSTALL_CMAKE_DIR})
  # Below 1.0 a minor version may change the public API (docs/api.md, the version rule):
  # find_package(dsq 0.9) accepts 0.9.x, x at least the one asked for, and no 0.10.
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/dsqConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/package/dsqConfig.cmake
    ${PROJECT_BINARY_DIR}/package/dsqConfigVersion.cmake DESTINATION ${DSQ_INSTALL_CMAKE_DIR})

  # The data: not installed unless a packager names the installed data directory, which the
  # library searches at run time (model/data_locations.hpp): then the fetched MNIST goes there
  # (an absolute path: stage it with DESTDIR=...).
  if(DSQ_INSTALLED_DATA_DIR AND EXISTS ${PROJECT_SOURCE_DIR}/data/mnist)
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/data/mnist/ DESTINATION ${DSQ_INSTALLED_DATA_DIR}/mnist)
  endif()
endfunction()
