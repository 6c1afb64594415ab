// Command coredns is CoreDNS with a small plugin set and the ugallu
// plugin compiled in.  The CoreDNS release is the one go.mod pins;
// scripts/coredns/build.sh builds this into a cache directory.
//
// The plugin order (dnsserver.Directives) is CoreDNS's own order with
// ugallu right after dnstap: before cache, rewrite and every plugin that
// answers, so ugallu sees each client's query as sent and the response
// as written, cache hits included.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The plugins this build offers.  Each registers itself in init.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/whoami"

	_ "github.com/ugallu/dns-detect/coredns-ugallu/ugallu"
)

// directives is the plugin chain order; a Corefile may use any subset.
// metadata, dnstap and transfer come in with the plugins above.
var directives = []string{
	"root",
	"metadata",
	"reload",
	"bind",
	"debug",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"dnstap",
	"ugallu",
	"loadbalance",
	"cache",
	"rewrite",
	"template",
	"transfer",
	"hosts",
	"kubernetes",
	"file",
	"loop",
	"forward",
	"whoami",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
