package ugallu

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func node(name string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"big": "label"}},
		Status: corev1.NodeStatus{Images: []corev1.ContainerImage{
			{Names: []string{"some/image"}}}}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR = cidrs[0]
		n.Spec.PodCIDRs = cidrs
	}
	return n
}

func TestSlimNodeKeepsOnlyRouting(t *testing.T) {
	obj, err := slimNode(node("n1", "10.0.0.0/24", "fd00::/64"))
	if err != nil {
		t.Fatal(err)
	}
	n := obj.(*corev1.Node)
	if n.Name != "n1" || len(n.Spec.PodCIDRs) != 2 || n.Labels != nil ||
		len(n.Status.Images) != 0 {
		t.Errorf("slim node %+v", n)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "n1"}
	if got, _ := slimNode(tomb); got != tomb {
		t.Error("a tombstone must pass through")
	}
}

func TestPublishNodesFromStore(t *testing.T) {
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	store.Add(node("n1", "10.0.1.0/24"))
	store.Add(node("n2", "10.0.2.0/24", "fd00:2::/64"))
	store.Add(node("n3")) // no CIDR yet
	old := node("n4")
	old.Spec.PodCIDR = "10.0.4.0/24" // only the old singular field
	store.Add(old)
	store.Add(node("bad", "not-a-cidr"))
	r := newRouter(map[string][]netip.Prefix{
		"static": prefixes("10.9.0.0/24")})
	publishNodes(store, r)

	tab := r.current()
	for ip, want := range map[string]string{"10.0.1.1": "n1",
		"fd00:2::9": "n2", "10.0.4.4": "n4", "10.9.0.1": "static"} {
		if got, _ := tab.lookup(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s -> %q want %q", ip, got, want)
		}
	}
	if tab.size() != 5 {
		t.Errorf("size %d want 5", tab.size())
	}
	store.Delete(node("n1"))
	publishNodes(store, r)
	if _, ok := r.current().lookup(netip.MustParseAddr("10.0.1.1")); ok {
		t.Error("a deleted node's CIDR still routes")
	}
}

func TestSamePodCIDRs(t *testing.T) {
	a, b := node("n", "10.0.0.0/24"), node("n", "10.0.0.0/24")
	b.Status.Phase = corev1.NodeRunning // a heartbeat-like change
	if !samePodCIDRs(a, b) {
		t.Error("a status change must not count as a routing change")
	}
	if samePodCIDRs(a, node("n", "10.0.1.0/24")) {
		t.Error("a CIDR change went unnoticed")
	}
}
