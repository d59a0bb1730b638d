# `cmake --install`: the binaries, the default config, the systemd unit, man pages and docs
# (docs/install.md). The config and unit paths are the ones packaging/turnpike.service names:
# configure with -DCMAKE_INSTALL_PREFIX=/usr (the Debian package does) for /usr/bin/turnpike and
# /etc/turnpike/turnpike.yaml; other prefixes put the config under PREFIX/etc.
include(GNUInstallDirs)
set(TURNPIKE_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING "Where the systemd unit goes, relative to the prefix")
foreach(t turnpike turnpike-diag turnpike-loadgen)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
# GNUInstallDirs maps etc to /etc for the /usr prefix.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/turnpike.yaml
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/turnpike PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
# The units: the node, and the site probe template (turnpike-diag-probe@SITE, docs/diag.md "probe").
set(TURNPIKE_UNITS ${PROJECT_SOURCE_DIR}/packaging/turnpike.service ${PROJECT_SOURCE_DIR}/packaging/turnpike-diag-probe@.service)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  install(FILES ${TURNPIKE_UNITS} DESTINATION /${TURNPIKE_SYSTEMD_UNIT_DIR})
else()
  install(FILES ${TURNPIKE_UNITS} DESTINATION ${TURNPIKE_SYSTEMD_UNIT_DIR})
endif()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/man/turnpike.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/man/turnpike-diag.1 ${PROJECT_SOURCE_DIR}/packaging/man/turnpike-loadgen.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
file(GLOB TURNPIKE_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/SECURITY.md ${TURNPIKE_DOCS}
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/conf/turnpike.yaml ${PROJECT_SOURCE_DIR}/packaging/probe.env
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
