/*
 * vocab_load.c — the public loaders: llamac_tokenizer_load detects the file kind by content (GGUF magic, a
 * JSON object, or "base64 rank" lines) and dispatches to vocab_gguf.c / vocab_hf.c / vocab_tiktoken.c;
 * llamac_tokenizer_from_gguf reads an open GGUF view.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tok/tok.h"
#include "util/file.h"

static void prefix_path(lc_err *e, const char *path)
{
    if (strncmp(e->msg, path, strlen(path)) == 0)
        return;
    char inner[sizeof e->msg];
    memcpy(inner, e->msg, sizeof inner);
    lc_fail(e, LLAMAC_E_FORMAT, "%s: %.*s", path, (int)(sizeof inner - 1), inner);
}

static int looks_like_tiktoken(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ' ' && s[i] != '\n') {
        uint8_t c = s[i++];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              c == '='))
            return 0;
    }
    if (i == 0 || i >= n || s[i] != ' ' || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9')
        return 0;
    return 1;
}

static llamac_status load_file(const char *path, lc_vocab **out, lc_err *e)
{
    int fd;
    llamac_status fst = lc_open_regular(path, "vocabulary file", &fd, e);
    if (fst)
        return fst;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return lc_fail(e, LLAMAC_E_IO, "%s: cannot stat: %s", path, strerror(err));
    }
    size_t size = (size_t)sb.st_size;
    uint8_t head[8] = {0};
    ssize_t got = pread(fd, head, sizeof head, 0);
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0) {
        close(fd);
        lc_gguf *g;
        llamac_status st = lc_gguf_open(path, &g, e);
        if (st)
            return st;
        st = lc_vocab_from_gguf(g, out, e);
        lc_gguf_close(g);
        return st;
    }
    if (size == 0) {
        close(fd);
        return lc_fail(e, LLAMAC_E_FORMAT, "the file is empty");
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return lc_fail(e, LLAMAC_E_IO, "cannot map %zu bytes: %s", size, strerror(errno));
    const uint8_t *s = map;
    size_t i = 0;
    while (i < size && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i == size && size > 0)
        i = 0;
    llamac_status st;
    if (s[i] == '{' || s[i] == '[')
        st = lc_vocab_from_hf_json(map, size, out, e);
    else if (looks_like_tiktoken(s, size))
        st = lc_vocab_from_tiktoken(map, size, out, e);
    else if (s[0] == 0x0A)
        st = lc_fail(e, LLAMAC_E_UNSUPPORTED, "not a Llama 3 tokenizer: this looks like a SentencePiece model "
                     "(Llama 2 and earlier)");
    else
        st = lc_fail(e, LLAMAC_E_FORMAT, "not a GGUF file, a tokenizer.json or a tokenizer.model");
    munmap(map, size);
    return st;
}

llamac_status llamac_tokenizer_load(const char *path, llamac_tokenizer **out, char *err, size_t err_size)
{
    lc_err e = {{0}};
    if (out)
        *out = NULL;
    if (!path || !out) {
        lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_tokenizer_load: path and out are required");
        lc_err_copy(&e, err, err_size);
        return LLAMAC_E_INVALID_ARG;
    }
    llamac_status st = load_file(path, out, &e);
    if (st) {
        prefix_path(&e, path);
        lc_err_copy(&e, err, err_size);
    }
    return st;
}

llamac_status llamac_tokenizer_from_gguf(const llamac_gguf *gguf, llamac_tokenizer **out, char *err,
                                         size_t err_size)
{
    lc_err e = {{0}};
    if (out)
        *out = NULL;
    if (!gguf || !out) {
        lc_fail(&e, LLAMAC_E_INVALID_ARG, "llamac_tokenizer_from_gguf: gguf and out are required");
        lc_err_copy(&e, err, err_size);
        return LLAMAC_E_INVALID_ARG;
    }
    llamac_status st = lc_vocab_from_gguf(gguf, out, &e);
    if (st)
        lc_err_copy(&e, err, err_size);
    return st;
}
