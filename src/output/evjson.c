/*
 * evjson.c - events as JSON objects.
 */
#include "output/evjson.h"

#include "event/dnswire.h"
#include "output/secevent.h"

static json_t *
evjson_answer(const struct event_answer *a)
{
    char data[64], type[16];

    if (a->type == 1 && a->rdlen == 4) {
        struct event_addr ad;
        event_addr_set(&ad, a->data, 4);
        event_addr_format(&ad, data, sizeof(data));
    } else if (a->type == 28 && a->rdlen == 16) {
        struct event_addr ad;
        event_addr_set(&ad, a->data, 16);
        event_addr_format(&ad, data, sizeof(data));
    } else {
        snprintf(data, sizeof(data), "%u bytes", a->rdlen);
    }
    dnswire_type_format(a->type, type, sizeof(type));
    return json_pack("{s:s, s:I, s:s}", "type", type, "ttl",
                     (json_int_t)a->ttl, "data", data);
}

static json_t *
evjson_answers(const struct event *ev)
{
    json_t *list = json_array();

    for (size_t i = 0; list != NULL && i < ev->answer_count; i++) {
        json_array_append_new(list, evjson_answer(&ev->answers[i]));
    }
    return list;
}

/* Fields that depend on the DNS payload. */
static void
evjson_dns(json_t *o, const struct event *ev)
{
    char type[16], rcode[16];
    const char *cls = dnswire_class_name(ev->qclass);
    int resp = (ev->flags & EVENT_F_RESPONSE) != 0;

    json_object_set_new(o, "id", json_integer(ev->id));
    json_object_set_new(o, "qname", json_string(ev->qname));
    json_object_set_new(o, "qtype", json_string(
        dnswire_type_format(ev->qtype, type, sizeof(type))));
    json_object_set_new(o, "qclass", json_string(cls ? cls : "?"));
    json_object_set_new(o, "rcode", resp ? json_string(dnswire_rcode_format(
        ev->rcode, rcode, sizeof(rcode))) : json_null());
    json_object_set_new(o, "has_query", json_boolean(ev->flags &
                                                     EVENT_F_QUERY));
    json_object_set_new(o, "has_response", json_boolean(resp));
    json_object_set_new(o, "unanswered", json_boolean(ev->flags &
                                                      EVENT_F_UNANSWERED));
    json_object_set_new(o, "ancount", json_integer(ev->ancount));
    json_object_set_new(o, "answers", evjson_answers(ev));
    json_object_set_new(o, "query_size", json_integer(ev->query_size));
    json_object_set_new(o, "response_size",
                        json_integer(ev->response_size));
}

json_t *
evjson_build(const struct event *ev)
{
    char client[64], server[64], when[48];
    json_t *o;

    secevent_time(ev->time_ns, when, sizeof(when));
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i}",
                  "kind", ev->kind == EVENT_KIND_FLOW ? "flow" : "dns",
                  "source", event_source_name(ev->source),
                  "role", event_role_name(ev->role),
                  "transport", event_transport_name(ev->transport),
                  "time", when,
                  "client", event_addr_format(&ev->client, client, 64),
                  "client_port", ev->client_port,
                  "server", event_addr_format(&ev->server, server, 64),
                  "server_port", ev->server_port);
    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "latency_ms", (ev->flags & EVENT_F_LATENCY)
                        ? json_real(ev->latency_ns / 1e6) : json_null());
    if (ev->kind == EVENT_KIND_DNS) {
        evjson_dns(o, ev);
    }
    if (ev->pod_name[0] != '\0') {
        json_object_set_new(o, "pod", json_pack("{s:s, s:s, s:s}",
                            "namespace", ev->pod_namespace,
                            "name", ev->pod_name, "uid", ev->pod_uid));
    }
    return o;
}
