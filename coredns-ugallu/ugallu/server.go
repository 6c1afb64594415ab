package ugallu

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/ugallu/dns-detect/coredns-ugallu/dnsstreampb"
)

// GrantedRateHeader is the response header carrying the events per second
// granted to a subscriber.  It is sent as soon as the subscriber is in
// the hub: from then on it receives events.
const GrantedRateHeader = "ugallu-granted-eps"

// settings are the Subscribe-side options of a listen address, replaced
// whole when a reload brings a new configuration.
type settings struct {
	token       *tokenFile
	buffer      int    // per-subscriber buffer, events
	defaultRate uint32 // events/s when the subscriber asks for 0
	maxRate     uint32 // cap on what a subscriber may ask; 0 = none
}

// endpoint is one gRPC listener and the hub behind it.  Shared by every
// plugin instance that names the same listen address, and kept across
// reloads (the new instance starts before the old one stops, so the
// reference count never reaches 0 on a reload and subscribers stay
// connected).
type endpoint struct {
	addr string
	hub  *hub
	cur  atomic.Pointer[settings]
	refs int // guarded by endpointsMu
	srv  *grpc.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
	pb.UnimplementedUgalluDNSStreamServer
}

var (
	endpointsMu sync.Mutex
	endpoints   = map[string]*endpoint{}
)

// acquireEndpoint returns the endpoint of addr, starting it on first use.
// tlsConf (nil for plaintext) only matters when the listener is created:
// a reload cannot change TLS on a running address.
func acquireEndpoint(addr string, s *settings,
	tlsConf *tls.Config) (*endpoint, error) {
	endpointsMu.Lock()
	defer endpointsMu.Unlock()
	if e, ok := endpoints[addr]; ok {
		e.refs++
		e.cur.Store(s)
		return e, nil
	}
	e := &endpoint{addr: addr, hub: newHub(), refs: 1,
		done: make(chan struct{})}
	e.cur.Store(s)
	if err := e.start(tlsConf); err != nil {
		return nil, err
	}
	endpoints[addr] = e
	return e, nil
}

// release drops one reference and stops the endpoint on the last one.
func (e *endpoint) release() {
	endpointsMu.Lock()
	e.refs--
	last := e.refs == 0
	if last {
		delete(endpoints, e.addr)
	}
	endpointsMu.Unlock()
	if last {
		e.srv.Stop() // ends every stream; their subscribers drain
		<-e.done
	}
}

func (e *endpoint) start(tlsConf *tls.Config) error {
	ln, err := net.Listen("tcp", e.addr)
	if err != nil {
		return fmt.Errorf("ugallu: listen %s: %v", e.addr, err)
	}
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Subscribers may ping an idle stream every 10 s or more.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(4096), // a SubscribeRequest is tiny
	}
	if tlsConf != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
	}
	e.ln = ln
	e.srv = grpc.NewServer(opts...)
	pb.RegisterUgalluDNSStreamServer(e.srv, e)
	go func() {
		defer close(e.done)
		if err := e.srv.Serve(ln); err != nil {
			log.Errorf("serving %s: %v", e.addr, err)
		}
	}()
	log.Infof("streaming on %s (tls %v)", ln.Addr(), tlsConf != nil)
	return nil
}

// Subscribe implements the UgalluDNSStream service: authenticate, join
// the hub, then write queued events until the caller goes away.
func (e *endpoint) Subscribe(req *pb.SubscribeRequest,
	stream pb.UgalluDNSStream_SubscribeServer) error {
	s := e.cur.Load()
	if err := s.token.authorize(stream.Context()); err != nil {
		return err
	}
	if req.GetSubscriberId() == "" {
		return status.Error(codes.InvalidArgument, "subscriber_id required")
	}
	rate := grantRate(req.GetMaxEventsPerSec(), s.defaultRate, s.maxRate)
	sub := newSubscriber(req.GetSubscriberId(), req.GetIncludeUnplaced(),
		s.buffer, rate)

	e.hub.add(sub)
	defer func() {
		e.hub.remove(sub)
		sub.close()
	}()
	hdr := metadata.Pairs(GrantedRateHeader,
		strconv.FormatUint(uint64(rate), 10))
	if err := stream.SendHeader(hdr); err != nil {
		return err
	}
	log.Infof("subscriber %q connected (%d events/s, unplaced %v)",
		sub.id, rate, sub.unplaced)
	err := pump(stream, sub)
	log.Infof("subscriber %q gone: %v", sub.id, err)
	return err
}

// pump writes the subscriber's queued events until the stream ends.
func pump(stream pb.UgalluDNSStream_SubscribeServer, sub *subscriber) error {
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-sub.ch:
			if err := stream.Send(ev); err != nil {
				dropDisconnected.Inc()
				return err
			}
			eventsSent.Inc()
		}
	}
}
