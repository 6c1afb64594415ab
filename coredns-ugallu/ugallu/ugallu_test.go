package ugallu

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/ugallu/dns-detect/coredns-ugallu/dnsstreampb"
)

func count(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func bearer(tok string) context.Context {
	md := metadata.Pairs("authorization", tok)
	return metadata.NewIncomingContext(context.Background(), md)
}

func TestTokenFileAuthorize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "s3cret\n")
	tf, err := newTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ctx  context.Context
		want codes.Code
	}{
		{bearer("Bearer s3cret"), codes.OK},
		{bearer("bearer s3cret"), codes.OK},
		{bearer("Bearer s3cre"), codes.Unauthenticated},
		{bearer("Bearer s3cret2"), codes.Unauthenticated},
		{bearer("Basic s3cret"), codes.Unauthenticated},
		{bearer("s3cret"), codes.Unauthenticated},
		{bearer("Bearer "), codes.Unauthenticated},
		{context.Background(), codes.Unauthenticated},
	}
	before := count(authFailures)
	for i, c := range cases {
		if got := status.Code(tf.authorize(c.ctx)); got != c.want {
			t.Errorf("case %d: got %v want %v", i, got, c.want)
		}
	}
	if d := count(authFailures) - before; d != 6 {
		t.Errorf("auth failures counted %v, want 6", d)
	}
}

func TestTokenFileRotationAndEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "old")
	tf, err := newTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A Secret update swaps the file; size differs so the stamp changes.
	writeFile(t, path, "newer-token")
	if tf.authorize(bearer("Bearer old")) == nil {
		t.Error("old token still accepted after rotation")
	}
	if err := tf.authorize(bearer("Bearer newer-token")); err != nil {
		t.Errorf("new token rejected: %v", err)
	}
	writeFile(t, path, " \n")
	if tf.authorize(bearer("Bearer ")) == nil ||
		tf.authorize(bearer("Bearer newer-token")) == nil {
		t.Error("an empty token file must reject everyone")
	}
	if _, err := newTokenFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing token file must fail setup")
	}
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestRouteTableLookup(t *testing.T) {
	tab := newRouteTable(map[string][]netip.Prefix{
		"node-a": prefixes("10.0.1.0/24", "fd00:1::/64"),
		"node-b": prefixes("10.0.2.7/24"), // masked to 10.0.2.0/24
		"node-z": prefixes("10.0.0.0/16"),
	})
	cases := map[string]string{
		"10.0.1.5":        "node-a",
		"10.0.2.255":      "node-b",
		"::ffff:10.0.2.9": "node-b",
		"10.0.3.1":        "node-z", // only the /16 holds it
		"fd00:1::42":      "node-a",
		"192.168.1.1":     "",
		"fd00:2::1":       "",
	}
	for ip, want := range cases {
		got, ok := tab.lookup(netip.MustParseAddr(ip))
		if got != want || ok != (want != "") {
			t.Errorf("%s: got %q,%v want %q", ip, got, ok, want)
		}
	}
	if tab.size() != 4 {
		t.Errorf("size %d want 4", tab.size())
	}
	if _, ok := tab.lookup(netip.Addr{}); ok {
		t.Error("the zero address must not be placed")
	}
}

func TestRouterStaticWinsOverWatched(t *testing.T) {
	r := newRouter(map[string][]netip.Prefix{
		"static": prefixes("10.1.0.0/24")})
	r.setWatched(map[string][]netip.Prefix{
		"static":  prefixes("10.9.0.0/24"), // ignored: named statically
		"watched": prefixes("10.2.0.0/24"),
	})
	tab := r.current()
	if n, _ := tab.lookup(netip.MustParseAddr("10.1.0.1")); n != "static" {
		t.Errorf("static route lost: %q", n)
	}
	if n, _ := tab.lookup(netip.MustParseAddr("10.2.0.1")); n != "watched" {
		t.Errorf("watched route missing: %q", n)
	}
	if _, ok := tab.lookup(netip.MustParseAddr("10.9.0.1")); ok {
		t.Error("a statically named node took a watched CIDR")
	}
}

