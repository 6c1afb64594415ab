package ugallu

import (
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/ugallu/dns-detect/coredns-ugallu/dnsstreampb"
)

// subscriber is one Subscribe call.  Its channel is the bounded buffer
// between the query path (many goroutines, never blocking) and the one
// goroutine that writes the stream.
type subscriber struct {
	id       string            // node name
	unplaced bool              // also wants clients placed on no node
	ch       chan *pb.DNSEvent // capacity = the configured buffer
	bucket   tokenBucket       // rate granted to this subscriber
	gone     atomic.Bool       // set once, when the call ends
}

func newSubscriber(id string, unplaced bool, buffer int,
	eventsPerSec uint32) *subscriber {
	s := &subscriber{id: id, unplaced: unplaced,
		ch: make(chan *pb.DNSEvent, buffer)}
	s.bucket.init(eventsPerSec)
	return s
}

// offer queues ev without ever waiting: a spent rate or a full buffer
// drops it and counts the drop.  Called from query goroutines.
func (s *subscriber) offer(ev *pb.DNSEvent, nowNs int64) {
	if s.gone.Load() {
		dropDisconnected.Inc()
		return
	}
	if !s.bucket.allow(nowNs) {
		dropRateLimited.Inc()
		return
	}
	select {
	case s.ch <- ev:
	default:
		dropBufferFull.Inc()
		return
	}
	// The call may have ended between the check above and the send: then
	// nobody else will read the channel again, so account for it here.
	// Every queued event is received once, by whoever drains first.
	if s.gone.Load() {
		s.drain()
	}
}

// close marks the subscriber gone and counts what it left queued.
// Called once, by the stream goroutine, after leaving the hub.
func (s *subscriber) close() {
	s.gone.Store(true)
	s.drain()
}

func (s *subscriber) drain() {
	for {
		select {
		case <-s.ch:
			dropDisconnected.Inc()
		default:
			return
		}
	}
}

// subscriberSet is an immutable view of who is subscribed, replaced whole
// on every subscribe and unsubscribe so that queries read it lock-free.
type subscriberSet struct {
	byNode   map[string][]*subscriber
	unplaced []*subscriber
	count    int
}

// hub holds the subscribers of one listen address.  Shared by every
// plugin instance (server block, and the instances of a reload) that
// uses that address.
type hub struct {
	mu  sync.Mutex // serialises add and remove
	set atomic.Pointer[subscriberSet]
}

func newHub() *hub {
	h := &hub{}
	h.set.Store(&subscriberSet{byNode: map[string][]*subscriber{}})
	return h
}

// targets returns the subscribers that want a query from a client placed
// on node (placed) or on no node (!placed).  The slice must not be
// modified.  Lock-free.
func (h *hub) targets(node string, placed bool) []*subscriber {
	set := h.set.Load()
	if placed {
		return set.byNode[node]
	}
	return set.unplaced
}

// count is the number of subscribers connected.
func (h *hub) count() int { return h.set.Load().count }

func (h *hub) add(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set.Store(h.set.Load().with(s, true))
	subscribersGauge.Inc()
}

func (h *hub) remove(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set.Store(h.set.Load().with(s, false))
	subscribersGauge.Dec()
}

// with copies the set with s added (add) or removed (!add).
func (old *subscriberSet) with(s *subscriber, add bool) *subscriberSet {
	n := &subscriberSet{byNode: make(map[string][]*subscriber,
		len(old.byNode)+1)}
	for node, list := range old.byNode {
		n.byNode[node] = without(list, s)
	}
	n.unplaced = without(old.unplaced, s)
	if add {
		n.byNode[s.id] = append(n.byNode[s.id], s)
		if s.unplaced {
			n.unplaced = append(n.unplaced, s)
		}
	}
	for node, list := range n.byNode {
		if len(list) == 0 {
			delete(n.byNode, node)
		}
		n.count += len(list)
	}
	return n
}

// without returns a fresh copy of list without s.
func without(list []*subscriber, s *subscriber) []*subscriber {
	out := make([]*subscriber, 0, len(list))
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// tokenBucket limits events per second with a burst of one second's
// worth.  A rate of 0 means no limit.  Safe for concurrent use.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens added per second
	tokens float64 // available now, at most rate
	last   int64   // monotonic ns of the last refill
}

func (b *tokenBucket) init(eventsPerSec uint32) {
	b.rate = float64(eventsPerSec)
	b.tokens = b.rate
	b.last = monoNow()
}

// allow takes one token if there is one.  nowNs is monoNow().
func (b *tokenBucket) allow(nowNs int64) bool {
	if b.rate == 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if nowNs > b.last {
		b.tokens += float64(nowNs-b.last) * b.rate / 1e9
		if b.tokens > b.rate {
			b.tokens = b.rate
		}
		b.last = nowNs
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

var monoBase = time.Now()

// monoNow is monotonic nanoseconds since the process started.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// grantRate is the rate a subscriber gets: what it asked for (its
// default when 0), never above maxRate (when maxRate is not 0).
func grantRate(asked, defaultRate, maxRate uint32) uint32 {
	r := asked
	if r == 0 {
		r = defaultRate
	}
	if maxRate != 0 && (r == 0 || r > maxRate) {
		r = maxRate
	}
	return r
}
