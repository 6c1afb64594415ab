// Package ugallu is a CoreDNS plugin that streams every query CoreDNS
// answers, with its response, to subscribers over gRPC
// (ugallu.dnsstream.v1.UgalluDNSStream/Subscribe, defined in the
// repository's proto/ugallu_dns_stream.proto).  Each subscriber is one
// node's ugallu-dns-detect daemon and gets the queries of clients on its
// node, placed by the nodes' pod CIDRs.
//
// The plugin never slows DNS down: the query path builds one event,
// offers it to each interested subscriber's bounded buffer without
// waiting, and counts what a full buffer or a spent rate drops.
package ugallu

import (
	"context"
	"net"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	pb "github.com/ugallu/dns-detect/coredns-ugallu/dnsstreampb"
)

var log = clog.NewWithPlugin("ugallu")

// Ugallu is the plugin handler of one server block.
type Ugallu struct {
	Next      plugin.Handler
	hub       *hub         // subscribers of this block's listen address
	routes    *router      // client address -> node
	transport pb.Transport // of the server block; UDP/TCP decided per query
}

// Name implements plugin.Handler.
func (u *Ugallu) Name() string { return "ugallu" }

// ServeDNS passes the query down the chain with a recorder in front of
// the writer, then publishes what happened.  Publishing happens after
// the response is written, so it adds no latency to the answer itself.
func (u *Ugallu) ServeDNS(ctx context.Context, w dns.ResponseWriter,
	r *dns.Msg) (int, error) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	rc, err := plugin.NextOrFailure(u.Name(), u.Next, ctx, rec, r)

	u.publish(start, rec, r, rc)
	return rc, err
}

// publish routes the exchange and offers one event to its subscribers.
func (u *Ugallu) publish(start time.Time, rec *recorder, r *dns.Msg,
	rc int) {
	queriesTotal.Inc()
	src := addrPortOf(rec.RemoteAddr())
	node, placed := u.routes.current().lookup(src.Addr())
	subs := u.hub.targets(node, placed)
	if len(subs) == 0 {
		dropNoSubscriber.Inc()
		return
	}

	x := exchange{start: start, req: r, resp: rec.msg, respAt: rec.at,
		rcode: rc, src: src, dst: addrPortOf(rec.LocalAddr()),
		transport: u.transportOf(rec), node: node}
	ev := buildEvent(&x)
	now := monoNow()
	for _, s := range subs {
		s.offer(ev, now)
	}
}

// transportOf refines the block's transport: plain DNS is UDP or TCP
// depending on the connection the query came on.
func (u *Ugallu) transportOf(w dns.ResponseWriter) pb.Transport {
	if u.transport != pb.Transport_TRANSPORT_UDP {
		return u.transport
	}
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		return pb.Transport_TRANSPORT_TCP
	}
	return pb.Transport_TRANSPORT_UDP
}
