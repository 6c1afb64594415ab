package ugallu

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// nodeWatcher keeps the router's watched part equal to the Nodes' pod
// CIDRs (spec.podCIDRs, or spec.podCIDR on old clusters).  Needs list and
// watch on nodes.  The informer keeps only name and pod CIDRs of each
// Node, not the whole object, so memory grows with the node count only.
type nodeWatcher struct {
	stopCh chan struct{}
	once   sync.Once
}

// startNodeWatcher connects with kubeconfig (in-cluster config when "")
// and starts watching.  Routing starts from the static table and fills
// in as the first list arrives; it does not wait for the list.
func startNodeWatcher(kubeconfig string, r *router) (*nodeWatcher, error) {
	conf, err := restConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("ugallu: kubernetes: %v", err)
	}
	conf.UserAgent = "coredns-ugallu"
	cs, err := kubernetes.NewForConfig(conf)
	if err != nil {
		return nil, fmt.Errorf("ugallu: kubernetes: %v", err)
	}
	w := &nodeWatcher{stopCh: make(chan struct{})}
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().Nodes().Informer()
	if err := inf.SetTransform(slimNode); err != nil {
		return nil, err
	}
	update := func() { publishNodes(inf.GetStore(), r) }
	_, err = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { update() },
		UpdateFunc: func(old, cur any) {
			if !samePodCIDRs(old, cur) {
				update()
			}
		},
		DeleteFunc: func(any) { update() },
	})
	if err != nil {
		return nil, err
	}
	factory.Start(w.stopCh)
	log.Infof("watching Nodes' pod CIDRs")
	return w, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

func (w *nodeWatcher) stop() { w.once.Do(func() { close(w.stopCh) }) }

// slimNode keeps what routing needs of a Node.
func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // a tombstone: keep as is
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name,
			ResourceVersion: n.ResourceVersion},
		Spec: corev1.NodeSpec{PodCIDR: n.Spec.PodCIDR,
			PodCIDRs: n.Spec.PodCIDRs},
	}, nil
}

func podCIDRsOf(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

func samePodCIDRs(old, cur any) bool {
	a, ok1 := old.(*corev1.Node)
	b, ok2 := cur.(*corev1.Node)
	return ok1 && ok2 && slices.Equal(podCIDRsOf(a), podCIDRsOf(b))
}

// publishNodes rebuilds the watched table from the informer's store.
// Runs on the informer's goroutine, once per change that matters.
func publishNodes(store cache.Store, r *router) {
	byNode := map[string][]netip.Prefix{}
	for _, obj := range store.List() {
		n, ok := obj.(*corev1.Node)
		if !ok {
			continue
		}
		for _, s := range podCIDRsOf(n) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				log.Warningf("node %s: pod CIDR %q: %v", n.Name, s, err)
				continue
			}
			byNode[n.Name] = append(byNode[n.Name], p)
		}
	}
	r.setWatched(byNode)
	routePrefixes.Set(float64(r.current().size()))
}
