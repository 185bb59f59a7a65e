# web.cmake — embeds the chat page (web/*) into the llamac program at build time: cmake/embed_web.cmake writes
# web_assets.c (each file as is and gzip -9n'd, with its SHA-256 ETag) whenever a web/ file changes; the table is
# served by tools/llamac/web_static.c. Only gzip and CMake are needed (no Python, no Node).
set(LLAMAC_WEB_FILES index.html app.css app.js)
find_program(LLAMAC_GZIP gzip REQUIRED)
set(LLAMAC_WEB_ASSETS_C ${CMAKE_BINARY_DIR}/generated/web/web_assets.c)
set(web_deps "")
foreach(f ${LLAMAC_WEB_FILES})
  list(APPEND web_deps ${CMAKE_SOURCE_DIR}/web/${f})
endforeach()
string(REPLACE ";" "," web_files_arg "${LLAMAC_WEB_FILES}")
add_custom_command(
  OUTPUT ${LLAMAC_WEB_ASSETS_C}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated/web
  COMMAND ${CMAKE_COMMAND} -DSRC_DIR=${CMAKE_SOURCE_DIR}/web -DOUT=${LLAMAC_WEB_ASSETS_C} -DGZIP=${LLAMAC_GZIP}
          -DFILES=${web_files_arg} -P ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  DEPENDS ${web_deps} ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  COMMENT "Embedding the web chat page (web/)"
  VERBATIM)
add_library(llamac_web_assets STATIC ${LLAMAC_WEB_ASSETS_C})
target_include_directories(llamac_web_assets PRIVATE ${CMAKE_SOURCE_DIR}/tools/llamac)
target_link_libraries(llamac_cli PRIVATE llamac_web_assets)
