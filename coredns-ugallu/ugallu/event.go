package ugallu

import (
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	pb "github.com/ugallu/dns-detect/coredns-ugallu/dnsstreampb"
)

const (
	// maxAnswers bounds the answer records copied into one event.
	maxAnswers = 8
	// maxRdata bounds the RDATA bytes copied per answer record.
	maxRdata = 256
)

// recorder wraps the ResponseWriter handed to the plugin to see the
// response the rest of the chain writes.  It keeps a pointer to the
// message, copies nothing, and passes every call through unchanged.
type recorder struct {
	dns.ResponseWriter
	msg *dns.Msg  // the response written, nil if none yet
	at  time.Time // when it was written
}

func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.msg = m
	r.at = time.Now()
	return r.ResponseWriter.WriteMsg(m)
}

// exchange is everything known about one query once it is answered.
type exchange struct {
	start     time.Time
	req       *dns.Msg
	resp      *dns.Msg // nil when no plugin wrote one
	respAt    time.Time
	rcode     int // the chain's return code, used when resp is nil
	src, dst  netip.AddrPort
	transport pb.Transport
	node      string // "" when the client could not be placed
}

// buildEvent maps one exchange to a DNSEvent.  The event is new and is
// shared, read-only, by every subscriber it is offered to.
func buildEvent(x *exchange) *pb.DNSEvent {
	ev := &pb.DNSEvent{
		Timestamp:   x.start.UnixNano(),
		NodeName:    x.node,
		SrcIp:       addrBytes(x.src.Addr()),
		SrcPort:     uint32(x.src.Port()),
		DstIp:       addrBytes(x.dst.Addr()),
		DstPort:     uint32(x.dst.Port()),
		Transport:   x.transport,
		Id:          uint32(x.req.Id),
		RequestSize: uint32(x.req.Len()),
	}
	if len(x.req.Question) > 0 {
		q := x.req.Question[0]
		ev.Qname, ev.Qtype, ev.Qclass = q.Name, uint32(q.Qtype),
			uint32(q.Qclass)
	}
	if x.resp == nil {
		ev.ResponseCode = uint32(x.rcode)
		ev.Flags = headerFlags(x.req)
		ev.Latency = int64(time.Since(x.start))
		return ev
	}
	fillResponse(ev, x.resp)
	ev.Latency = int64(x.respAt.Sub(x.start))
	return ev
}

func fillResponse(ev *pb.DNSEvent, m *dns.Msg) {
	ev.ResponseCode = uint32(m.Rcode)
	ev.ResponseRr = uint32(len(m.Answer))
	ev.Flags = headerFlags(m)
	ev.ResponseSize = uint32(m.Len())
	ev.PayloadLength = ev.ResponseSize
	n := len(m.Answer)
	if n > maxAnswers {
		n = maxAnswers
	}
	if n > 0 {
		ev.Answers = make([]*pb.Answer, 0, n)
	}
	for _, rr := range m.Answer[:n] {
		ev.Answers = append(ev.Answers, answerOf(rr))
	}
}

// answerOf packs one record uncompressed and keeps its RDATA (cut to
// maxRdata bytes).  A record that will not pack keeps type and TTL only.
func answerOf(rr dns.RR) *pb.Answer {
	h := rr.Header()
	a := &pb.Answer{Type: uint32(h.Rrtype), Ttl: h.Ttl}
	buf := make([]byte, dns.Len(rr))
	end, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return a
	}
	// The record is: owner name, type(2) class(2) ttl(4) rdlength(2),
	// RDATA.  Packing the owner name again (over itself) gives its length.
	nameEnd, err := dns.PackDomainName(h.Name, buf, 0, nil, false)
	if err != nil || nameEnd+10 > end {
		return a
	}
	rdata := buf[nameEnd+10 : end]
	if len(rdata) > maxRdata {
		rdata = rdata[:maxRdata]
	}
	a.Data = rdata
	return a
}

// headerFlags is the 16-bit word after the message ID.
func headerFlags(m *dns.Msg) uint32 {
	var f uint32
	f |= boolBit(m.Response, 15)
	f |= uint32(m.Opcode&0xf) << 11
	f |= boolBit(m.Authoritative, 10)
	f |= boolBit(m.Truncated, 9)
	f |= boolBit(m.RecursionDesired, 8)
	f |= boolBit(m.RecursionAvailable, 7)
	f |= boolBit(m.Zero, 6)
	f |= boolBit(m.AuthenticatedData, 5)
	f |= boolBit(m.CheckingDisabled, 4)
	f |= uint32(m.Rcode & 0xf)
	return f
}

func boolBit(b bool, bit uint) uint32 {
	if b {
		return 1 << bit
	}
	return 0
}

// addrBytes is 4 bytes for IPv4 (mapped ones included), 16 for IPv6,
// nil for an invalid address.
func addrBytes(a netip.Addr) []byte {
	if !a.IsValid() {
		return nil
	}
	a = a.Unmap()
	return a.AsSlice()
}

// addrPortOf reads an address and port from what CoreDNS's writers
// return (UDP and TCP addresses; anything else gives the zero value).
func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.AddrPort()
	case *net.TCPAddr:
		return v.AddrPort()
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
