// Command subscriber is a test and debugging client of the ugallu
// plugin's stream: it subscribes as one node, prints every event as a
// JSON line on stdout (or only counts them, with -quiet), and when the
// stream ends or it gets SIGINT/SIGTERM prints a summary line on stderr:
//
//	{"summary":{"events":N,"code":"OK"|"Unauthenticated"|...}}
//
// Once the plugin has accepted the subscription it prints
// {"subscribed":{"granted_eps":N}} on stderr, before any event.
//
// Exit status: 0 when the stream ended by signal or by the server
// closing it cleanly, 2 on an UNAUTHENTICATED rejection, 1 otherwise.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/ugallu/dns-detect/coredns-ugallu/dnsstreampb"
)

// grantedRateHeader is ugallu.GrantedRateHeader, repeated here so that
// this client does not link CoreDNS.
const grantedRateHeader = "ugallu-granted-eps"

type options struct {
	addr, node, token, tokenFile, caFile string
	rate                                 uint
	unplaced, quiet                      bool
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:9253", "plugin address")
	flag.StringVar(&o.node, "node", "", "subscriber id (node name)")
	flag.StringVar(&o.token, "token", "", "bearer token")
	flag.StringVar(&o.tokenFile, "token-file", "", "bearer token file")
	flag.StringVar(&o.caFile, "tls-ca", "", "use TLS, trusting this CA")
	flag.UintVar(&o.rate, "rate", 0, "events/s to ask for (0: default)")
	flag.BoolVar(&o.unplaced, "unplaced", false, "also unplaced clients")
	flag.BoolVar(&o.quiet, "quiet", false, "count events, print none")
	flag.Parse()
	os.Exit(run(o))
}

func run(o options) int {
	ctx, cancel := signal.NotifyContext(context.Background(),
		syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	n, err := subscribe(ctx, o)
	code := status.Code(err)
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		code, err = codes.OK, nil
	}
	summary(n, code, err)
	switch {
	case err == nil:
		return 0
	case code == codes.Unauthenticated:
		return 2
	}
	return 1
}

func subscribe(ctx context.Context, o options) (int64, error) {
	conn, err := dial(o)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	tok := o.token
	if o.tokenFile != "" {
		raw, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return 0, err
		}
		tok = strings.TrimSpace(string(raw))
	}
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx,
			"authorization", "Bearer "+tok)
	}
	req := &pb.SubscribeRequest{SubscriberId: o.node,
		MaxEventsPerSec: uint32(o.rate), IncludeUnplaced: o.unplaced}
	stream, err := pb.NewUgalluDNSStreamClient(conn).Subscribe(ctx, req)
	if err != nil {
		return 0, err
	}
	hdr, err := stream.Header()
	if err != nil {
		return 0, err
	}
	if g := hdr.Get(grantedRateHeader); len(g) == 1 {
		fmt.Fprintf(os.Stderr, "{\"subscribed\":{\"granted_eps\":%s}}\n",
			g[0])
	}
	return receive(stream, o.quiet)
}

func dial(o options) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool})
	}
	return grpc.NewClient(o.addr, grpc.WithTransportCredentials(creds))
}

func receive(stream pb.UgalluDNSStream_SubscribeClient,
	quiet bool) (int64, error) {
	var n int64
	enc := json.NewEncoder(os.Stdout)
	for {
		ev, err := stream.Recv()
		if err != nil {
			return n, err
		}
		n++
		if !quiet {
			if err := enc.Encode(toJSON(ev)); err != nil {
				return n, err
			}
		}
	}
}

type answerJSON struct {
	Type uint32 `json:"type"`
	TTL  uint32 `json:"ttl"`
	Data string `json:"data"` // hex
}

// eventJSON names the fields as the proto does; addresses as text.
type eventJSON struct {
	Timestamp     int64        `json:"timestamp"`
	NodeName      string       `json:"node_name"`
	SrcIP         string       `json:"src_ip"`
	SrcPort       uint32       `json:"src_port"`
	DstIP         string       `json:"dst_ip"`
	DstPort       uint32       `json:"dst_port"`
	Transport     string       `json:"transport"`
	ID            uint32       `json:"id"`
	Qname         string       `json:"qname"`
	Qtype         uint32       `json:"qtype"`
	Qclass        uint32       `json:"qclass"`
	ResponseCode  uint32       `json:"response_code"`
	ResponseRR    uint32       `json:"response_rr"`
	Flags         uint32       `json:"flags"`
	Latency       int64        `json:"latency"`
	RequestSize   uint32       `json:"request_size"`
	ResponseSize  uint32       `json:"response_size"`
	PayloadLength uint32       `json:"payload_length"`
	Answers       []answerJSON `json:"answers"`
}

func toJSON(ev *pb.DNSEvent) eventJSON {
	j := eventJSON{Timestamp: ev.Timestamp, NodeName: ev.NodeName,
		SrcIP: ipText(ev.SrcIp), SrcPort: ev.SrcPort,
		DstIP: ipText(ev.DstIp), DstPort: ev.DstPort,
		Transport: ev.Transport.String(), ID: ev.Id, Qname: ev.Qname,
		Qtype: ev.Qtype, Qclass: ev.Qclass, ResponseCode: ev.ResponseCode,
		ResponseRR: ev.ResponseRr, Flags: ev.Flags, Latency: ev.Latency,
		RequestSize: ev.RequestSize, ResponseSize: ev.ResponseSize,
		PayloadLength: ev.PayloadLength, Answers: []answerJSON{}}
	for _, a := range ev.Answers {
		j.Answers = append(j.Answers, answerJSON{Type: a.Type, TTL: a.Ttl,
			Data: hex.EncodeToString(a.Data)})
	}
	return j
}

func ipText(b []byte) string {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return ""
	}
	return a.String()
}

func summary(n int64, code codes.Code, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	out, _ := json.Marshal(map[string]any{"summary": map[string]any{
		"events": n, "code": code.String(), "error": msg}})
	fmt.Fprintln(os.Stderr, string(out))
}
