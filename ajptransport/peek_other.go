//go:build !linux

package ajptransport

// peeker cannot peek without blocking on this platform; the CPING before
// reuse and the retry of idempotent requests cover stale connections.
type peeker struct{}

func newPeeker(any) *peeker { return nil }

func (p *peeker) peerAlive() bool { return true }
