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

struct detector;

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

/* ---- sets: the lists of one detector, by kind and scope ------------- */

/*
 * A set holds every list a blocklist detector applies: blocklists and
 * allowlists, each either cluster-wide or scoped to the pods of one
 * namespace.  A name is blocked for a pod when a blocklist of its scope
 * (cluster-wide, or the pod's namespace) covers it and no allowlist of
 * its scope does: an allowlist wins over every blocklist.  Like an
 * index, a set never changes once built, so lookups need no lock.
 */
struct blocklist_set;
struct blocklist_set_builder;

#define BLOCKLIST_SCOPES_MAX 64  /* cluster-wide plus 63 namespaces */
#define BLOCKLIST_NS_MAX 64      /* namespace name with its NUL */

enum blocklist_kind {
    BLOCKLIST_BLOCK = 0,  /* entries raise findings */
    BLOCKLIST_ALLOW = 1,  /* entries suppress them */
};

/* New empty builder, or NULL when out of memory.  One thread. */
struct blocklist_set_builder *blocklist_set_builder_new(void);

/*
 * Parse one list into the builder: kind is an enum blocklist_kind,
 * namespace_ the scope ("" or NULL: cluster-wide), name what findings
 * and errors call the list (a path, "configmap:ns/name").  This is the
 * loader of file lists and of ConfigMap data alike.  Returns 0, or a
 * negative errno with "name:line: reason" in err; -ENOSPC when a
 * namespace past BLOCKLIST_SCOPES_MAX would be needed.  After a failure
 * the builder holds part of the list: free it.
 */
int blocklist_set_add_text(struct blocklist_set_builder *sb, int kind,
                           const char *namespace_, const char *name,
                           const char *text, size_t len, char *err,
                           size_t errlen);

/* The same for the list in the file at path (named by its path). */
int blocklist_set_add_file(struct blocklist_set_builder *sb, int kind,
                           const char *namespace_, const char *path,
                           char *err, size_t errlen);

/*
 * Consume the builder and return the set, which the caller owns; NULL
 * (the builder freed) when out of memory.
 */
struct blocklist_set *
blocklist_set_builder_finish(struct blocklist_set_builder *sb);
void blocklist_set_builder_free(struct blocklist_set_builder *sb);

/*
 * The verdict on qname (qlen bytes, lowercase, no trailing dot) for a
 * pod of namespace pod_ns ("" or NULL: unattributed, only cluster-wide
 * lists apply).  Fills block with the blocklist entry that covers it
 * and allow with the allowlist entry that does (entry NULL when none;
 * the allowlists are only looked at when a blocklist matched).  Returns
 * 1 when blocked: block matched and allow did not.  s may be NULL.
 * Allocation-free; any thread.
 */
int blocklist_set_check(const struct blocklist_set *s, const char *qname,
                        size_t qlen, const char *pod_ns,
                        struct blocklist_hit *block,
                        struct blocklist_hit *allow);

/* Entries of the given kind over every scope. */
size_t blocklist_set_entries(const struct blocklist_set *s, int kind);

/* Heap bytes of every index of the set. */
size_t blocklist_set_bytes(const struct blocklist_set *s);

/* Namespaces with lists of their own. */
size_t blocklist_set_namespaces(const struct blocklist_set *s);

/* Release a set; NULL is fine.  No lookup may be running on it. */
void blocklist_set_free(struct blocklist_set *s);

/* ---- the detector's lists, for the control plane --------------------- */

/*
 * The blocklist detector (blocklist_create() in chain.h) loads the list
 * files of its config into a set, and holds lists given to it as text
 * (ConfigMap data) beside them.  Every change builds a whole new set
 * aside and swaps it in with RCU (liburcu-memb): check() and explain()
 * never wait, a list that fails to parse is rejected with a message
 * and the previous set stays in force.  A reload is logged at info
 * (entries, bytes, ms) or at error (file:line), counted in
 * ugallu_dns_blocklist_reloads_total{outcome="ok"|"rejected"}, and the
 * blocklist entries are the gauge ugallu_dns_blocklist_entries.
 *
 * Triggers: the reload() hook (SIGHUP), a watcher thread per detector
 * that follows the list files with inotify on their directories (editors
 * and ConfigMap volumes replace files by rename) and reloads 200 ms after
 * the last change, and blocklist_feed().  The watcher stops in free().
 *
 * check() and explain() register their calling thread with liburcu the
 * first time it comes by (a thread-local flag) and unregister it when
 * the thread exits (a pthread key destructor).  Another module of the
 * process that registers threads with liburcu-memb itself must not do
 * so for those threads.
 */

/*
 * Give the detector d (built by blocklist_create()) the text of one
 * list: kind as above, namespace_ its scope ("" for cluster-wide), name
 * the list's name (it replaces the earlier text of the same kind,
 * scope and name; text NULL removes it).  The detector copies the text
 * and rebuilds its set from its files and every list given this way.
 * Returns 0, or a negative errno with the reason in err; on failure
 * the previous set and the previous text stay.  -ENOSPC past
 * 2 * CONFIG_LISTS_MAX lists.  Any control thread, not the pipeline
 * thread (it waits for readers).
 */
int blocklist_feed(struct detector *d, int kind, const char *namespace_,
                   const char *name, const char *text, size_t len,
                   char *err, size_t errlen);

/* Reloads done by d so far, successful or not (tests). */
unsigned long blocklist_reloads(struct detector *d);

#endif
