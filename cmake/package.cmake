# cmake/package.cmake — the version's commit, the bundled-data lookup, man
# pages and completion, `cmake --install` and the Debian package (CPack).
# Included at the end of CMakeLists.txt; docs/install.md explains the result.
include(GNUInstallDirs)

# ---------------------------------------------------------------- commit
# generated/git_commit.c (seer_git_commit, tools/version.h), refreshed by
# every build and rewritten only when the commit changes.
set(SEER_GIT_C ${CMAKE_BINARY_DIR}/generated/git_commit.c)
add_custom_target(seer_git_commit
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${SEER_GIT_C} -P ${CMAKE_SOURCE_DIR}/cmake/git_commit.cmake
  BYPRODUCTS ${SEER_GIT_C}
  COMMENT "Recording the git commit")
target_sources(seer PRIVATE ${SEER_GIT_C})
add_dependencies(seer seer_git_commit)

# ---------------------------------------------------------------- data dir
# common/datadir.c finds models/demo/ and samples/ relative to the running
# binary: installed (bin → share/seer) or in the source tree (the build
# directory → the source). Relative paths, so neither tree is pinned.
file(RELATIVE_PATH SEER_DATADIR_FROM_BIN ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_DATADIR}/seer)
file(RELATIVE_PATH SEER_SOURCE_FROM_BIN ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_source_files_properties(${CMAKE_SOURCE_DIR}/common/datadir.c PROPERTIES COMPILE_DEFINITIONS
  "SEER_DATADIR_FROM_BIN=\"${SEER_DATADIR_FROM_BIN}\";SEER_SOURCE_FROM_BIN=\"${SEER_SOURCE_FROM_BIN}\"")

# ---------------------------------------------------------------- man, completion
# Both made from the built binary's --help text, so they cannot drift from it:
# help2man writes the man pages (cmake/man_pages.sh), cmake/completion.sh the
# bash completion (commands and each command's --flags).
find_program(HELP2MAN help2man)
if(NOT HELP2MAN)
  message(FATAL_ERROR "help2man is missing (it makes the man pages): run tools/setup.sh")
endif()
set(SEER_DOC_DIR ${CMAKE_BINARY_DIR}/doc)
add_custom_command(OUTPUT ${SEER_DOC_DIR}/man.stamp ${SEER_DOC_DIR}/seer.bash
  COMMAND bash ${CMAKE_SOURCE_DIR}/cmake/man_pages.sh $<TARGET_FILE:seer> ${SEER_DOC_DIR}/man
  COMMAND bash ${CMAKE_SOURCE_DIR}/cmake/completion.sh $<TARGET_FILE:seer> ${SEER_DOC_DIR}/seer.bash
  COMMAND ${CMAKE_COMMAND} -E touch ${SEER_DOC_DIR}/man.stamp
  DEPENDS seer ${CMAKE_SOURCE_DIR}/cmake/man_pages.sh ${CMAKE_SOURCE_DIR}/cmake/completion.sh
  COMMENT "Man pages and bash completion from seer --help")
add_custom_target(seer_docs ALL DEPENDS ${SEER_DOC_DIR}/man.stamp)

# ---------------------------------------------------------------- install
install(TARGETS seer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/models/demo DESTINATION ${CMAKE_INSTALL_DATADIR}/seer/models)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/samples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/seer/samples)
install(DIRECTORY ${SEER_DOC_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 FILES_MATCHING PATTERN "*.1.gz")
install(FILES ${SEER_DOC_DIR}/seer.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME seer)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/seer.service ${CMAKE_SOURCE_DIR}/packaging/seer-ingest.service
        DESTINATION lib/systemd/system)
# the settings file: /etc/seer for the prefix /usr (the package), else
# <prefix>/etc/seer, relative so that `cmake --install --prefix` moves it too
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/seer.conf DESTINATION /etc/seer)
else()
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/seer.conf DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/seer)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/docs/install.md ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---------------------------------------------------------------- package
# CPack's DEB generator rather than dpkg-buildpackage + debian/: the install
# layout above is the package's content, so nothing is described twice, and
# one `cpack` makes the .deb from a build tree (tools/package.sh). With
# CPACK_DEBIAN_PACKAGE_SHLIBDEPS, dpkg-shlibdeps computes the runtime
# dependencies from the binary's shared libraries (the FAISS C API is linked
# statically). What debhelper would add by itself is written out in
# packaging/postinst and postrm: the system user, the conffile's permissions,
# daemon-reload.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME seer)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "seer maintainers <seer@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "image search and retrieval with visual question answering")
set(CPACK_PACKAGE_DESCRIPTION "seer embeds photo trees with CLIP into an LMDB store, answers text and
image searches from the command line or a web page and REST API, and chats
about a picked image with MoE-LLaVA. Includes tiny demo models and sample
photos, a systemd service and /etc/seer/seer.conf.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/packaging/postinst ${CMAKE_SOURCE_DIR}/packaging/postrm ${CMAKE_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
