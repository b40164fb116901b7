/* nbody: an ensemble of independent 64-body gravitational clusters, advanced
 * with softened forces and a kick-drift step in doubles on SSE2 vectors.
 *
 * --mem MiB holds the clusters (3.5 KiB each: positions, velocities and
 * masses).  Unit u advances cluster u mod nclusters by one time step (64 x
 * 64 force terms, a body's own being zero).  --threads T splits the
 * clusters statically (cluster c belongs to thread c mod T) and each thread
 * runs the units of its own clusters in order; clusters never interact, so
 * no locks are needed and the result does not depend on T or on
 * scheduling.  Each cluster keeps its own digest, folded over its state
 * after every step; the result folds those in cluster order, then all the
 * clusters' memory.
 *
 * With --until the threads work in batches of --work units and meet at a
 * barrier after each: one of them decides whether another batch follows,
 * the others wait for that decision, so they all stop at the same unit. */
#include "common.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define BODIES 64
#define SOFTENING2 (0.05 * 0.05)
#define DT 0.001

typedef double v2d __attribute__((vector_size(16)));

struct cluster {
	double x[BODIES], y[BODIES], z[BODIES];
	double vx[BODIES], vy[BODIES], vz[BODIES];
	double mass[BODIES];
};

static const struct wl_spec spec = {
	.name = "nbody",
	.summary = "Gravitational n-body simulation of an ensemble of 64-body clusters.",
	.unit = "one time step of one 64-body cluster (64 x 64 force terms)",
	.mem_meaning = "MiB of clusters (292 clusters of 3.5 KiB per MiB)",
	.accepts = WL_OPT_MEM | WL_OPT_THREADS,
	.default_work = 20000,
	.default_mem_mib = 4,
	.min_mem_mib = 1,
	.default_threads = 2,
	.rss_overhead_mib = 3,
};

struct ensemble {
	struct cluster *clusters;
	uint64_t *digests; /* one per cluster */
	uint64_t nclusters;
	struct wl_options *opts;
	pthread_barrier_t batch_end; /* where the threads meet after each batch */
	bool finished;		     /* set at the barrier: no batch follows */
};

struct worker {
	pthread_t thread;
	struct ensemble *ensemble;
	uint64_t index;
};

static void cluster_init(struct cluster *c, uint64_t seed, uint64_t index)
{
	uint64_t rng = wl_stream(seed, index);
	for (int i = 0; i < BODIES; i++) {
		c->x[i] = 2 * wl_rand_centered(&rng);
		c->y[i] = 2 * wl_rand_centered(&rng);
		c->z[i] = 2 * wl_rand_centered(&rng);
		c->vx[i] = 0.2 * wl_rand_centered(&rng);
		c->vy[i] = 0.2 * wl_rand_centered(&rng);
		c->vz[i] = 0.2 * wl_rand_centered(&rng);
		c->mass[i] = (1.0 + wl_rand_centered(&rng)) / BODIES;
	}
}

