/*
 * test_web_static.c — the embedded chat page's answers (tools/llamac/web_static.c): 200 with the right type and
 * caching headers, 304 on a matching ETag, gzip only when Accept-Encoding accepts it, HEAD like GET, 404 for
 * unknown paths, 405 for other methods; the If-None-Match and Accept-Encoding parsers on odd input; the generated
 * table (gzip copies with no time stamp whose length trailer matches the file).
 */
#include <string.h>

#include "check.h"
#include "../../tools/llamac/web_static.h"

static web_static_answer serve(const char *method, const char *path, const char *inm, const char *ae)
{
    web_static_request rq = {method, path, inm, ae};
    web_static_answer a;
    int st = web_static_serve(&rq, &a);
    CHECK(st == a.status, "return value %d != status %d", st, a.status);
    return a;
}

static int contains(const unsigned char *body, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(body + i, needle, n) == 0)
            return 1;
    return 0;
}

static void test_table(void)
{
    CHECK(web_static_n_files == 3, "%zu embedded files, want 3", web_static_n_files);
    for (size_t i = 0; i < web_static_n_files; i++) {
        const web_static_file *f = &web_static_files[i];
        CHECK(f->len > 0 && f->gz_len > 18, "%s: empty", f->path);
        CHECK(f->gz[0] == 0x1f && f->gz[1] == 0x8b && f->gz[2] == 8, "%s: not gzip", f->path);
        CHECK(f->gz[4] == 0 && f->gz[5] == 0 && f->gz[6] == 0 && f->gz[7] == 0, "%s: gzip has a time stamp", f->path);
        CHECK((f->gz[3] & 0x08) == 0, "%s: gzip stores a file name (not -n)", f->path);
        const unsigned char *t = f->gz + f->gz_len - 4;
        size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
        CHECK(isize == f->len, "%s: gzip length trailer %zu != %zu", f->path, isize, f->len);
        CHECK(strlen(f->etag) == 66 && f->etag[0] == '"' && f->etag[65] == '"', "%s: etag %s", f->path, f->etag);
        CHECK(strncmp(f->etag, f->etag_gz, 65) == 0 && strcmp(f->etag_gz + 65, "-gz\"") == 0, "%s: gzip etag %s",
              f->path, f->etag_gz);
    }
}

static void test_get(void)
{
    web_static_answer a = serve("GET", "/", NULL, NULL);
    CHECK(a.status == 200, "GET / -> %d", a.status);
    CHECK(a.content_type && strcmp(a.content_type, "text/html; charset=utf-8") == 0, "type %s", a.content_type);
    CHECK(a.body && contains(a.body, a.body_len, "<!doctype html>"), "GET / body is not the page");
    CHECK(contains(a.body, a.body_len, "app.js") && contains(a.body, a.body_len, "app.css"), "page links no assets");
    CHECK(a.content_encoding == NULL, "encoded without Accept-Encoding");
    CHECK(a.cache_control && strcmp(a.cache_control, "no-cache") == 0, "cache-control %s", a.cache_control);
    CHECK(a.vary && strcmp(a.vary, "Accept-Encoding") == 0, "vary %s", a.vary);
    CHECK(a.etag && a.etag[0] == '"', "no etag");
    CHECK(a.content_security_policy && strstr(a.content_security_policy, "script-src 'self'"), "no CSP");
    CHECK(a.content_type_options && strcmp(a.content_type_options, "nosniff") == 0, "no nosniff");
    CHECK(a.allow == NULL, "allow on 200");

    web_static_answer b = serve("GET", "/index.html?x=1", NULL, NULL);
    CHECK(b.status == 200 && b.body == a.body && b.body_len == a.body_len, "/index.html?x=1 is not the page");
    web_static_answer js = serve("GET", "/app.js", NULL, NULL);
    CHECK(js.status == 200 && strcmp(js.content_type, "text/javascript; charset=utf-8") == 0, "app.js type %s",
          js.content_type);
    web_static_answer css = serve("GET", "/app.css", NULL, NULL);
    CHECK(css.status == 200 && strcmp(css.content_type, "text/css; charset=utf-8") == 0, "app.css type %s",
          css.content_type);
    CHECK(strcmp(js.etag, a.etag) != 0 && strcmp(css.etag, js.etag) != 0, "files share an etag");
}

static void test_conditional(void)
{
    web_static_answer a = serve("GET", "/", NULL, NULL);
    const char *etag = a.etag;
    web_static_answer b = serve("GET", "/", etag, NULL);
    CHECK(b.status == 304 && b.body_len == 0 && b.content_encoding == NULL, "matching etag -> %d", b.status);
    CHECK(b.etag && strcmp(b.etag, etag) == 0, "304 without the etag");
    char list[256];
    snprintf(list, sizeof list, "\"abc\", W/%s", etag);
    CHECK(serve("GET", "/", list, NULL).status == 304, "weak etag in a list -> not 304");
    CHECK(serve("GET", "/", "*", NULL).status == 304, "* -> not 304");
    CHECK(serve("GET", "/", "\"abc\"", NULL).status == 200, "other etag -> not 200");
    CHECK(serve("GET", "/app.js", etag, NULL).status == 200, "page etag matched app.js");
    /* the gzip copy's tag also matches, and the 304 carries the tag of the copy the client would now get */
    web_static_answer g = serve("GET", "/", NULL, "gzip");
    web_static_answer h = serve("GET", "/", g.etag, "gzip");
    CHECK(h.status == 304 && strcmp(h.etag, g.etag) == 0, "gzip etag -> %d", h.status);
    CHECK(serve("GET", "/", g.etag, NULL).status == 304, "gzip etag without gzip -> not 304");
}

