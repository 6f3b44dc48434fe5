package tomcattest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// httpProbe GETs url without following redirects and returns the status.
func httpProbe(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	c := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// ajpProbe sends one AJP/1.3 GET for uri and returns the response status.
// It is deliberately minimal and independent of the transport under test:
// it only proves that Tomcat serves requests through its AJP connector.
func ajpProbe(ctx context.Context, addr, secret, uri string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}

	// FORWARD_REQUEST: see AJP.md. Payload, then the 0x1234 + length header.
	p := []byte{0x02, 0x02} // forwardRequest, GET
	str := func(s string) {
		p = binary.BigEndian.AppendUint16(p, uint16(len(s)))
		p = append(p, s...)
		p = append(p, 0)
	}
	str("HTTP/1.1")
	str(uri)
	str("127.0.0.1") // remote_addr
	str("localhost") // remote_host
	str("localhost") // server_name
	p = binary.BigEndian.AppendUint16(p, 80)
	p = append(p, 0)                        // is_ssl
	p = binary.BigEndian.AppendUint16(p, 1) // num_headers
	p = append(p, 0xA0, 0x0B)               // Host
	str("localhost")
	if secret != "" {
		p = append(p, 0x0C) // secret attribute
		str(secret)
	}
	p = append(p, 0xFF)
	pkt := append([]byte{0x12, 0x34}, binary.BigEndian.AppendUint16(nil, uint16(len(p)))...)
	if _, err := conn.Write(append(pkt, p...)); err != nil {
		return 0, err
	}

	r := bufio.NewReader(conn)
	status := 0
	for {
		var h [4]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 0, fmt.Errorf("reading AJP response: %w", err)
		}
		if h[0] != 'A' || h[1] != 'B' {
			return 0, errors.New("bad AJP response packet")
		}
		body := make([]byte, binary.BigEndian.Uint16(h[2:]))
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, fmt.Errorf("reading AJP response: %w", err)
		}
		if len(body) == 0 {
			return 0, errors.New("empty AJP response packet")
		}
		switch body[0] {
		case 4: // sendHeaders
			if len(body) < 3 {
				return 0, errors.New("short AJP SEND_HEADERS")
			}
			status = int(binary.BigEndian.Uint16(body[1:3]))
		case 5: // endResponse
			if status == 0 {
				return 0, errors.New("AJP END_RESPONSE without headers")
			}
			return status, nil
		case 3: // sendBodyChunk: ignored
		case 6: // getBodyChunk: there is no body
			if _, err := conn.Write([]byte{0x12, 0x34, 0, 0}); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("unexpected AJP message type %d", body[0])
		}
	}
}
