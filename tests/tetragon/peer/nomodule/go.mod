module github.com/cilium/tetragon

go 1.24.0