static void test_gzip(void)
{
    web_static_answer plain = serve("GET", "/app.js", NULL, "identity");
    web_static_answer gz = serve("GET", "/app.js", NULL, "gzip, deflate, br");
    CHECK(plain.content_encoding == NULL, "identity got %s", plain.content_encoding);
    CHECK(gz.content_encoding && strcmp(gz.content_encoding, "gzip") == 0, "gzip not chosen");
    CHECK(gz.body[0] == 0x1f && gz.body[1] == 0x8b, "gzip body is not gzip");
    CHECK(gz.body_len < plain.body_len, "gzip copy not smaller (%zu >= %zu)", gz.body_len, plain.body_len);
    CHECK(strcmp(gz.etag, plain.etag) != 0, "both encodings share an etag");

    static const struct {
        const char *ae;
        int gzip;
    } cases[] = {
        {"gzip", 1},           {"GZIP", 1},          {"x-gzip", 1},        {"*", 1},
        {"gzip;q=0", 0},       {"gzip; q=0.000", 0}, {"gzip;q=0.5", 1},    {"gzip;q=1.0", 1},
        {"*;q=0", 0},          {"gzip;q=0, *", 0},   {"br, *;q=0.1", 1},   {"deflate, br", 0},
        {"", 0},               {",,, ;;", 0},        {"gzipx", 0},         {"identity;q=1, gzip ;q=0.001", 1},
        {"gzip;q=", 1},        {"gzip;level=1;q=0", 0}, {"xgzip, gzi", 0}, {"gzip;q=0 , gzip", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(web_static_accepts_gzip(cases[i].ae) == cases[i].gzip, "Accept-Encoding \"%s\": want %d",
              cases[i].ae, cases[i].gzip);
    CHECK(!web_static_accepts_gzip(NULL), "NULL accepted");
}

static void test_head_and_errors(void)
{
    web_static_answer get = serve("GET", "/", NULL, "gzip");
    web_static_answer head = serve("HEAD", "/", NULL, "gzip");
    CHECK(head.status == 200 && head.body_len == get.body_len && strcmp(head.etag, get.etag) == 0 &&
              head.content_encoding && strcmp(head.content_type, get.content_type) == 0,
          "HEAD differs from GET");
    CHECK(serve("HEAD", "/", get.etag, NULL).status == 304, "HEAD with etag not 304");

    const char *missing[] = {"/nope", "/index.htm", "/../index.html", "//", "", "/app.js/", "index.html",
                             "/INDEX.HTML", "/%2e%2e/etc/passwd"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        web_static_answer a = serve("GET", missing[i], NULL, NULL);
        CHECK(a.status == 404 && a.etag == NULL && a.content_encoding == NULL && a.body_len > 0,
              "GET \"%s\" -> %d", missing[i], a.status);
        CHECK(strcmp(a.cache_control, "no-store") == 0, "404 cacheable");
    }
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "get", ""};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        web_static_answer a = serve(methods[i], "/", NULL, NULL);
        CHECK(a.status == 405 && a.allow && strcmp(a.allow, "GET, HEAD") == 0, "%s / -> %d", methods[i], a.status);
    }
    web_static_answer a;
    CHECK(web_static_serve(NULL, &a) == 404, "NULL request");
    web_static_request rq = {"GET", NULL, NULL, NULL};
    CHECK(web_static_serve(&rq, &a) == 404, "NULL path");
}

static void test_etag_parser(void)
{
    const char *tag = "\"abc\"";
    static const struct {
        const char *inm;
        int match;
    } cases[] = {
        {"\"abc\"", 1}, {"W/\"abc\"", 1}, {" \"x\" ,\"abc\"", 1}, {"\"abcd\"", 0}, {"abc", 0},
        {"\"abc", 0},   {"\"ab\"c\"", 0}, {"", 0},                {",,,", 0},     {"W/", 0},
        {"\"\"", 0},    {"junk, \"abc\"", 1}, {"\"x\"junk,\"abc\"", 1}, {"W/W/\"abc\"", 0}, {"*", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(web_static_etag_matches(cases[i].inm, tag) == cases[i].match, "If-None-Match '%s': want %d",
              cases[i].inm, cases[i].match);
    CHECK(!web_static_etag_matches(NULL, tag), "NULL matched");
}

int main(void)
{
    test_table();
    test_get();
    test_conditional();
    test_gzip();
    test_head_and_errors();
    test_etag_parser();
    return check_finish("test_web_static");
}
