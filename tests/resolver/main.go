// Command resolver is the ugallu resolver as the system tests need it: it
// serves ugallu.resolver.v1.Resolver (generated from
// proto/ugallu_resolver.proto into resolverpb/) from a JSON mapping, on a
// unix socket and/or TCP, plaintext or TLS.
//
//	resolver -mapping map.json [-uds PATH] [-tcp ADDR]
//	         [-tls-cert C -tls-key K] [-mode serve|hang|down]
//
// The mapping is {"ips": {"<ip>": {subject}}, "cgroups": {"<id>":
// {subject}}} where a subject has kind, name, namespace, uid, labels.
// A key not in the mapping answers unresolved with a diagnostic.  Mode
// hang never answers (the call waits for the client's deadline); mode
// down fails every call with UNAVAILABLE.  Each call is logged as one
// line "call method=... key=... outcome=..." on stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "ugallu.io/dns-detect/tests/resolver/resolverpb"
)

type subject struct {
	Kind      string            `json:"kind"`
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	UID       string            `json:"uid"`
	Labels    map[string]string `json:"labels"`
	Partial   bool              `json:"partial"`
	Tombstone bool              `json:"tombstone"`
}

type mapping struct {
	IPs     map[string]subject `json:"ips"`
	Cgroups map[string]subject `json:"cgroups"`
}

type server struct {
	pb.UnimplementedResolverServer
	m    mapping
	mode string
}

func (s *server) answer(ctx context.Context, method, key string,
	subj subject, ok bool) (*pb.SubjectResponse, error) {
	switch s.mode {
	case "hang":
		log.Printf("call method=%s key=%s outcome=hang", method, key)
		<-ctx.Done()
		return nil, ctx.Err()
	case "down":
		log.Printf("call method=%s key=%s outcome=down", method, key)
		return nil, status.Error(codes.Unavailable, "resolver down")
	}
	if !ok {
		log.Printf("call method=%s key=%s outcome=unresolved", method, key)
		return &pb.SubjectResponse{Unresolved: true,
			Diagnostic: "no subject for " + key}, nil
	}
	log.Printf("call method=%s key=%s outcome=found", method, key)
	kind := subj.Kind
	if kind == "" {
		kind = "Pod"
	}
	return &pb.SubjectResponse{
		Kind: kind, ApiVersion: "v1", Name: subj.Name,
		Namespace: subj.Namespace, Uid: subj.UID, ResourceVersion: "1",
		Labels: subj.Labels, Tier1Json: []byte(`{"tier":1}`),
		Partial: subj.Partial, Tombstone: subj.Tombstone,
	}, nil
}

func (s *server) ResolveByPodIP(ctx context.Context,
	r *pb.PodIPRequest) (*pb.SubjectResponse, error) {
	subj, ok := s.m.IPs[r.GetIp()]
	return s.answer(ctx, "ResolveByPodIP", r.GetIp(), subj, ok)
}

func (s *server) ResolveByCgroupID(ctx context.Context,
	r *pb.CgroupIDRequest) (*pb.SubjectResponse, error) {
	key := strconv.FormatUint(r.GetCgroupId(), 10)
	subj, ok := s.m.Cgroups[key]
	return s.answer(ctx, "ResolveByCgroupID", key, subj, ok)
}

func loadMapping(path string) mapping {
	var m mapping
	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("mapping: %v", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		log.Fatalf("mapping %s: %v", path, err)
	}
	return m
}

func listen(network, addr string) net.Listener {
	if network == "unix" {
		os.Remove(addr)
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		log.Fatalf("listen %s %s: %v", network, addr, err)
	}
	log.Printf("listening network=%s addr=%s", network, l.Addr())
	return l
}

func main() {
	mapPath := flag.String("mapping", "", "JSON mapping file")
	uds := flag.String("uds", "", "unix socket path")
	tcp := flag.String("tcp", "", "TCP address")
	cert := flag.String("tls-cert", "", "TLS certificate (PEM)")
	key := flag.String("tls-key", "", "TLS key (PEM)")
	mode := flag.String("mode", "serve", "serve, hang or down")
	flag.Parse()
	log.SetFlags(0)
	if *uds == "" && *tcp == "" {
		log.Fatal("give -uds and/or -tcp")
	}
	var opts []grpc.ServerOption
	if *cert != "" {
		creds, err := credentials.NewServerTLSFromFile(*cert, *key)
		if err != nil {
			log.Fatalf("tls: %v", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	s := &server{mode: *mode}
	if *mapPath != "" {
		s.m = loadMapping(*mapPath)
	}
	pb.RegisterResolverServer(srv, s)
	if *uds != "" {
		go srv.Serve(listen("unix", *uds))
	}
	if *tcp != "" {
		go srv.Serve(listen("tcp", *tcp))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Stop()
}
