package ugallu

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The plugin's metrics, registered in the default Prometheus registry,
// which CoreDNS's prometheus plugin serves (coredns_ugallu_*).
//
// Accounting, for every query the plugin sees (queries_total): either no
// subscriber wanted it (dropped, reason no_subscriber, once), or each
// subscriber that wanted it got the event (events_sent_total) or lost it
// (dropped: rate_limited, buffer_full, or disconnected when the
// subscriber went away with the event still queued).  With one
// subscriber per node, queries_total = sent + all drops.
var (
	queriesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "ugallu",
		Name:      "queries_total",
		Help:      "Queries the ugallu plugin saw answered.",
	})
	eventsSent = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "ugallu",
		Name:      "events_sent_total",
		Help:      "Events written to a subscriber's stream.",
	})
	eventsDropped = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "ugallu",
		Name:      "events_dropped_total",
		Help:      "Events not delivered, by reason.",
	}, []string{"reason"})
	subscribersGauge = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "ugallu",
		Name:      "subscribers",
		Help:      "Subscribers connected now.",
	})
	authFailures = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "ugallu",
		Name:      "auth_failures_total",
		Help:      "Subscribe calls rejected for a missing or wrong token.",
	})
	routePrefixes = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "ugallu",
		Name:      "route_prefixes",
		Help:      "Pod CIDRs in the routing table (static and watched).",
	})
)

// Drop reasons, resolved once so the hot path does no label lookup.
var (
	dropNoSubscriber = eventsDropped.WithLabelValues("no_subscriber")
	dropRateLimited  = eventsDropped.WithLabelValues("rate_limited")
	dropBufferFull   = eventsDropped.WithLabelValues("buffer_full")
	dropDisconnected = eventsDropped.WithLabelValues("disconnected")
)