func TestParseNodeCIDRs(t *testing.T) {
	node, ps, err := parseNodeCIDRs("n1=10.0.0.0/24,fd00::/64")
	if err != nil || node != "n1" || len(ps) != 2 {
		t.Fatalf("got %q %v %v", node, ps, err)
	}
	for _, bad := range []string{"n1", "=10.0.0.0/8", "n1=", "n1=10.0.0.1",
		"n1=10.0.0.0/33"} {
		if _, _, err := parseNodeCIDRs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestOfferNeverBlocksAndCountsDrops(t *testing.T) {
	s := newSubscriber("n", false, 4, 0)
	full := count(dropBufferFull)
	ev := &pb.DNSEvent{Qname: "x."}
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				s.offer(ev, monoNow())
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("8000 offers took %v: something waited", el)
	}
	if len(s.ch) != 4 {
		t.Errorf("buffer holds %d, want 4", len(s.ch))
	}
	if d := count(dropBufferFull) - full; d != 7996 {
		t.Errorf("buffer_full drops %v, want 7996", d)
	}
}

func TestCloseCountsQueuedAsDisconnected(t *testing.T) {
	s := newSubscriber("n", false, 8, 0)
	before := count(dropDisconnected)
	for i := 0; i < 5; i++ {
		s.offer(&pb.DNSEvent{}, monoNow())
	}
	s.close()
	s.offer(&pb.DNSEvent{}, monoNow()) // after close: counted, not queued
	if d := count(dropDisconnected) - before; d != 6 {
		t.Errorf("disconnected drops %v, want 6", d)
	}
	if len(s.ch) != 0 {
		t.Errorf("%d events left queued after close", len(s.ch))
	}
}

func TestTokenBucket(t *testing.T) {
	var b tokenBucket
	b.init(10)
	now := b.last
	got := 0
	for i := 0; i < 20; i++ {
		if b.allow(now) {
			got++
		}
	}
	if got != 10 {
		t.Errorf("burst allowed %d, want 10", got)
	}
	got = 0
	for i := 0; i < 20; i++ {
		if b.allow(now + 500*int64(time.Millisecond)) {
			got++
		}
	}
	if got != 5 {
		t.Errorf("after 0.5 s allowed %d, want 5", got)
	}
	// A long pause refills to one second's worth, not more.
	got = 0
	for i := 0; i < 100; i++ {
		if b.allow(now + 60*int64(time.Second)) {
			got++
		}
	}
	if got != 10 {
		t.Errorf("after a pause allowed %d, want 10", got)
	}
	var unlimited tokenBucket
	unlimited.init(0)
	for i := 0; i < 1000; i++ {
		if !unlimited.allow(now) {
			t.Fatal("rate 0 must not limit")
		}
	}
}

func TestRateLimitedOffersAreCounted(t *testing.T) {
	s := newSubscriber("n", false, 100, 3)
	before := count(dropRateLimited)
	now := monoNow()
	for i := 0; i < 10; i++ {
		s.offer(&pb.DNSEvent{}, now)
	}
	if len(s.ch) != 3 {
		t.Errorf("queued %d, want 3", len(s.ch))
	}
	if d := count(dropRateLimited) - before; d != 7 {
		t.Errorf("rate_limited drops %v, want 7", d)
	}
}

func TestGrantRate(t *testing.T) {
	cases := []struct{ asked, def, max, want uint32 }{
		{0, 100, 1000, 100},
		{500, 100, 1000, 500},
		{5000, 100, 1000, 1000},
		{5000, 100, 0, 5000},
		{0, 0, 0, 0},
		{0, 0, 1000, 1000},
	}
	for _, c := range cases {
		if got := grantRate(c.asked, c.def, c.max); got != c.want {
			t.Errorf("grantRate(%d,%d,%d)=%d want %d", c.asked, c.def,
				c.max, got, c.want)
		}
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func TestBuildEventFromMsg(t *testing.T) {
	req := new(dns.Msg)
	req.SetQuestion("WWW.Example.com.", dns.TypeA)
	req.Id = 4242
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.Answer = []dns.RR{
		mustRR(t, "WWW.Example.com. 300 IN CNAME web.example.com."),
		mustRR(t, "web.example.com. 60 IN A 192.0.2.11"),
	}
	start := time.Unix(1700000000, 5)
	x := exchange{start: start, req: req, resp: resp,
		respAt:    start.Add(1500 * time.Microsecond),
		src:       netip.MustParseAddrPort("[::ffff:10.0.1.5]:40000"),
		dst:       netip.MustParseAddrPort("[fd00::53]:53"),
		transport: pb.Transport_TRANSPORT_TCP, node: "node-a"}
	ev := buildEvent(&x)

	if ev.Qname != "WWW.Example.com." || ev.Qtype != 1 || ev.Qclass != 1 {
		t.Errorf("question %q %d %d", ev.Qname, ev.Qtype, ev.Qclass)
	}
	if ev.Timestamp != start.UnixNano() || ev.Latency != 1500000 {
		t.Errorf("time %d latency %d", ev.Timestamp, ev.Latency)
	}
	if net.IP(ev.SrcIp).String() != "10.0.1.5" || len(ev.SrcIp) != 4 ||
		ev.SrcPort != 40000 {
		t.Errorf("src %v:%d", ev.SrcIp, ev.SrcPort)
	}
	if len(ev.DstIp) != 16 || ev.DstPort != 53 {
		t.Errorf("dst %v:%d", ev.DstIp, ev.DstPort)
	}
	if ev.NodeName != "node-a" || ev.Id != 4242 ||
		ev.Transport != pb.Transport_TRANSPORT_TCP {
		t.Errorf("node %q id %d transport %v", ev.NodeName, ev.Id,
			ev.Transport)
	}
	if ev.ResponseCode != 0 || ev.ResponseRr != 2 || len(ev.Answers) != 2 {
		t.Fatalf("rcode %d rr %d answers %d", ev.ResponseCode,
			ev.ResponseRr, len(ev.Answers))
	}
	if ev.RequestSize != uint32(req.Len()) ||
		ev.ResponseSize != uint32(resp.Len()) ||
		ev.PayloadLength != ev.ResponseSize || ev.ResponseSize == 0 {
		t.Errorf("sizes %d %d %d", ev.RequestSize, ev.ResponseSize,
			ev.PayloadLength)
	}
	// QR, RD (copied by SetReply), AA; rcode 0.
	if want := uint32(1<<15 | 1<<10 | 1<<8); ev.Flags != want {
		t.Errorf("flags %#x want %#x", ev.Flags, want)
	}
	cname, a := ev.Answers[0], ev.Answers[1]
	wire := []byte("\x03web\x07example\x03com\x00")
	if cname.Type != 5 || cname.Ttl != 300 || string(cname.Data) !=
		string(wire) {
		t.Errorf("cname answer %+v", cname)
	}
	if a.Type != 1 || a.Ttl != 60 ||
		net.IP(a.Data).String() != "192.0.2.11" {
		t.Errorf("A answer %+v", a)
	}
}

func TestBuildEventBoundsAnswersAndNoResponse(t *testing.T) {
	req := new(dns.Msg)
	req.SetQuestion("many.example.", dns.TypeTXT)
	resp := new(dns.Msg)
	resp.SetReply(req)
	long := make([]byte, 600)
	for i := range long {
		long[i] = 'a'
	}
	for i := 0; i < 20; i++ {
		resp.Answer = append(resp.Answer, &dns.TXT{
			Hdr: dns.RR_Header{Name: "many.example.", Rrtype: dns.TypeTXT,
				Class: dns.ClassINET, Ttl: 1},
			Txt: []string{string(long[:200]), string(long[:200])}})
	}
	x := exchange{start: time.Now(), req: req, resp: resp,
		respAt: time.Now()}
	ev := buildEvent(&x)
	if ev.ResponseRr != 20 || len(ev.Answers) != maxAnswers {
		t.Errorf("rr %d answers %d", ev.ResponseRr, len(ev.Answers))
	}
	if len(ev.Answers[0].Data) != maxRdata {
		t.Errorf("rdata %d bytes, want cut to %d",
			len(ev.Answers[0].Data), maxRdata)
	}

	x = exchange{start: time.Now(), req: req, rcode: dns.RcodeServerFailure}
	ev = buildEvent(&x)
	if ev.ResponseCode != 2 || ev.ResponseSize != 0 || ev.Latency <= 0 ||
		ev.Flags&(1<<15) != 0 {
		t.Errorf("no-response event %+v", ev)
	}
}

// answerA is a next plugin that answers every query with one A record.
func answerA(ctx context.Context, w dns.ResponseWriter,
	r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name,
		Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
		A: net.ParseIP("192.0.2.1")}}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

func TestServeDNSRoutesByNode(t *testing.T) {
	h := newHub()
	u := &Ugallu{Next: plugin.HandlerFunc(answerA), hub: h,
		transport: pb.Transport_TRANSPORT_UDP,
		routes: newRouter(map[string][]netip.Prefix{
			"node-a": prefixes("10.0.1.0/24"),
			"node-b": prefixes("10.0.2.0/24")})}
	a := newSubscriber("node-a", false, 16, 0)
	b := newSubscriber("node-b", true, 16, 0)
	h.add(a)
	h.add(b)
	defer h.remove(a)
	defer h.remove(b)

	ask := func(ip string, tcp bool) {
		r := new(dns.Msg)
		r.SetQuestion("q.example.", dns.TypeA)
		w := &test.ResponseWriter{RemoteIP: ip, TCP: tcp}
		if rc, err := u.ServeDNS(context.Background(), w, r); rc != 0 ||
			err != nil {
			t.Fatalf("ServeDNS: %d %v", rc, err)
		}
	}
	noSub := count(dropNoSubscriber)
	ask("10.0.1.7", false)
	ask("10.0.2.7", true)
	ask("172.16.0.1", false) // unplaced: only b asked for those
	h.remove(b)
	ask("172.16.0.1", false) // unplaced, nobody wants it now
	h.add(b)

	if len(a.ch) != 1 || len(b.ch) != 2 {
		t.Fatalf("a got %d b got %d, want 1 and 2", len(a.ch), len(b.ch))
	}
	ea, eb1, eb2 := <-a.ch, <-b.ch, <-b.ch
	if ea.NodeName != "node-a" || net.IP(ea.SrcIp).String() != "10.0.1.7" ||
		ea.Transport != pb.Transport_TRANSPORT_UDP || ea.ResponseRr != 1 {
		t.Errorf("node-a event %+v", ea)
	}
	if eb1.NodeName != "node-b" || eb1.Transport !=
		pb.Transport_TRANSPORT_TCP {
		t.Errorf("node-b event %+v", eb1)
	}
	if eb2.NodeName != "" || net.IP(eb2.SrcIp).String() != "172.16.0.1" {
		t.Errorf("unplaced event %+v", eb2)
	}
	if d := count(dropNoSubscriber) - noSub; d != 1 {
		t.Errorf("no_subscriber drops %v, want 1", d)
	}
}

func TestSetupParse(t *testing.T) {
	good := `ugallu {
		listen 127.0.0.1:9999
		token_file /run/token
		tls cert.pem key.pem ca.pem
		buffer 128
		rate 10 20
		node_cidrs n1=10.0.0.0/24 n2=10.0.1.0/24,fd00::/64
		node_cidrs n1=10.0.9.0/24
		kubernetes /etc/kubeconfig
	}`
	cfg, err := parse(caddy.NewTestController("dns", good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listen != "127.0.0.1:9999" || cfg.buffer != 128 ||
		cfg.defaultRate != 10 || cfg.maxRate != 20 ||
		cfg.caFile != "ca.pem" || !cfg.kubernetes ||
		cfg.kubeconfig != "/etc/kubeconfig" || len(cfg.static["n1"]) != 2 ||
		len(cfg.static["n2"]) != 2 {
		t.Errorf("parsed %+v", cfg)
	}
	cfg, err = parse(caddy.NewTestController("dns",
		"ugallu {\n token_file t\n rate 50\n}"))
	if err != nil || cfg.listen != DefaultListen || cfg.maxRate != 50 ||
		cfg.buffer != DefaultBuffer {
		t.Errorf("defaults %+v %v", cfg, err)
	}
	bad := []string{
		"ugallu",
		"ugallu extra {\n token_file t\n}",
		"ugallu {\n token_file t\n listen nowhere\n}",
		"ugallu {\n token_file t\n buffer 0\n}",
		"ugallu {\n token_file t\n rate 30 20\n}",
		"ugallu {\n token_file t\n rate x\n}",
		"ugallu {\n token_file t\n node_cidrs bad\n}",
		"ugallu {\n token_file t\n tls onlycert\n}",
		"ugallu {\n token_file t\n bogus\n}",
	}
	for _, s := range bad {
		if _, err := parse(caddy.NewTestController("dns", s)); err == nil {
			t.Errorf("accepted: %q", s)
		}
	}
}

func TestSubscribeOverGRPC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "tok")
	tf, err := newTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := acquireEndpoint("127.0.0.1:0", &settings{token: tf,
		buffer: 8, defaultRate: 100, maxRate: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.release()
	conn, err := grpc.NewClient(ep.ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewUgalluDNSStreamClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tok := range []string{"", "Bearer nope"} {
		c := ctx
		if tok != "" {
			c = metadata.AppendToOutgoingContext(ctx, "authorization", tok)
		}
		st, err := client.Subscribe(c, &pb.SubscribeRequest{
			SubscriberId: "n"})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("token %q: got %v, want Unauthenticated", tok, err)
		}
	}

	c := metadata.AppendToOutgoingContext(ctx, "authorization",
		"Bearer tok")
	st, err := client.Subscribe(c, &pb.SubscribeRequest{SubscriberId: "n",
		MaxEventsPerSec: 5000})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := st.Header()
	if err != nil || len(hdr.Get(GrantedRateHeader)) != 1 ||
		hdr.Get(GrantedRateHeader)[0] != "1000" {
		t.Fatalf("header %v %v (want the max, 1000)", hdr, err)
	}
	if ep.hub.count() != 1 {
		t.Fatalf("hub has %d subscribers", ep.hub.count())
	}
	sent := count(eventsSent)
	for _, s := range ep.hub.targets("n", true) {
		s.offer(&pb.DNSEvent{Qname: "via.grpc."}, monoNow())
	}
	ev, err := st.Recv()
	if err != nil || ev.Qname != "via.grpc." {
		t.Fatalf("recv %v %v", ev, err)
	}
	if count(eventsSent)-sent != 1 {
		t.Error("sent event not counted")
	}
}
