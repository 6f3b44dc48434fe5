package ajptransport

import "github.com/caddy-ajp/caddy-ajp/ajptransport/internal/ajpspec"

// The tests build and read packets with ajpspec, which is written from the
// AJP reference, not from the codec.
var (
	wire                = ajpspec.Wire
	ajpStr              = ajpspec.Str
	ajpInt              = ajpspec.Int
	fromServerPacket    = ajpspec.FromContainer
	parseForwardRequest = ajpspec.ParseForwardRequest
	sendHeaders         = ajpspec.SendHeaders
	hdr                 = ajpspec.Header
	codedHdr            = ajpspec.CodedHeader
)

type parsedRequest = ajpspec.Request
