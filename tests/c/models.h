/*
 * models.h — the generated test models of tests/py/models.py for the C tests (header-only).
 *
 *   test_variant_path("l31-q8_0")   runs `$LLAMAC_PYTHON $LLAMAC_SOURCE/tests/py/models.py VARIANT`, which
 *                                   generates the model once (cached, safe under ctest -j) and prints its path
 *   test_model_path(argc, argv, v)  $LLAMAC_TEST_MODEL, else argv[1], else test_variant_path(v)
 *
 * Both return a malloc'd path (free it) or NULL.
 */
#ifndef LLAMAC_TEST_MODELS_H
#define LLAMAC_TEST_MODELS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *test_variant_path(const char *variant)
{
    const char *py = getenv("LLAMAC_PYTHON"), *src = getenv("LLAMAC_SOURCE");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/py/models.py' %s", py && *py ? py : "/usr/bin/python3",
             src && *src ? src : ".", variant);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char line[4096] = {0};
    char *ok = fgets(line, sizeof line, p);
    int rc = pclose(p);
    if (!ok || rc != 0)
        return NULL;
    line[strcspn(line, "\n")] = 0;
    return strdup(line);
}

static inline char *test_model_path(int argc, char **argv, const char *variant)
{
    const char *env = getenv("LLAMAC_TEST_MODEL");
    if (env && *env)
        return strdup(env);
    if (argc > 1)
        return strdup(argv[1]);
    return test_variant_path(variant);
}

#endif
