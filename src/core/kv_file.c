/*
 * kv_file.c — llamac_seq_save / llamac_seq_load: one sequence's token ids and K/V to and from a snapshot file
 * (format: kv_snapshot.h).
 *
 * Saving writes a temporary file in the destination's directory, syncs it and renames it over the destination
 * (util/file.h), so a reader never sees a partial snapshot; on any failure nothing is left behind. Loading validates
 * the header and every token id against the model, the context and the file's length before it takes blocks;
 * it reads K/V straight into fresh blocks and replaces the sequence only when everything was read. Loaded
 * blocks are tainted (kv_cache.h): their content comes from outside, so they are never offered to the prefix
 * cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context.h"
#include "core/kv_snapshot.h"
#include "util/file.h"

static lc_kv_snapshot_shape context_shape(const llamac_context *c)
{
    const lc_hparams *hp = &c->model->hp;
    lc_kv_snapshot_shape s = {(uint32_t)hp->n_layer, (uint32_t)hp->n_head_kv, (uint32_t)hp->head_dim,
                              (uint32_t)hp->n_vocab, (uint32_t)c->params.kv_type};
    return s;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* the file ended early (it shrank after the size check) */
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* tokens then, per (layer, head), K rows and V rows of positions 0..n-1, a block's run at a time */
static int write_body(const llamac_context *c, int seq, int fd, int n)
{
    const lc_kv_cache *kc = &c->kv;
    const lc_kv_pool *p = &kc->pool;
    int32_t buf[256];
    for (int i = 0; i < n; i += 256) {
        int m = n - i < 256 ? n - i : 256;
        for (int k = 0; k < m; k++) {
            uint32_t t = (uint32_t)*lc_kv_token(kc, seq, i + k);
            uint8_t *o = (uint8_t *)&buf[k];
            o[0] = (uint8_t)t, o[1] = (uint8_t)(t >> 8), o[2] = (uint8_t)(t >> 16), o[3] = (uint8_t)(t >> 24);
        }
        if (write_all(fd, buf, (size_t)m * 4))
            return -1;
    }
    for (int l = 0; l < p->g.n_layer; l++)
        for (int h = 0; h < p->g.n_head_kv; h++)
            for (int v = 0; v < 2; v++)
                for (int pos = 0; pos < n; pos += p->block_size) {
                    int rows = n - pos < p->block_size ? n - pos : p->block_size;
                    if (write_all(fd, lc_kv_row(kc, seq, l, h, v, pos), (size_t)rows * p->row_bytes))
                        return -1;
                }
    return 0;
}

llamac_status llamac_seq_save(llamac_context *c, int seq, const char *path)
{
    if (!c)
        return LLAMAC_E_INVALID_ARG;
    if (seq < 0 || seq >= c->params.n_seq_max || !path || !*path)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "llamac_seq_save: sequence %d / path not valid", seq);
    const int n = c->kv.seq[seq].len;
    lc_outfile of;
    llamac_status st = lc_outfile_open(&of, path, "KV snapshot", &c->err);
    if (st)
        return st;
    const lc_kv_snapshot_shape shape = context_shape(c);
    uint8_t hdr[LC_KV_SNAPSHOT_HEADER];
    lc_kv_snapshot_encode_header(hdr, &shape, (uint32_t)n);
    int fd = fileno(of.f); /* nothing goes through the stream's buffer */
    if (write_all(fd, hdr, sizeof hdr) || write_body(c, seq, fd, n)) {
        st = lc_fail(&c->err, LLAMAC_E_IO, "cannot write KV snapshot %s: %s", path, strerror(errno));
        lc_outfile_abort(&of);
        return st;
    }
    return lc_outfile_commit(&of, &c->err);
}

/* reads the K/V data of a validated snapshot into blocks[0..n_blk) */
static int read_body(llamac_context *c, int fd, const lc_kv_snapshot *sn, const int32_t *blocks)
{
    const lc_kv_pool *p = &c->kv.pool;
    const int n = (int)sn->n_pos;
    uint64_t off = sn->data_offset;
    for (int l = 0; l < p->g.n_layer; l++)
        for (int h = 0; h < p->g.n_head_kv; h++)
            for (int v = 0; v < 2; v++)
                for (int pos = 0; pos < n; pos += p->block_size) {
                    size_t bytes = (size_t)(n - pos < p->block_size ? n - pos : p->block_size) * p->row_bytes;
                    if (read_all(fd, lc_kv_pool_slab(p, blocks[pos >> p->g.block_log2], l, h, v), bytes, off))
                        return -1;
                    off += bytes;
                }
    return 0;
}

