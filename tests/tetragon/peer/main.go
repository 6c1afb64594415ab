// Command peer stands in for Tetragon in the system tests: it serves
// tetragon.FineGuidanceSensors/GetEvents on a unix socket, from Tetragon's
// own Go API module, and streams the events of a fixture file.
//
// The fixture holds one GetEventsResponse per line in Tetragon's JSON
// form (protojson, as `tetra getevents -o json` prints them).  Every
// GetEvents call gets every event of the fixture, in order, and then the
// stream stays open until the client goes or the peer is stopped.
//
// With -dump DIR it serves nothing: it writes each fixture event to
// DIR/NN.bin in Tetragon's binary wire form (the fuzz seed corpus).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cilium/tetragon/api/v1/tetragon"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type server struct {
	tetragon.UnimplementedFineGuidanceSensorsServer
	events []*tetragon.GetEventsResponse
}

func (s *server) GetEvents(req *tetragon.GetEventsRequest,
	stream tetragon.FineGuidanceSensors_GetEventsServer) error {
	log.Printf("GetEvents: allow_list=%d", len(req.GetAllowList()))
	for _, ev := range s.events {
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return nil
}

func load(path string) ([]*tetragon.GetEventsResponse, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*tetragon.GetEventsResponse
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		ev := &tetragon.GetEventsResponse{}
		if err := protojson.Unmarshal(line, ev); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

func dump(dir string, events []*tetragon.GetEventsResponse) error {
	for i, ev := range events {
		b, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s/%02d.bin", dir, i)
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	sock := flag.String("socket", "", "unix socket to listen on")
	fixture := flag.String("fixture", "", "JSON lines of GetEventsResponse")
	dumpDir := flag.String("dump", "", "write the events here and exit")
	flag.Parse()

	events, err := load(*fixture)
	if err != nil {
		log.Fatal(err)
	}
	if *dumpDir != "" {
		if err := dump(*dumpDir, events); err != nil {
			log.Fatal(err)
		}
		return
	}
	os.Remove(*sock)
	ln, err := net.Listen("unix", *sock)
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer()
	tetragon.RegisterFineGuidanceSensorsServer(gs, &server{events: events})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		gs.Stop()
	}()
	fmt.Println("READY", len(events))
	if err := gs.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
