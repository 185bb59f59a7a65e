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
