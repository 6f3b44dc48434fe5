package ajp

import "github.com/caddy-ajp/caddy-ajp/ajptransport/internal/ajpspec"

// The codec's tests build and read packets with ajpspec, which is written
// from the AJP reference, not from this package.
var (
	wire                    = ajpspec.Wire
	ajpStr                  = ajpspec.Str
	ajpInt                  = ajpspec.Int
	toServerPacket          = ajpspec.ToContainer
	parseForwardRequest     = ajpspec.ParseForwardRequest
	parseForwardRequestSafe = ajpspec.ParseForwardRequestSafe
	sendHeaders             = ajpspec.SendHeaders
	hdr                     = ajpspec.Header
	codedHdr                = ajpspec.CodedHeader
)

type parsedRequest = ajpspec.Request

// fuzzSeed is one named seed of a fuzz target.
type fuzzSeed struct {
	name string
	args []any
}

// specSeeds converts seed lists for ajpspec.CheckCorpus.
func specSeeds(m map[string][]fuzzSeed) map[string][]ajpspec.Seed {
	out := map[string][]ajpspec.Seed{}
	for target, list := range m {
		for _, s := range list {
			out[target] = append(out[target], ajpspec.Seed{Name: s.name, Args: s.args})
		}
	}
	return out
}
