/*
 * bench_serve_load.c — a cheap load generator for bench/serve_bench.py: N clients, each streaming R completions
 * back to back from an OpenAI-compatible server (POST /v1/completions, "stream": true, ignore_eos,
 * max_tokens N, stream_options.include_usage), all from ONE thread with poll(), so on a small machine the load
 * generator takes little CPU from the server it measures (Python client threads parsing every event took a
 * visible share of 2 cores).
 *
 *   bench_serve_load HOST PORT CLIENTS REQUESTS TOKENS PROMPT_WORDS TAG [TEMPERATURE [EXTRA_FILE]]
 *
 * TEMPERATURE (default 0, greedy) > 0 samples, as OpenAI clients do by default (temperature 1). EXTRA_FILE holds
 * JSON object members (e.g. `"logit_bias": {...}`) added to every request body.
 * Prompts are those of serve_bench.py ("[TAG c.r] " + prompt_for(c, r, words)). Prints one JSON object per
 * request on stdout: {"ttft", "tokens", "t_first", "t_last", "t_start", "t_end", "finish"} (seconds on the
 * monotonic clock, like Python's time.monotonic), or {"error": "..."}. tokens is the usage chunk's
 * completion_tokens, else the number of events carrying text. Not a test; links nothing of llamac.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static const char *WORDS[] = {"time",    "light",  "river",  "stone",   "garden", "market",  "letter", "window",
                              "mountain", "music", "winter", "harbor",  "forest", "silver",  "engine", "story",
                              "village", "candle", "thunder", "paper",  "island", "bridge",  "orchard", "lantern"};
#define N_WORDS ((int)(sizeof WORDS / sizeof WORDS[0]))

enum { HEAD, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, DONE };

typedef struct conn {
    int fd, client, request, state;
    char *out;                   /* the request not yet sent */
    size_t out_len, out_off;
    char head[8192];             /* the response head */
    size_t head_len;
    int status;
    size_t chunk_left;
    char line[65536];            /* the current SSE line (de-chunked) */
    size_t line_len;
    char size_line[32];
    size_t size_len;
    double t_start, t_first, t_last;
    long text_events, usage_tokens;
    char finish[32];
} conn;

static struct sockaddr_storage g_addr;
static socklen_t g_addr_len;
static int g_tokens, g_words;
static double g_temperature; /* 0: greedy */
static const char *g_tag, *g_host;
static char *g_extra; /* members added to every body, or NULL */

static void prompt_for(int c, int r, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "[%s %d.%d] ", g_tag, c, r);
    for (int i = 0; i < g_words && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", WORDS[(c * 7 + r * 13 + i * (c + 3)) % N_WORDS]);
}

