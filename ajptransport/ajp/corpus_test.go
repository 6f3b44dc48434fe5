package ajp

import (
	"flag"
	"testing"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/internal/ajpspec"
)

// The named seeds of each fuzz target are the committed corpus under
// testdata/fuzz/; go test runs them as regression cases. After changing a
// seed, rewrite the files with
//
//	go test ./ajptransport/ajp -run TestFuzzSeedCorpus -update-fuzz-seeds
//
// Crashers found by `go test -fuzz` land in the same directories (hashed
// names) and are kept there as regression seeds.
var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the named fuzz seed files under testdata/fuzz")

func TestFuzzSeedCorpus(t *testing.T) {
	ajpspec.CheckCorpus(t, specSeeds(map[string][]fuzzSeed{
		"FuzzParsePacketHeader":       packetHeaderSeeds(),
		"FuzzParseSendHeaders":        sendHeadersSeeds(),
		"FuzzParseEndResponse":        endResponseSeeds(),
		"FuzzParseGetBodyChunk":       getBodyChunkSeeds(),
		"FuzzParseBodyChunkLen":       bodyChunkLenSeeds(),
		"FuzzForwardRequestRoundTrip": forwardRequestSeeds(),
	}), *updateFuzzSeeds)
}