static llamac_status load_fd(llamac_context *c, int seq, int fd, const char *path)
{
    lc_kv_cache *kc = &c->kv;
    lc_kv_pool *p = &kc->pool;
    struct stat stt;
    if (fstat(fd, &stt) != 0)
        return lc_fail(&c->err, LLAMAC_E_IO, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISREG(stt.st_mode))
        return lc_fail(&c->err, LLAMAC_E_FORMAT, "KV snapshot %s is not a regular file", path);
    uint8_t hdr[LC_KV_SNAPSHOT_HEADER];
    size_t avail = (uint64_t)stt.st_size < sizeof hdr ? (size_t)stt.st_size : sizeof hdr;
    if (read_all(fd, hdr, avail, 0))
        return lc_fail(&c->err, LLAMAC_E_IO, "cannot read %s: %s", path, strerror(errno));
    const lc_kv_snapshot_shape want = context_shape(c);
    lc_kv_snapshot sn;
    llamac_status st =
        lc_kv_snapshot_check_header(hdr, avail, (uint64_t)stt.st_size, &want, c->params.n_ctx, &sn, &c->err);
    if (st)
        return st;
    const int n = (int)sn.n_pos, n_blk = lc_kv_blocks_for(kc, n);
    uint8_t *raw = malloc((size_t)n * 4 + 1);
    int32_t *tokens = malloc((size_t)n * sizeof *tokens + 1);
    int32_t *blocks = malloc((size_t)n_blk * sizeof *blocks + 1);
    if (!raw || !tokens || !blocks)
        st = lc_fail(&c->err, LLAMAC_E_NOMEM, "out of memory");
    else if (read_all(fd, raw, (size_t)n * 4, LC_KV_SNAPSHOT_HEADER))
        st = lc_fail(&c->err, LLAMAC_E_IO, "cannot read %s: %s", path, strerror(errno));
    else if (!(st = lc_kv_snapshot_tokens(raw, sn.n_pos, want.n_vocab, tokens, &c->err)) &&
             n_blk > lc_kv_pool_available(p))
        st = lc_fail(&c->err, LLAMAC_E_KV_FULL,
                     "KV cache full: loading %s needs %d blocks but only %d can be had (%d of %d in use, %d cached)",
                     path, n_blk, lc_kv_pool_available(p), p->n_used, p->n_blocks, p->n_cached);
    if (!st) {
        for (int i = 0; i < n_blk; i++) {
            blocks[i] = lc_kv_pool_alloc(p);
            p->flags[blocks[i]] |= LC_KVB_TAINTED;
        }
        if (read_body(c, fd, &sn, blocks)) {
            st = lc_fail(&c->err, LLAMAC_E_IO, "cannot read %s: %s", path, strerror(errno));
            for (int i = n_blk - 1; i >= 0; i--)
                lc_kv_pool_unref(p, blocks[i]);
            lc_kv_pool_trim(p);
        } else {
            for (int pos = 0; pos < n; pos++)
                p->tokens[(size_t)blocks[pos >> p->g.block_log2] * p->block_size + (pos & (p->block_size - 1))] =
                    tokens[pos];
            lc_kv_install(kc, seq, blocks, n_blk, n);
        }
    }
    free(raw);
    free(tokens);
    free(blocks);
    return st;
}

llamac_status llamac_seq_load(llamac_context *c, int seq, const char *path)
{
    if (!c)
        return LLAMAC_E_INVALID_ARG;
    if (seq < 0 || seq >= c->params.n_seq_max || !path)
        return lc_fail(&c->err, LLAMAC_E_INVALID_ARG, "llamac_seq_load: sequence %d / path not valid", seq);
    int fd;
    llamac_status st = lc_open_regular(path, "KV snapshot", &fd, &c->err);
    if (st)
        return st;
    st = load_fd(c, seq, fd, path);
    close(fd);
    return st;
}
