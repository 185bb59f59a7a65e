/*
 * kl_file.c — the log-probability file (format and validation rules in kl_file.h): header and record encoding,
 * the streaming reader (records are read one at a time: a file for a large vocabulary runs to gigabytes) and
 * the writer (temporary file, synced, renamed into place).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/kl_file.h"

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* the whole file's size for these sizes, or 0 when out of range (so no product can overflow) */
static uint64_t file_bytes_for(uint32_t n_vocab, uint32_t n_window, uint32_t n_windows)
{
    if (n_vocab < 2 || n_vocab > LC_KL_MAX_VOCAB || n_window < 4 || n_window > LC_KL_MAX_WINDOW || n_windows < 1 ||
        n_windows > LC_KL_MAX_WINDOWS)
        return 0;
    const uint64_t n_tokens = (uint64_t)n_window * n_windows;
    if (n_tokens > LC_KL_MAX_TOKENS)
        return 0;
    const uint64_t n_scored = (uint64_t)(n_window - 1 - n_window / 2) * n_windows; /* < 2^34 */
    const uint64_t rec = LC_KL_RECORD_HEAD + 2ull * n_vocab;                        /* < 2^26 */
    return LC_KL_HEADER_BYTES + 4 * n_tokens + n_scored * rec;                       /* < 2^61 */
}

void lc_kl_header_make(lc_kl_header *h, uint32_t n_vocab, uint32_t n_window, uint32_t n_windows, int32_t bos)
{
    h->n_vocab = n_vocab;
    h->n_window = n_window;
    h->n_windows = n_windows;
    h->n_scored = n_window >= 2 ? n_window - 1 - n_window / 2 : 0;
    h->record_bytes = LC_KL_RECORD_HEAD + 2 * n_vocab;
    h->bos = bos;
    h->n_tokens = (uint64_t)n_window * n_windows;
    h->file_bytes = file_bytes_for(n_vocab, n_window, n_windows);
}

void lc_kl_header_pack(const lc_kl_header *h, uint8_t out[LC_KL_HEADER_BYTES])
{
    memset(out, 0, LC_KL_HEADER_BYTES);
    memcpy(out, LC_KL_MAGIC, 8);
    put_u32(out + 8, LC_KL_VERSION);
    put_u32(out + 12, LC_KL_HEADER_BYTES);
    put_u32(out + 16, h->n_vocab);
    put_u32(out + 20, h->n_window);
    put_u32(out + 24, h->n_windows);
    put_u32(out + 28, h->n_scored);
    put_u32(out + 32, (uint32_t)h->bos);
    put_u32(out + 36, h->record_bytes);
    put_u64(out + 40, h->n_tokens);
    put_u64(out + 48, h->file_bytes);
}

llamac_status lc_kl_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, lc_kl_header *h, lc_err *e)
{
    if (len < 8 || memcmp(buf, LC_KL_MAGIC, 8) != 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "not a llamac log-probability file (no \"%s\" magic): make one with "
                       "llamac perplexity --kl-base", LC_KL_MAGIC);
    if (len < LC_KL_HEADER_BYTES)
        return lc_fail(e, LLAMAC_E_FORMAT, "truncated log-probability file: %zu bytes, the header alone has %u",
                       len, LC_KL_HEADER_BYTES);
    const uint32_t version = get_u32(buf + 8);
    if (version != LC_KL_VERSION)
        return lc_fail(e, LLAMAC_E_UNSUPPORTED, "log-probability file version %u is not supported (this llamac "
                       "reads version %u)", version, LC_KL_VERSION);
    if (get_u32(buf + 12) != LC_KL_HEADER_BYTES || get_u64(buf + 56) != 0)
        return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file: bad header size or reserved field");
    const uint32_t n_vocab = get_u32(buf + 16), n_window = get_u32(buf + 20), n_windows = get_u32(buf + 24);
    lc_kl_header_make(h, n_vocab, n_window, n_windows, (int32_t)get_u32(buf + 32));
    if (!h->file_bytes)
        return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file: sizes out of range (vocabulary %u, window %u, "
                       "%u windows)", n_vocab, n_window, n_windows);
    if (get_u32(buf + 28) != h->n_scored || get_u32(buf + 36) != h->record_bytes ||
        get_u64(buf + 40) != h->n_tokens || get_u64(buf + 48) != h->file_bytes)
        return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file: inconsistent header (scored tokens, record, "
                       "token or file size do not follow from vocabulary %u, window %u, %u windows)", n_vocab,
                       n_window, n_windows);
    if (h->bos < -1 || h->bos >= (int32_t)n_vocab)
        return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file: BOS id %d is out of range", h->bos);
    if (file_size != h->file_bytes)
        return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file is %s: the header says %llu bytes, the file has "
                       "%llu", file_size < h->file_bytes ? "truncated" : "too long",
                       (unsigned long long)h->file_bytes, (unsigned long long)file_size);
    return LLAMAC_OK;
}

