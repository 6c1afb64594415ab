package ugallu

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// routeTable places a client address on the node whose pod CIDR holds it.
// A table is immutable once built: readers (every query) load it through
// an atomic pointer with no lock, writers build a new one and swap it.
type routeTable struct {
	lens4 []int                   // distinct IPv4 prefix lengths, longest first
	lens6 []int                   // the same for IPv6
	nodes map[netip.Prefix]string // masked prefix -> node name
}

// newRouteTable builds a table from node name -> pod CIDRs.  Prefixes are
// masked.  When two nodes claim the same prefix, the one whose name sorts
// first keeps it (deterministic; a real cluster never does this).
func newRouteTable(byNode map[string][]netip.Prefix) *routeTable {
	t := &routeTable{nodes: make(map[netip.Prefix]string)}
	names := make([]string, 0, len(byNode))
	for name := range byNode {
		names = append(names, name)
	}
	sort.Strings(names)

	seen4, seen6 := map[int]bool{}, map[int]bool{}
	for _, name := range names {
		for _, p := range byNode[name] {
			p = p.Masked()
			if _, taken := t.nodes[p]; taken {
				continue
			}
			t.nodes[p] = name
			if p.Addr().Is4() {
				seen4[p.Bits()] = true
			} else {
				seen6[p.Bits()] = true
			}
		}
	}

	t.lens4 = sortedDesc(seen4)
	t.lens6 = sortedDesc(seen6)
	return t
}

func sortedDesc(set map[int]bool) []int {
	out := make([]int, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// lookup returns the node of the longest prefix holding a, and whether
// there is one.  IPv4-mapped IPv6 addresses are looked up as IPv4.  Costs
// one map probe per distinct prefix length (usually one).
func (t *routeTable) lookup(a netip.Addr) (string, bool) {
	a = a.Unmap()
	lens := t.lens6
	if a.Is4() {
		lens = t.lens4
	}
	for _, bits := range lens {
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if node, ok := t.nodes[p]; ok {
			return node, true
		}
	}
	return "", false
}

// size is the number of prefixes in the table.
func (t *routeTable) size() int { return len(t.nodes) }

// router merges the static node_cidrs of the Corefile with what the
// Kubernetes watcher reports, and publishes the merged table.  A node
// named in node_cidrs takes its CIDRs from the Corefile, not the watch.
type router struct {
	mu      sync.Mutex                // serialises rebuilds
	static  map[string][]netip.Prefix // from the Corefile; never changed
	watched map[string][]netip.Prefix // last full set from the watcher
	table   atomic.Pointer[routeTable]
}

func newRouter(static map[string][]netip.Prefix) *router {
	r := &router{static: static}
	r.rebuild()
	return r
}

// current returns the table in force.  Safe from any goroutine.
func (r *router) current() *routeTable { return r.table.Load() }

// setWatched replaces the watched part (node name -> pod CIDRs) and
// republishes.  The map is owned by the router afterwards.
func (r *router) setWatched(byNode map[string][]netip.Prefix) {
	r.mu.Lock()
	r.watched = byNode
	r.rebuild()
	r.mu.Unlock()
}

func (r *router) rebuild() {
	merged := make(map[string][]netip.Prefix, len(r.static)+len(r.watched))
	for n, ps := range r.watched {
		merged[n] = ps
	}
	for n, ps := range r.static {
		merged[n] = ps
	}
	r.table.Store(newRouteTable(merged))
}

// parseNodeCIDRs parses the Corefile form NODE=CIDR[,CIDR...].
func parseNodeCIDRs(arg string) (string, []netip.Prefix, error) {
	node, list, ok := strings.Cut(arg, "=")
	if !ok || node == "" || list == "" {
		return "", nil, fmt.Errorf("node_cidrs wants NODE=CIDR[,CIDR], "+
			"got %q", arg)
	}
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return "", nil, fmt.Errorf("node_cidrs %s: %v", node, err)
		}
		out = append(out, p.Masked())
	}
	return node, out, nil
}
