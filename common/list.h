/*
 * An intrusive doubly linked list: a struct list_node lives inside each
 * element, and a struct list (the head) is a sentinel node, so insertion and
 * removal never branch on "first" or "last" and never allocate.
 *
 *	struct query {
 *		...
 *		struct list_node link;
 *	};
 *	struct list pending;
 *
 *	list_init(&pending);
 *	list_push_back(&pending, &q->link);
 *	list_for_each_safe (n, tmp, &pending) {
 *		struct query *q = list_entry(n, struct query, link);
 *		...
 *		list_remove(&q->link);	(safe: the walk has read n->next already)
 *	}
 *
 * A removed node points at itself, so list_linked() tells whether it is on a
 * list and removing it twice is harmless. A node must be initialised
 * (list_node_init, or a list_push_*) before list_linked or list_remove sees
 * it; a zeroed node is neither on a list nor safe to remove. Not thread-safe:
 * both daemons are one event loop each.
 */
#ifndef NAMEGATE_LIST_H
#define NAMEGATE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *prev, *next;
};

/* The head: a node that is no element. Empty when it points at itself. */
struct list {
	struct list_node head;
};

/* The element that contains node, as its member. */
#define list_entry(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* Every node of l, front to back; the body may remove the current node (only
 * that one) because tmp already holds the next. */
#define list_for_each_safe(n, tmp, l)                                                              \
	for ((n) = (l)->head.next, (tmp) = (n)->next; (n) != &(l)->head;                           \
	     (n) = (tmp), (tmp) = (n)->next)

static inline void
list_init(struct list *l)
{
	l->head.prev = l->head.next = &l->head;
}

static inline void
list_node_init(struct list_node *n)
{
	n->prev = n->next = n;
}

static inline bool
list_empty(const struct list *l)
{
	return l->head.next == &l->head;
}

/* Is n on some list? */
static inline bool
list_linked(const struct list_node *n)
{
	return n->next != n;
}

static inline void
list_insert_between_(struct list_node *n, struct list_node *prev, struct list_node *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* Append / prepend n, which must not be on a list (list_remove it first). */
static inline void
list_push_back(struct list *l, struct list_node *n)
{
	list_insert_between_(n, l->head.prev, &l->head);
}

static inline void
list_push_front(struct list *l, struct list_node *n)
{
	list_insert_between_(n, &l->head, l->head.next);
}

/* Unlink n from whatever list holds it; a no-op on an unlinked node. */
static inline void
list_remove(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* Move n (on l or unlinked) to the back of l: "most recently used". */
static inline void
list_move_back(struct list *l, struct list_node *n)
{
	list_remove(n);
	list_push_back(l, n);
}

/* Moves every node of from, in order, to the back of to, and leaves from
 * empty; O(1). Also how a list changes heads: a head in memory that is
 * about to move (an array that grows) hands its nodes to one that stays. */
static inline void
list_splice_back(struct list *to, struct list *from)
{
	struct list_node *first = from->head.next, *last = from->head.prev;

	if (list_empty(from))
		return;
	first->prev = to->head.prev;
	to->head.prev->next = first;
	last->next = &to->head;
	to->head.prev = last;
	list_init(from);
}

/* The first / last node, or NULL when l is empty. */
static inline struct list_node *
list_first(const struct list *l)
{
	return list_empty(l) ? NULL : l->head.next;
}

static inline struct list_node *
list_last(const struct list *l)
{
	return list_empty(l) ? NULL : l->head.prev;
}

/* The node after / before n on l, or NULL at the end. */
static inline struct list_node *
list_next(const struct list *l, const struct list_node *n)
{
	return n->next == &l->head ? NULL : n->next;
}

static inline struct list_node *
list_prev(const struct list *l, const struct list_node *n)
{
	return n->prev == &l->head ? NULL : n->prev;
}

#endif
