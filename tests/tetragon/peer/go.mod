module ugallu.io/dns-detect/tests/tetragon/peer

go 1.24.0

require (
	github.com/cilium/tetragon/api v1.5.0
	google.golang.org/grpc v1.74.2
	google.golang.org/protobuf v1.36.6
)

require (
	golang.org/x/net v0.40.0 // indirect
	golang.org/x/sys v0.34.0 // indirect
	golang.org/x/text v0.25.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250528174236-200df99c418a // indirect
)

// The api module names the main tetragon module at a placeholder version
// that it resolves with a replace of its own; replaces do not carry over,
// so point it at an empty local module.  Nothing of it is imported.
replace github.com/cilium/tetragon => ./nomodule
