/*
 * serve_watch.c — the deadline for receiving a request. libmicrohttpd's connection timeout is an IDLE timeout: a
 * client that sends its headers (or body) a byte every few hundred milliseconds is never idle and would hold a
 * connection thread forever (slowloris). So every connection is registered here when MHD opens it, and a
 * watchdog thread shuts down the socket of any connection that has spent more than the deadline without a
 * request being worked on (reading one, or idle between keep-alive requests); MHD then sees the socket fail and
 * closes the connection as usual. A connection whose request is being answered (a long generation, a stream) is
 * never cut here: the engine's --timeout bounds that.
 *
 * Under pressure (at least `pressure` connections open, close to MHD's connection limit, beyond which new
 * connections wait in the listen backlog) the deadline shrinks to `pressure_deadline`: every connection that has
 * not delivered a request by then (idle, or dripping bytes) is cut, so that hundreds of idle or slowloris
 * sockets cannot keep a well-behaved client waiting for a slot for more than a few seconds. A connection whose
 * request is being answered is never cut, so streams and long generations are not disturbed.
 *
 * Invariant: a registered fd is open (MHD reports the close before closing the socket), and the watchdog only
 * touches fds under the registry's lock, so it never shuts down a reused descriptor.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "serve.h"

struct serve_conn {
    int fd;
    int busy;          /* a request is being answered */
    int cut;
    double since_ms;   /* when it was opened or last became idle */
    serve_conn *prev, *next;
};

struct serve_watch {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stop;
    double deadline_ms;
    double pressure_deadline_ms;
    int pressure;      /* open connections from which pressure_deadline_ms applies */
    int n;             /* open connections */
    uint64_t cut_total; /* connections cut */
    serve_conn *head;
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *watch_main(void *arg)
{
    serve_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 500 * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000) {
            until.tv_sec++;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
        const double now = mono_ms();
        const double deadline = w->n >= w->pressure ? w->pressure_deadline_ms : w->deadline_ms;
        for (serve_conn *c = w->head; c; c = c->next)
            if (!c->busy && !c->cut && now - c->since_ms > deadline) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = 1;
                w->cut_total++;
            }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

serve_watch *serve_watch_create(double deadline_s, int pressure, double pressure_deadline_s)
{
    serve_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->deadline_ms = deadline_s * 1e3;
    w->pressure = pressure;
    w->pressure_deadline_ms = pressure_deadline_s * 1e3;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w)) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void serve_watch_free(serve_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    while (w->head) {
        serve_conn *c = w->head;
        w->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

serve_conn *serve_watch_open(serve_watch *w, int fd)
{
    serve_conn *c = w ? calloc(1, sizeof *c) : NULL;
    if (!c)
        return NULL; /* not watched: the idle timeout still applies */
    c->fd = fd;
    c->since_ms = mono_ms();
    pthread_mutex_lock(&w->lock);
    c->next = w->head;
    if (w->head)
        w->head->prev = c;
    w->head = c;
    if (++w->n == w->pressure) /* look now, not at the next tick */
        pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return c;
}

void serve_watch_close(serve_watch *w, serve_conn *c)
{
    if (!w || !c)
        return;
    pthread_mutex_lock(&w->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n--;
    pthread_mutex_unlock(&w->lock);
    free(c);
}

void serve_watch_busy(serve_watch *w, serve_conn *c, int busy)
{
    if (!w || !c)
        return;
    pthread_mutex_lock(&w->lock);
    c->busy = busy;
    c->since_ms = mono_ms();
    pthread_mutex_unlock(&w->lock);
}

void serve_watch_counts(serve_watch *w, int *open, uint64_t *cut)
{
    *open = 0;
    *cut = 0;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    *open = w->n;
    *cut = w->cut_total;
    pthread_mutex_unlock(&w->lock);
}
