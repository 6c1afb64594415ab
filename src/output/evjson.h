/*
 * evjson.h - one normalised event as a JSON object (--events-out), the
 * view tests compare against reference decoders.
 */
#ifndef DD_EVJSON_H
#define DD_EVJSON_H

#include <jansson.h>

#include "event/event.h"

/* Build the object for ev, with "pod" {namespace, name, uid} when ev is
   attributed; the caller owns it.  NULL when out of memory. */
json_t *evjson_build(const struct event *ev);

#endif
