/* process_batch and process_batch_parallel. The parallel version really runs on threads: workers take
 * small chunks from a shared counter (the two cores here differ in speed from run to run, so a static
 * split would wait for the slower one), each with its own digest contexts, sharing the locked cache. */
#include "processor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define BATCH_MAX_CHUNK 64

static int batch_range(ms_processor *p, ms_crypto_ctx *cx, const ms_transaction *in, ms_scored *out,
                       size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        double s;
        int rc = ms_processor_score_ctx(p, cx, &in[i], &s);
        if (rc != MS_PROC_OK)
            return rc;
        out[i].txn = in[i];
        out[i].risk_score = s;
    }
    return MS_PROC_OK;
}

int ms_batch_process(ms_processor *p, const ms_transaction *in, size_t n, ms_scored *out)
{
    if (!p || (n && (!in || !out)))
        return MS_PROC_ENULL;
    ms_crypto_ctx *cx;
    int rc = ms_crypto_ctx_new(ms_processor_crypto(p), &cx);
    if (rc != MS_PROC_OK)
        return rc;
    rc = batch_range(p, cx, in, out, 0, n);
    ms_crypto_ctx_free(cx);
    return rc;
}

typedef struct batch_job {
    ms_processor *p;
    const ms_transaction *in;
    ms_scored *out;
    size_t n;
    size_t chunk;
    atomic_size_t next;
    atomic_int status; /* the first failure; the others stop at their next chunk */
} batch_job;

static void batch_fail(batch_job *job, int rc)
{
    int ok = MS_PROC_OK;
    atomic_compare_exchange_strong(&job->status, &ok, rc);
}

static void *batch_worker(void *arg)
{
    batch_job *job = arg;
    ms_crypto_ctx *cx;
    int rc = ms_crypto_ctx_new(ms_processor_crypto(job->p), &cx);
    if (rc != MS_PROC_OK) {
        batch_fail(job, rc);
        return NULL;
    }
    while (atomic_load_explicit(&job->status, memory_order_relaxed) == MS_PROC_OK) {
        size_t from = atomic_fetch_add(&job->next, job->chunk);
        if (from >= job->n)
            break;
        size_t to = from + job->chunk < job->n ? from + job->chunk : job->n;
        rc = batch_range(job->p, cx, job->in, job->out, from, to);
        if (rc != MS_PROC_OK)
            batch_fail(job, rc);
    }
    ms_crypto_ctx_free(cx);
    return NULL;
}

int ms_batch_process_parallel(ms_processor *p, const ms_transaction *in, size_t n, ms_scored *out,
                              unsigned threads)
{
    if (!p || (n && (!in || !out)))
        return MS_PROC_ENULL;
    if (threads == 0)
        return MS_PROC_EINVAL;
    if (threads == 1 || n < 2)
        return ms_batch_process(p, in, n, out);
    if (threads > n)
        threads = (unsigned)n;

    batch_job job = {.p = p, .in = in, .out = out, .n = n};
    /* About eight chunks per thread balances the load; a cap keeps the tail short on big batches. */
    job.chunk = n / ((size_t)threads * 8);
    if (job.chunk == 0)
        job.chunk = 1;
    if (job.chunk > BATCH_MAX_CHUNK)
        job.chunk = BATCH_MAX_CHUNK;
    atomic_init(&job.next, 0);
    atomic_init(&job.status, MS_PROC_OK);

    pthread_t *tids = malloc(sizeof *tids * (threads - 1));
    if (!tids)
        return MS_PROC_ENOMEM;
    unsigned started = 0;
    /* Fewer threads than asked still finish the batch: the caller works through whatever is left. */
    while (started < threads - 1 && pthread_create(&tids[started], NULL, batch_worker, &job) == 0)
        started++;
    batch_worker(&job);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    return atomic_load(&job.status);
}
