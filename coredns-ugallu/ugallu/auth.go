package ugallu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// maxTokenFile bounds what is read from the token file.
const maxTokenFile = 4096

// tokenFile holds the expected bearer token, read from a file (a mounted
// Secret key in a cluster).  The file is stat'ed on every Subscribe and
// re-read when its identity, size or modification time changed, so a
// rotated Secret takes effect without a restart.  Safe for concurrent
// use; Subscribe is not on the query path.
type tokenFile struct {
	path string

	mu     sync.Mutex
	stamp  fileStamp
	digest [sha256.Size]byte // sha256 of the token
	valid  bool              // false: no usable token; reject everyone
}

type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func newTokenFile(path string) (*tokenFile, error) {
	t := &tokenFile{path: path}
	if _, err := t.refresh(); err != nil {
		return nil, err
	}
	return t, nil
}

// refresh re-reads the file when it changed.  Returns whether a usable
// token is in force.  On a read error the last good token stays.
func (t *tokenFile) refresh() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := os.Stat(t.path)
	if err != nil {
		return t.valid, err
	}
	stamp := fileStamp{size: st.Size(), mtime: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		stamp.dev, stamp.ino = uint64(sys.Dev), sys.Ino
	}
	if stamp == t.stamp && t.valid {
		return true, nil
	}
	raw, err := readBounded(t.path, maxTokenFile)
	if err != nil {
		return t.valid, err
	}
	tok := bytes.TrimSpace(raw)
	t.stamp = stamp
	t.valid = len(tok) > 0
	t.digest = sha256.Sum256(tok)
	return t.valid, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// matches compares a presented token with the expected one in constant
// time.  Both are hashed first, so neither length leaks either.
func (t *tokenFile) matches(presented string) bool {
	t.mu.Lock()
	want, valid := t.digest, t.valid
	t.mu.Unlock()
	got := sha256.Sum256([]byte(presented))
	eq := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return valid && eq && presented != ""
}

// authorize checks the "authorization: Bearer <token>" metadata of an
// incoming call.  Returns a gRPC UNAUTHENTICATED status error when the
// header is missing, malformed or wrong, or when the plugin has no
// usable token itself.
func (t *tokenFile) authorize(ctx context.Context) error {
	if _, err := t.refresh(); err != nil {
		log.Warningf("token file %s: %v (keeping the last token)",
			t.path, err)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		authFailures.Inc()
		return status.Error(codes.Unauthenticated, "bearer token required")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") ||
		!t.matches(strings.TrimSpace(tok)) {
		authFailures.Inc()
		return status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	return nil
}