static void pack_record(const lc_lp_record *r, const uint16_t *codes, uint32_t n_vocab, uint8_t *out)
{
    uint64_t nll;
    uint32_t scale, min_lp;
    memcpy(&nll, &r->nll, 8);
    memcpy(&scale, &r->scale, 4);
    memcpy(&min_lp, &r->min_lp, 4);
    put_u64(out, nll);
    put_u32(out + 8, scale);
    put_u32(out + 12, min_lp);
    put_u32(out + 16, (uint32_t)r->top);
    uint8_t *p = out + LC_KL_RECORD_HEAD;
    for (uint32_t i = 0; i < n_vocab; i++) {
        p[2 * i] = (uint8_t)codes[i];
        p[2 * i + 1] = (uint8_t)(codes[i] >> 8);
    }
}

static llamac_status parse_record(const uint8_t *in, const lc_kl_header *h, uint64_t index, lc_lp_record *r,
                                  uint16_t *codes, lc_err *e)
{
    uint64_t nll = get_u64(in);
    uint32_t scale = get_u32(in + 8), min_lp = get_u32(in + 12);
    memcpy(&r->nll, &nll, 8);
    memcpy(&r->scale, &scale, 4);
    memcpy(&r->min_lp, &min_lp, 4);
    r->top = (int32_t)get_u32(in + 16);
    /* the largest log-prob is min_lp + 65535 scale <= 0, the smallest kept at most 16 below it, so the grid
     * spans at most 16 nats; min_lp >= -(16 + ln n_vocab) > -64 */
    const double top_lp = (double)r->min_lp + 65535.0 * (double)r->scale;
    if (!isfinite(r->nll) || r->nll < 0.0 || r->nll > 1e6 || !isfinite(r->scale) || r->scale < 0.0f ||
        (double)r->scale * 65535.0 > LC_LP_RANGE * 1.0001 || !isfinite(r->min_lp) || r->min_lp < -64.0f ||
        top_lp > 1e-3 || r->top < 0 || r->top >= (int32_t)h->n_vocab)
        return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file: record %llu is corrupt (nll %g, scale %g, "
                       "min %g, top %d)", (unsigned long long)index, r->nll, (double)r->scale, (double)r->min_lp,
                       r->top);
    const uint8_t *p = in + LC_KL_RECORD_HEAD;
    for (uint32_t i = 0; i < h->n_vocab; i++)
        codes[i] = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
    return LLAMAC_OK;
}

/* ---- reader ---- */

void lc_kl_reader_close(lc_kl_reader *r)
{
    if (r->f)
        fclose(r->f);
    free(r->tokens);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

llamac_status lc_kl_reader_open_stream(lc_kl_reader *r, FILE *f, uint64_t size, const char *name, lc_err *e)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    r->name = name;
    uint8_t hdr[LC_KL_HEADER_BYTES];
    size_t got = fread(hdr, 1, sizeof hdr, f);
    llamac_status st = lc_kl_header_parse(hdr, got, size, &r->h, e);
    if (st) {
        lc_kl_reader_close(r);
        return st;
    }
    /* both allocations are bounded by the file's (checked) length */
    r->tokens = malloc((size_t)r->h.n_tokens * sizeof(int32_t));
    r->buf = malloc(r->h.n_tokens * 4 > r->h.record_bytes ? (size_t)r->h.n_tokens * 4 : r->h.record_bytes);
    if (!r->tokens || !r->buf) {
        lc_kl_reader_close(r);
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory reading %s", name);
    }
    if (fread(r->buf, 4, (size_t)r->h.n_tokens, f) != (size_t)r->h.n_tokens) {
        lc_kl_reader_close(r);
        return lc_fail(e, LLAMAC_E_IO, "cannot read the tokens of %s", name);
    }
    for (uint64_t i = 0; i < r->h.n_tokens; i++) {
        int32_t t = (int32_t)get_u32(r->buf + 4 * i);
        if (t < 0 || t >= (int32_t)r->h.n_vocab) {
            lc_kl_reader_close(r);
            return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file %s: token %llu is %d, outside the "
                           "vocabulary of %u", name, (unsigned long long)i, t, r->h.n_vocab);
        }
        r->tokens[i] = t;
    }
    return LLAMAC_OK;
}

