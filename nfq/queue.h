/*
 * The NFQUEUE the rules send unmatched flows to: bound with libmnl, every
 * queued packet gets a verdict (verdict.c decides), denied flows are logged
 * with a rate limit. Fail-open is never requested: if the gate falls
 * behind, the kernel drops.
 */
#ifndef NAMEGATE_QUEUE_H
#define NAMEGATE_QUEUE_H

#include <stdint.h>

#include "addrmap.h"
#include "conf.h"
#include "loop.h"

/* Bytes of each packet: all of it, for the first flights bind.h reads (the
 * rules queue few packets, and most are small). */
#define QUEUE_COPY_RANGE 65535
#define QUEUE_MAXLEN 8192 /* packets waiting for a verdict; beyond: dropped */
#define QUEUE_LOG_PER_SECOND 100

struct queue;

/* Binds queue num and registers with lp. c and map must outlive the queue
 * or be replaced through queue_set_conf. NULL after logging why. */
struct queue *queue_new(struct loop *lp, uint16_t num, const struct conf *c,
                        const struct addrmap *map);
void queue_set_conf(struct queue *q, const struct conf *c);
/* Who sent a denied flow (who.h); NULL: flow lines name no process. */
struct who;
void queue_set_who(struct queue *q, struct who *w);
uint16_t queue_num(const struct queue *q);
void queue_free(struct queue *q);

#endif
