/*
 * blocklist.h - domain lists and the immutable index they load into.
 *
 * A list is text, one entry a line:
 *   example.com              the name and every name under it
 *   *.example.com            only names strictly under example.com
 *   0.0.0.0 a.com b.com      hosts-file form: an address, then names
 *   # comment                also after an entry; blank lines are skipped
 * Names are matched without case and without a trailing dot.  A name may
 * hold letters, digits, '-' and '_' in labels of 1 to 63 characters, at
 * most 253 in all.  The boilerplate names of hosts files (localhost,
 * broadcasthost, ip6-allnodes, ...) are skipped on hosts-form lines, so a
 * published hosts file loads as it is.  Any other line is an error that
 * fails the whole load.
 *
 * The index is built once and never changes: lookups from any number of
 * threads need no lock, and a reload builds a new index beside the old.
 * It is an open-addressing hash table of 32-bit offsets into one string
 * arena, laid out in 64-byte buckets of 12 slots with a one-byte hash tag
 * each, so a probe reads one cache line and touches the arena only on a
 * tag match.  It is kept at most three quarters full: 7 to 14 bytes of
 * table per entry, plus the name and 3 bytes in the arena.
 */
#ifndef DD_BLOCKLIST_H
#define DD_BLOCKLIST_H

#include <stddef.h>

struct blocklist_index;

/* What a lookup matched.  Both strings belong to the index. */
struct blocklist_hit {
    const char *entry;  /* the entry as listed: "example.com" or
                           "*.example.com" */
    const char *list;   /* the path (or name) of the list it came from */
};

/*
 * Load the n lists at paths into a new index (n may be 0: an empty
 * index).  An entry listed twice keeps its first list.  On error returns
 * NULL and writes one line to err naming the list and line, such as
 *   "lists/ads.txt:12: invalid name 'foo bar'"
 * The caller owns the index.  Any thread.  Same as a builder fed each
 * file in turn.
 */
struct blocklist_index *blocklist_index_load(const char *const *paths,
                                             size_t n, char *err,
                                             size_t errlen);

/*
 * Building an index list by list, from files or from memory (ConfigMap
 * data, a fuzzer's input).  new() returns NULL when out of memory.  Each
 * add returns 0, or a negative errno with one line in err as above; after
 * a failed add the builder holds part of that list, so free it.  finish()
 * consumes the builder and returns the index, which the caller owns.  A
 * builder belongs to one thread.
 */
struct blocklist_builder;

struct blocklist_builder *blocklist_builder_new(void);
int blocklist_builder_add_text(struct blocklist_builder *b, const char *name,
                               const char *text, size_t len, char *err,
                               size_t errlen);
int blocklist_builder_add_file(struct blocklist_builder *b, const char *path,
                               char *err, size_t errlen);
struct blocklist_index *blocklist_builder_finish(struct blocklist_builder *b);
void blocklist_builder_free(struct blocklist_builder *b);

/*
 * Look qname (qlen bytes, lowercase, no trailing dot) up: walks its
 * suffixes without allocating.  Returns 1 and fills hit with the most
 * specific entry that covers qname, or returns 0.  ix may be NULL (no
 * match).  Any thread.
 */
int blocklist_index_lookup(const struct blocklist_index *ix,
                           const char *qname, size_t qlen,
                           struct blocklist_hit *hit);

/* The entry blocklist_index_lookup() would match, or NULL. */
const char *blocklist_index_match(const struct blocklist_index *ix,
                                  const char *qname, size_t qlen);

/* Distinct entries held. */
size_t blocklist_index_size(const struct blocklist_index *ix);

/* Heap bytes held by the index (table, tags, arena, list names). */
size_t blocklist_index_bytes(const struct blocklist_index *ix);

/* Release an index; NULL is fine.  No lookup may be running on it. */
void blocklist_index_free(struct blocklist_index *ix);

#endif
