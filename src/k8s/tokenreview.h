/*
 * tokenreview.h - who sent a request: its bearer token checked with the
 * API server's TokenReview and compared with our own identity.
 *
 * The forward listener (dispatch.h) takes findings only from pods that
 * run as the daemon's own ServiceAccount.  A sender puts its token in
 * "Authorization: Bearer"; tokenreview_check() asks the API server who
 * the token belongs to (POST /apis/authentication.k8s.io/v1/
 * tokenreviews, which the ClusterRole grants) and compares the user name
 * with the one the daemon's own token maps to, learnt the same way on
 * first use.
 *
 * Verdicts are cached by token (TOKENREVIEW_SLOTS tokens, the oldest
 * replaced): TOKENREVIEW_OK_TTL_S for an accepted token,
 * TOKENREVIEW_NO_TTL_S for a refused one.  A failed review (API down,
 * TokenReview not granted) is not cached.  Calls are serialised.
 *
 * Known shortcoming: a review waits for the API server up to its request
 * timeout, and the caller (the forward listener's one thread) waits with
 * it, so a slow API server slows every forwarding pod for that long.
 */
#ifndef DD_TOKENREVIEW_H
#define DD_TOKENREVIEW_H

#include "k8s/kclient.h"

#define TOKENREVIEW_SLOTS 64
#define TOKENREVIEW_OK_TTL_S 300
#define TOKENREVIEW_NO_TTL_S 30

enum tokenreview_verdict {
    TOKENREVIEW_OK,               /* same user as ours */
    TOKENREVIEW_UNAUTHENTICATED,  /* no token, or the API rejects it */
    TOKENREVIEW_FORBIDDEN,        /* a valid token of another user */
    TOKENREVIEW_UNAVAILABLE,      /* could not ask: try again later */
};

struct tokenreview;

/* A checker using kc (borrowed; outlives it).  NULL when out of
 * memory. */
struct tokenreview *tokenreview_new(struct kclient *kc);
void tokenreview_free(struct tokenreview *t);

/* The verdict on token (NULL or "" for none).  Any thread. */
enum tokenreview_verdict tokenreview_check(struct tokenreview *t,
                                           const char *token);

/* "ok", "unauthenticated", "forbidden" or "unavailable". */
const char *tokenreview_name(enum tokenreview_verdict v);

#endif
