# Extra tests with their own registration (included by tests/CMakeLists.txt). Same environment as the others.

# ---- tokenizer: differential test against an independent reference (node + npm) ----
# node_tok_setup installs the pinned @lenml/tokenizers (tests/node/package.json) into $LLAMAC_BUILD/tok-node;
# node_tok_differential compares llamac's ids with it on > 1 MB of text (tests/node/test_tok_differential.py).
add_test(NAME node_tok_setup COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/node/setup.sh)
set_tests_properties(node_tok_setup PROPERTIES ENVIRONMENT "${LLAMAC_TEST_ENV}" FIXTURES_SETUP tok_node
                     LABELS "node" TIMEOUT 600)
add_test(NAME node_tok_differential
         COMMAND ${LLAMAC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/node/test_tok_differential.py)
set_tests_properties(node_tok_differential PROPERTIES ENVIRONMENT "${LLAMAC_TEST_ENV};PYTHONDONTWRITEBYTECODE=1"
                     FIXTURES_REQUIRED tok_node LABELS "node" TIMEOUT 1800)

# ---- the web chat page (web/, embedded by cmake/web.cmake) ----
# c_web_static: the HTTP-library-free answers of tools/llamac/web_static.c over the generated file table.
target_sources(test_web_static PRIVATE ${CMAKE_SOURCE_DIR}/tools/llamac/web_static.c)
target_link_libraries(test_web_static PRIVATE llamac_web_assets)
# web_setup installs the pinned playwright-core (tests/web/package.json) into $LLAMAC_BUILD/web-node and checks that
# Debian's chromium is there; web_chat_page drives the page in headless chromium against `llamac serve` (two tiny
# chain models) and leaves screenshots in $LLAMAC_BUILD/web-screenshots (tests/web/test_chat_page.py).
add_test(NAME web_setup COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/web/setup.sh)
set_tests_properties(web_setup PROPERTIES ENVIRONMENT "${LLAMAC_TEST_ENV}" FIXTURES_SETUP web_node
                     LABELS "web" TIMEOUT 600)
add_test(NAME web_chat_page COMMAND ${LLAMAC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/web/test_chat_page.py)
set_tests_properties(web_chat_page PROPERTIES ENVIRONMENT "${LLAMAC_TEST_ENV};PYTHONDONTWRITEBYTECODE=1"
                     FIXTURES_REQUIRED web_node LABELS "web" TIMEOUT 900 RUN_SERIAL ON)

# ---- llamac serve: the official OpenAI client, raw HTTP, concurrency, soak ----
# node_openai_setup installs the pinned `openai` npm client (tests/node/openai/package.json) into
# $LLAMAC_BUILD/openai-node; node_openai_client runs it against live servers (tests/node/openai/test_openai.mjs).
add_test(NAME node_openai_setup COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/node/openai/setup.sh)
set_tests_properties(node_openai_setup PROPERTIES ENVIRONMENT "${LLAMAC_TEST_ENV}" FIXTURES_SETUP openai_node
                     LABELS "node;serve" TIMEOUT 600)
add_test(NAME node_openai_client
         COMMAND ${LLAMAC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/node/openai/test_openai_client.py)
set_tests_properties(node_openai_client PROPERTIES ENVIRONMENT "${LLAMAC_TEST_ENV};PYTHONDONTWRITEBYTECODE=1"
                     FIXTURES_REQUIRED openai_node LABELS "node;serve" TIMEOUT 900)
# the tests/py/test_serve_*.py files are registered by the py glob (py_serve_*); here they all get the serve label
# (`ctest -L serve`), and the long ones their own time limits (the soak runs LLAMAC_SOAK_SECONDS, 60 by default)
file(GLOB LLAMAC_SERVE_PY_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/py/test_serve_*.py)
foreach(src ${LLAMAC_SERVE_PY_TESTS})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "py_" t ${name})
  set_tests_properties(${t} PROPERTIES LABELS "py;serve")
endforeach()
set_tests_properties(py_serve_http py_serve_soak PROPERTIES TIMEOUT 900)
set_tests_properties(py_serve_concurrency PROPERTIES TIMEOUT 600)