static int start(conn *k, int client, int request)
{
    memset(k, 0, sizeof *k);
    k->client = client, k->request = request, k->state = HEAD;
    char prompt[16384];
    prompt_for(client, request, prompt, sizeof prompt);
    size_t cap = strlen(prompt) + (g_extra ? strlen(g_extra) : 0) + 256;
    char *body = malloc(cap);
    if (!body)
        return -1;
    int bl = snprintf(body, cap,
                      "{\"prompt\": \"%s\", \"max_tokens\": %d, \"stream\": true, \"temperature\": %g, \"ignore_eos\": "
                      "true, \"stream_options\": {\"include_usage\": true}%s%s}",
                      prompt, g_tokens, g_temperature, g_extra ? ", " : "", g_extra ? g_extra : "");
    k->out = malloc((size_t)bl + 512);
    if (!k->out) {
        free(body);
        return -1;
    }
    k->out_len = (size_t)sprintf(k->out,
                                 "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                                 g_host, bl, body);
    free(body);
    k->fd = socket(g_addr.ss_family, SOCK_STREAM, 0);
    if (k->fd < 0)
        return -1;
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    k->t_start = bench_now();
    if (connect(k->fd, (struct sockaddr *)&g_addr, g_addr_len) != 0)
        return -1;
    return 0;
}

static void report(conn *k, const char *error)
{
    if (error)
        printf("{\"error\": \"client %d request %d: %s\"}\n", k->client, k->request, error);
    else
        printf("{\"ttft\": %.6f, \"tokens\": %ld, \"t_first\": %.6f, \"t_last\": %.6f, \"t_start\": %.6f, "
               "\"t_end\": %.6f, \"finish\": \"%s\"}\n",
               k->t_first - k->t_start, k->usage_tokens > 0 ? k->usage_tokens : k->text_events, k->t_first,
               k->t_last, k->t_start, bench_now(), k->finish);
    fflush(stdout);
}

/* One complete SSE line. Returns 1 at "data: [DONE]". */
static int sse_line(conn *k, double t)
{
    k->line[k->line_len] = 0;
    const char *d = k->line;
    if (strncmp(d, "data:", 5))
        return 0;
    d += 5;
    while (*d == ' ')
        d++;
    if (!strcmp(d, "[DONE]"))
        return 1;
    const char *p = strstr(d, "\"text\":\"");
    if (p && p[8] != '"') {
        if (k->t_first == 0)
            k->t_first = t;
        k->t_last = t;
        k->text_events++;
    }
    if ((p = strstr(d, "\"completion_tokens\":")))
        k->usage_tokens = strtol(p + 20, NULL, 10);
    if (!strncmp(d, "{\"error\":", 9)) /* an error event after the headers (llama-server: HTTP 500 mid-stream) */
        snprintf(k->finish, sizeof k->finish, "error");
    else if ((p = strstr(d, "\"finish_reason\":\""))) {
        p += 17;
        size_t n = strcspn(p, "\"");
        if (n >= sizeof k->finish)
            n = sizeof k->finish - 1;
        memcpy(k->finish, p, n);
        k->finish[n] = 0;
    }
    return 0;
}

/* Feeds received bytes through the chunked decoder and the SSE line splitter. Returns 1 when the response is
 * complete, -1 on a protocol error. */
static int feed(conn *k, const char *b, size_t n, double t)
{
    for (size_t i = 0; i < n;) {
        if (k->state == HEAD) {
            if (k->head_len + 1 >= sizeof k->head)
                return -1;
            k->head[k->head_len++] = b[i++];
            k->head[k->head_len] = 0;
            if (k->head_len >= 4 && !memcmp(k->head + k->head_len - 4, "\r\n\r\n", 4)) {
                if (sscanf(k->head, "HTTP/1.%*d %d", &k->status) != 1 || k->status != 200)
                    return -1;
                if (!strcasestr(k->head, "transfer-encoding: chunked"))
                    return -1;
                k->state = CHUNK_SIZE;
            }
        } else if (k->state == CHUNK_SIZE) {
            char ch = b[i++];
            if (ch == '\n') {
                k->size_line[k->size_len] = 0;
                k->chunk_left = strtoul(k->size_line, NULL, 16);
                k->size_len = 0;
                k->state = k->chunk_left ? CHUNK_DATA : DONE;
                if (k->state == DONE)
                    return 1;
            } else if (ch != '\r' && k->size_len + 1 < sizeof k->size_line) {
                k->size_line[k->size_len++] = ch;
            }
        } else if (k->state == CHUNK_DATA) {
            size_t m = n - i < k->chunk_left ? n - i : k->chunk_left;
            for (size_t j = 0; j < m; j++) {
                char ch = b[i + j];
                if (ch == '\n') {
                    if (sse_line(k, t))
                        return 1;
                    k->line_len = 0;
                } else if (ch != '\r' && k->line_len + 1 < sizeof k->line) {
                    k->line[k->line_len++] = ch;
                }
            }
            i += m;
            k->chunk_left -= m;
            if (k->chunk_left == 0)
                k->state = CHUNK_END;
        } else if (k->state == CHUNK_END) {
            if (b[i++] == '\n')
                k->state = CHUNK_SIZE;
        } else {
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 8 || argc > 10) {
        fprintf(stderr, "usage: bench_serve_load HOST PORT CLIENTS REQUESTS TOKENS PROMPT_WORDS TAG [TEMPERATURE "
                        "[EXTRA_FILE]]\n");
        return 2;
    }
    if (argc == 10) {
        FILE *f = fopen(argv[9], "rb");
        long n = -1;
        if (f && fseek(f, 0, SEEK_END) == 0)
            n = ftell(f);
        if (!f || n < 0 || n > (16L << 20) || fseek(f, 0, SEEK_SET) != 0 || !(g_extra = malloc((size_t)n + 1)) ||
            fread(g_extra, 1, (size_t)n, f) != (size_t)n) {
            fprintf(stderr, "bench_serve_load: cannot read %s (at most 16 MiB)\n", argv[9]);
            return 2;
        }
        g_extra[n] = 0;
        fclose(f);
    }
    if (argc >= 9) {
        char *end;
        g_temperature = strtod(argv[8], &end);
        if (*end || !(g_temperature >= 0 && g_temperature <= 2)) {
            fprintf(stderr, "bench_serve_load: temperature %s is not a number in 0..2\n", argv[8]);
            return 2;
        }
    }
    g_host = argv[1];
    const int n_clients = atoi(argv[3]), n_requests = atoi(argv[4]);
    g_tokens = atoi(argv[5]), g_words = atoi(argv[6]), g_tag = argv[7];
    if (n_clients < 1 || n_clients > 4096 || n_requests < 1 || g_tokens < 1 || g_words < 0 || g_words > 1000) {
        fprintf(stderr, "bench_serve_load: bad numbers\n");
        return 2;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "bench_serve_load: cannot resolve %s:%s\n", argv[1], argv[2]);
        return 1;
    }
    memcpy(&g_addr, ai->ai_addr, ai->ai_addrlen);
    g_addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    conn *cs = calloc((size_t)n_clients, sizeof *cs);
    struct pollfd *pf = calloc((size_t)n_clients, sizeof *pf);
    int *next_req = calloc((size_t)n_clients, sizeof *next_req);
    if (!cs || !pf || !next_req)
        return 1;
    int active = 0;
    for (int c = 0; c < n_clients; c++) {
        if (start(&cs[c], c, 0)) {
            report(&cs[c], strerror(errno));
            cs[c].fd = -1;
            continue;
        }
        next_req[c] = 1;
        active++;
    }
    static char buf[65536];
    while (active > 0) {
        for (int c = 0; c < n_clients; c++) {
            pf[c].fd = cs[c].fd;
            pf[c].events = cs[c].out_off < cs[c].out_len ? POLLOUT : POLLIN;
            pf[c].revents = 0;
        }
        if (poll(pf, (nfds_t)n_clients, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        const double t = bench_now();
        for (int c = 0; c < n_clients; c++) {
            conn *k = &cs[c];
            if (k->fd < 0 || !pf[c].revents)
                continue;
            int end = 0;
            const char *error = NULL;
            if (k->out_off < k->out_len) {
                ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off, MSG_NOSIGNAL);
                if (w > 0)
                    k->out_off += (size_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR)
                    end = -1, error = strerror(errno);
            } else {
                ssize_t r = recv(k->fd, buf, sizeof buf, 0);
                if (r > 0)
                    end = feed(k, buf, (size_t)r, t);
                else if (r == 0)
                    end = k->t_first > 0 ? 1 : -1, error = "connection closed early";
                else if (errno != EAGAIN && errno != EINTR)
                    end = -1, error = strerror(errno);
                if (end < 0 && !error)
                    error = k->status && k->status != 200 ? "HTTP status not 200" : "bad response";
            }
            if (!end)
                continue;
            if (end > 0 && k->t_first == 0)
                end = -1, error = "no token received";
            report(k, end < 0 ? error : NULL);
            close(k->fd);
            free(k->out);
            k->fd = -1;
            active--;
            if (next_req[c] < n_requests) {
                if (start(k, c, next_req[c]++)) {
                    report(k, strerror(errno));
                    if (k->fd >= 0)
                        close(k->fd);
                    k->fd = -1;
                } else {
                    active++;
                }
            }
        }
    }
    free(cs);
    free(pf);
    free(next_req);
    free(g_extra);
    return 0;
}
