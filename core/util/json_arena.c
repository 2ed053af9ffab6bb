/* The jansson arena (util/json_arena.h). jansson's allocator is global, so
 * once installed every jansson value in the process goes through arena_malloc
 * and arena_free: outside a scope they are plain malloc and free, and a free
 * recognises an arena's pointer by its address. */
#include "util/json_arena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/banned.h"

#define ARENA_SIZE (512 * 1024)

struct arena {
	char *base;
	size_t used;
	int active;
};

static __thread struct arena arena;
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static pthread_key_t arena_key;

static void *arena_malloc(size_t n)
{
	struct arena *a = &arena;
	if (a->active) {
		size_t need = (n + 15) & ~(size_t)15;
		if (need >= n && need <= ARENA_SIZE - a->used) {
			void *p = a->base + a->used;
			a->used += need;
			return p;
		}
	}
	return malloc(n);
}

static void arena_free(void *p)
{
	const struct arena *a = &arena;
	if (a->base && (uintptr_t)p >= (uintptr_t)a->base && (uintptr_t)p < (uintptr_t)a->base + ARENA_SIZE)
		return;
	free(p);
}

static void arena_release(void *base)
{
	free(base);
}

static void install(void)
{
	pthread_key_create(&arena_key, arena_release);
	json_set_alloc_funcs(arena_malloc, arena_free);
}

void wo_json_arena_begin(void)
{
	pthread_once(&installed, install);
	if (!arena.base) {
		arena.base = malloc(ARENA_SIZE);
		if (!arena.base)
			return; /* malloc and free serve */
		pthread_setspecific(arena_key, arena.base);
	}
	arena.used = 0;
	arena.active = 1;
}

void wo_json_arena_end(void)
{
	arena.active = 0;
	arena.used = 0;
}
