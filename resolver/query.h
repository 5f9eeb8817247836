/*
 * The query lifecycle (query.c): a client's query decided, answered locally,
 * from the cache or from upstream, its addresses sent to the gate, and the
 * reply sent once the gate acknowledged them. One event loop; main wires it
 * up and hands it each config it loads.
 */
#ifndef NAMEGATE_QUERY_H
#define NAMEGATE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "conf.h"
#include "frontend.h"
#include "gateclient.h"
#include "holds.h"
#include "loop.h"
#include "upstream.h"

/* Before the first query: what queries run on, and the config loaded. */
void query_start(struct loop *lp, struct upstream *up, struct gateclient *gc, struct cache *cache,
                 struct holds *holds, const struct conf *c);
/* A newly loaded config, which replaces the running one (which the caller
 * then frees): templates built for the old one are no longer used. */
void query_set_conf(const struct conf *c);
/* The frontend's callback: one client message. */
void query_on_client(const uint8_t *buf, size_t len, const struct frontend_client *cl, void *arg);
/* Drops every query in flight, without replies. */
void query_stop(void);

#endif