static v2d load2(const double *p)
{
	v2d v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* One step: every velocity gets the acceleration of the current positions
 * (the body itself contributes exactly zero, thanks to the softening), then
 * every position moves with its new velocity. */
static void cluster_step(struct cluster *c)
{
	double ax[BODIES], ay[BODIES], az[BODIES];
	for (int i = 0; i < BODIES; i++) {
		v2d xi = { c->x[i], c->x[i] }, yi = { c->y[i], c->y[i] }, zi = { c->z[i], c->z[i] };
		v2d sx = { 0, 0 }, sy = { 0, 0 }, sz = { 0, 0 };
		for (int j = 0; j < BODIES; j += 2) {
			v2d dx = load2(&c->x[j]) - xi, dy = load2(&c->y[j]) - yi;
			v2d dz = load2(&c->z[j]) - zi;
			v2d r2 = dx * dx + dy * dy + dz * dz + SOFTENING2;
			v2d r = { sqrt(r2[0]), sqrt(r2[1]) };
			v2d scale = load2(&c->mass[j]) / (r2 * r);
			sx += scale * dx;
			sy += scale * dy;
			sz += scale * dz;
		}
		ax[i] = sx[0] + sx[1];
		ay[i] = sy[0] + sy[1];
		az[i] = sz[0] + sz[1];
	}
	for (int i = 0; i < BODIES; i++) {
		c->vx[i] += DT * ax[i];
		c->vy[i] += DT * ay[i];
		c->vz[i] += DT * az[i];
		c->x[i] += DT * c->vx[i];
		c->y[i] += DT * c->vy[i];
		c->z[i] += DT * c->vz[i];
	}
}

/* --flip-at: before the step of unit, or after all of them, in the cluster
 * that unit steps. */
static void flip(struct ensemble *e, uint64_t unit)
{
	/* Byte 5 of a velocity: high mantissa bits. */
	uint64_t offset = unit % e->nclusters * sizeof(struct cluster) +
			  offsetof(struct cluster, vx) + (unit % BODIES) * sizeof(double) + 5;
	wl_flip_byte(&spec, (unsigned char *)e->clusters + offset, "the clusters", offset, unit);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct ensemble *e = w->ensemble;
	const struct wl_options *opts = e->opts;
	uint64_t threads = opts->threads, n = e->nclusters;

	for (uint64_t begin = 0;;) {
		/* Units [begin, end) of this thread's clusters, in increasing
		 * order: cluster c runs units c, c + n, c + 2n, ... */
		uint64_t end = opts->limit;
		for (uint64_t first = w->index; first < n; first += threads) {
			struct cluster *c = &e->clusters[first];
			/* Its first unit at or after begin. */
			uint64_t unit = begin + (first + n - begin % n) % n;
			for (; unit < end; unit += n) {
				if (opts->flip && unit == opts->flip_at)
					flip(e, unit);
				cluster_step(c);
				e->digests[first] = wl_fold(e->digests[first], c, sizeof(*c));
			}
		}
		/* Once every thread is here, one decides for all of them. */
		if (pthread_barrier_wait(&e->batch_end) == PTHREAD_BARRIER_SERIAL_THREAD)
			e->finished = !wl_extend(e->opts);
		pthread_barrier_wait(&e->batch_end);
		if (e->finished)
			return NULL;
		begin = end;
	}
}

int main(int argc, char **argv)
{
	struct wl_options opts;
	wl_parse(&spec, argc, argv, &opts);

	struct ensemble e = { .opts = &opts };
	e.nclusters = opts.mem_mib * WL_MIB / sizeof(struct cluster);
	e.clusters = wl_alloc(&spec, e.nclusters * sizeof(struct cluster));
	e.digests = wl_alloc(&spec, e.nclusters * sizeof(uint64_t));
	for (uint64_t i = 0; i < e.nclusters; i++) {
		cluster_init(&e.clusters[i], opts.seed, i);
		e.digests[i] = i;
	}
	struct worker workers[WL_MAX_THREADS];
	int err = pthread_barrier_init(&e.batch_end, NULL, (unsigned)opts.threads);
	if (err)
		wl_die(&spec, "pthread_barrier_init: %s", strerror(err));
	wl_ready();

	for (uint64_t t = 0; t < opts.threads; t++) {
		workers[t] = (struct worker){ .ensemble = &e, .index = t };
		err = pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]);
		if (err)
			wl_die(&spec, "pthread_create: %s", strerror(err));
	}
	for (uint64_t t = 0; t < opts.threads; t++)
		pthread_join(workers[t].thread, NULL);
	if (opts.flip && opts.flip_at == opts.limit)
		flip(&e, opts.flip_at);

	uint64_t digest = 0;
	for (uint64_t i = 0; i < e.nclusters; i++)
		digest = wl_fold_word(digest, e.digests[i]);
	digest = wl_fold(digest, e.clusters, e.nclusters * sizeof(struct cluster));
	return wl_finish(&spec, &opts, digest);
}