llamac_status lc_kl_reader_open(lc_kl_reader *r, const char *path, lc_err *e)
{
    memset(r, 0, sizeof *r);
    int fd = -1;
    llamac_status st = lc_open_regular(path, "log-probability file", &fd, e);
    if (st)
        return st;
    struct stat sb;
    FILE *f = fstat(fd, &sb) == 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        close(fd);
        return lc_fail(e, LLAMAC_E_IO, "cannot read %s: %s", path, strerror(errno));
    }
    return lc_kl_reader_open_stream(r, f, (uint64_t)sb.st_size, path, e);
}

llamac_status lc_kl_reader_next(lc_kl_reader *r, lc_lp_record *rec, uint16_t *codes, lc_err *e)
{
    const uint64_t n_records = (uint64_t)r->h.n_scored * r->h.n_windows;
    if (r->next >= n_records)
        return lc_fail(e, LLAMAC_E_FORMAT, "log-probability file %s has only %llu records", r->name,
                       (unsigned long long)n_records);
    if (fread(r->buf, 1, r->h.record_bytes, r->f) != r->h.record_bytes)
        return lc_fail(e, LLAMAC_E_IO, "cannot read record %llu of %s (the file shrank?)",
                       (unsigned long long)r->next, r->name);
    llamac_status st = parse_record(r->buf, &r->h, r->next, rec, codes, e);
    r->next++;
    return st;
}

/* ---- writer ---- */

void lc_kl_writer_abort(lc_kl_writer *w)
{
    lc_outfile_abort(&w->out);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

llamac_status lc_kl_writer_open(lc_kl_writer *w, const char *path, const lc_kl_header *h, const int32_t *tokens,
                                lc_err *e)
{
    memset(w, 0, sizeof *w);
    w->h = *h;
    if (!h->file_bytes)
        return lc_fail(e, LLAMAC_E_INVALID_ARG, "log-probability file: sizes out of range");
    if (!(w->buf = malloc(h->record_bytes > 4 * 4096 ? h->record_bytes : 4 * 4096)))
        return lc_fail(e, LLAMAC_E_NOMEM, "out of memory");
    /* an existing target that is not a regular file (symlink, FIFO, device, directory) is refused, not replaced */
    llamac_status st = lc_outfile_open(&w->out, path, "log-probability file", e);
    if (st) {
        lc_kl_writer_abort(w);
        return st;
    }
    uint8_t hdr[LC_KL_HEADER_BYTES];
    lc_kl_header_pack(h, hdr);
    int bad = fwrite(hdr, 1, sizeof hdr, w->out.f) != sizeof hdr;
    for (uint64_t i = 0; i < h->n_tokens && !bad; i += 4096) {
        size_t k = h->n_tokens - i < 4096 ? (size_t)(h->n_tokens - i) : 4096;
        for (size_t j = 0; j < k; j++)
            put_u32(w->buf + 4 * j, (uint32_t)tokens[i + j]);
        bad = fwrite(w->buf, 4, k, w->out.f) != k;
    }
    if (bad) {
        st = lc_fail(e, LLAMAC_E_IO, "cannot write %s: %s", w->out.path, strerror(errno));
        lc_kl_writer_abort(w);
        return st;
    }
    return LLAMAC_OK;
}

llamac_status lc_kl_writer_add(lc_kl_writer *w, const lc_lp_record *rec, const uint16_t *codes, lc_err *e)
{
    if (w->n_written >= (uint64_t)w->h.n_scored * w->h.n_windows)
        return lc_fail(e, LLAMAC_E_INTERNAL, "log-probability file: more records than the header says");
    pack_record(rec, codes, w->h.n_vocab, w->buf);
    if (fwrite(w->buf, 1, w->h.record_bytes, w->out.f) != w->h.record_bytes)
        return lc_fail(e, LLAMAC_E_IO, "cannot write %s: %s", w->out.path, strerror(errno));
    w->n_written++;
    return LLAMAC_OK;
}

llamac_status lc_kl_writer_finish(lc_kl_writer *w, lc_err *e)
{
    llamac_status st = LLAMAC_OK;
    if (w->n_written != (uint64_t)w->h.n_scored * w->h.n_windows)
        st = lc_fail(e, LLAMAC_E_INTERNAL, "log-probability file: %llu records written, the header says %llu",
                     (unsigned long long)w->n_written, (unsigned long long)w->h.n_scored * w->h.n_windows);
    else
        st = lc_outfile_commit(&w->out, e); /* flushed, synced, renamed; w->out is released either way */
    lc_kl_writer_abort(w);
    return st;
}
