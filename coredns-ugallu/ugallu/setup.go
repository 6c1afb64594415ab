package ugallu

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	pb "github.com/ugallu/dns-detect/coredns-ugallu/dnsstreampb"
)

// Defaults of the Corefile options.
const (
	DefaultListen      = ":9253" // beside CoreDNS's own metrics on 9153
	DefaultBuffer      = 4096    // events per subscriber
	DefaultRate        = 20000   // events/s when a subscriber asks for 0
	DefaultMaxRate     = 100000  // events/s a subscriber may ask for
	maxBufferAllowed   = 1 << 20
	maxNodeCIDRsOption = 4096
)

func init() { plugin.Register("ugallu", setup) }

// config is one parsed ugallu block.
type config struct {
	listen      string
	certFile    string
	keyFile     string
	caFile      string // non-empty: require client certificates
	tokenFile   string
	buffer      int
	defaultRate uint32
	maxRate     uint32
	static      map[string][]netip.Prefix
	kubernetes  bool
	kubeconfig  string // "" = in-cluster
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error("ugallu", err)
	}
	u := &Ugallu{routes: newRouter(cfg.static),
		transport: transportOfBlock(dnsserver.GetConfig(c).Transport)}
	var ep *endpoint
	var watcher *nodeWatcher

	c.OnStartup(func() error {
		ep, err = startEndpoint(cfg)
		if err != nil {
			return err
		}
		u.hub = ep.hub
		routePrefixes.Set(float64(u.routes.current().size()))
		if cfg.kubernetes {
			watcher, err = startNodeWatcher(cfg.kubeconfig, u.routes)
		}
		return err
	})
	c.OnShutdown(func() error {
		if watcher != nil {
			watcher.stop()
		}
		if ep != nil {
			ep.release()
		}
		return nil
	})

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		u.Next = next
		return u
	})
	return nil
}

// startEndpoint reads the token and TLS files and acquires the listener.
func startEndpoint(cfg *config) (*endpoint, error) {
	tok, err := newTokenFile(cfg.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("ugallu: token_file: %v", err)
	}
	tlsConf, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	s := &settings{token: tok, buffer: cfg.buffer,
		defaultRate: cfg.defaultRate, maxRate: cfg.maxRate}
	return acquireEndpoint(cfg.listen, s, tlsConf)
}

func loadTLS(cfg *config) (*tls.Config, error) {
	if cfg.certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
	if err != nil {
		return nil, fmt.Errorf("ugallu: tls: %v", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert},
		MinVersion: tls.VersionTLS12}
	if cfg.caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(cfg.caFile)
	if err != nil {
		return nil, fmt.Errorf("ugallu: tls CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ugallu: tls CA %s: no certificate",
			cfg.caFile)
	}
	tc.ClientCAs = pool
	tc.ClientAuth = tls.RequireAndVerifyClientCert
	return tc, nil
}

func transportOfBlock(t string) pb.Transport {
	switch t {
	case "tls":
		return pb.Transport_TRANSPORT_DOT
	case "https":
		return pb.Transport_TRANSPORT_DOH
	case "quic":
		return pb.Transport_TRANSPORT_DOQ
	case "grpc":
		return pb.Transport_TRANSPORT_GRPC
	}
	return pb.Transport_TRANSPORT_UDP // plain DNS: UDP or TCP per query
}

// parse reads one ugallu block:
//
//	ugallu {
//	    listen ADDR                    default :9253
//	    token_file PATH                required
//	    tls CERT KEY [CA]              CA given: client certs required
//	    buffer N                       per subscriber, default 4096
//	    rate DEFAULT [MAX]             events/s, default 20000 100000;
//	                                   MAX defaults to DEFAULT; 0 = no
//	                                   limit (DEFAULT 0: as MAX)
//	    node_cidrs NODE=CIDR[,CIDR]    repeatable
//	    kubernetes [KUBECONFIG]        watch Nodes' spec.podCIDRs
//	}
func parse(c *caddy.Controller) (*config, error) {
	cfg := &config{listen: DefaultListen, buffer: DefaultBuffer,
		defaultRate: DefaultRate, maxRate: DefaultMaxRate,
		static: map[string][]netip.Prefix{}}
	c.Next() // "ugallu"
	if len(c.RemainingArgs()) != 0 {
		return nil, c.ArgErr()
	}
	for c.NextBlock() {
		if err := parseOption(c, cfg); err != nil {
			return nil, err
		}
	}
	if c.Next() {
		return nil, fmt.Errorf("one ugallu block per server block")
	}
	if cfg.tokenFile == "" {
		return nil, fmt.Errorf("token_file is required")
	}
	return cfg, nil
}

func parseOption(c *caddy.Controller, cfg *config) error {
	name := c.Val()
	args := c.RemainingArgs()
	switch name {
	case "listen":
		return parseListen(args, cfg)
	case "token_file":
		if len(args) != 1 {
			return c.ArgErr()
		}
		cfg.tokenFile = args[0]
	case "tls":
		if len(args) < 2 || len(args) > 3 {
			return c.ArgErr()
		}
		cfg.certFile, cfg.keyFile = args[0], args[1]
		if len(args) == 3 {
			cfg.caFile = args[2]
		}
	case "buffer":
		return parseBuffer(args, cfg)
	case "rate":
		return parseRate(args, cfg)
	case "node_cidrs":
		return parseStatic(args, cfg)
	case "kubernetes":
		if len(args) > 1 {
			return c.ArgErr()
		}
		cfg.kubernetes = true
		if len(args) == 1 {
			cfg.kubeconfig = args[0]
		}
	default:
		return c.Errf("unknown option %q", name)
	}
	return nil
}

func parseListen(args []string, cfg *config) error {
	if len(args) != 1 {
		return fmt.Errorf("listen wants one HOST:PORT")
	}
	if _, _, err := net.SplitHostPort(args[0]); err != nil {
		return fmt.Errorf("listen %q: %v", args[0], err)
	}
	cfg.listen = args[0]
	return nil
}

func parseBuffer(args []string, cfg *config) error {
	if len(args) != 1 {
		return fmt.Errorf("buffer wants one number")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > maxBufferAllowed {
		return fmt.Errorf("buffer %q: want 1..%d", args[0],
			maxBufferAllowed)
	}
	cfg.buffer = n
	return nil
}

func parseRate(args []string, cfg *config) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("rate wants DEFAULT [MAX] events per second")
	}
	vals := make([]uint32, len(args))
	for i, a := range args {
		v, err := strconv.ParseUint(a, 10, 32)
		if err != nil {
			return fmt.Errorf("rate %q: %v", a, err)
		}
		vals[i] = uint32(v)
	}
	cfg.defaultRate, cfg.maxRate = vals[0], vals[0]
	if len(vals) == 2 {
		cfg.maxRate = vals[1]
	}
	if cfg.maxRate != 0 && cfg.defaultRate > cfg.maxRate {
		return fmt.Errorf("rate: default %d above max %d",
			cfg.defaultRate, cfg.maxRate)
	}
	return nil
}

func parseStatic(args []string, cfg *config) error {
	if len(args) == 0 {
		return fmt.Errorf("node_cidrs wants NODE=CIDR[,CIDR] ...")
	}
	for _, a := range args {
		node, prefixes, err := parseNodeCIDRs(a)
		if err != nil {
			return err
		}
		cfg.static[node] = append(cfg.static[node], prefixes...)
		if len(cfg.static) > maxNodeCIDRsOption {
			return fmt.Errorf("node_cidrs: more than %d nodes",
				maxNodeCIDRsOption)
		}
	}
	return nil
}
