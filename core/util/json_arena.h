/* A per-thread arena for jansson: between wo_json_arena_begin and
 * wo_json_arena_end, the values jansson makes on this thread come from one
 * block (a pointer bump instead of a malloc each) and freeing them costs
 * nothing. For parsing a body whose values do not outlive the scope (a
 * webhook delivery: a few hundred values, most of its cost in malloc and
 * free). Past the block's size, or outside a scope, malloc and free serve. */
#ifndef WO_UTIL_JSON_ARENA_H
#define WO_UTIL_JSON_ARENA_H

/* Nothing made inside may be used after wo_json_arena_end. Not nested. */
void wo_json_arena_begin(void);
void wo_json_arena_end(void);

#endif
