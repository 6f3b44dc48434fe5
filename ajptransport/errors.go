package ajptransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// This file decides what a failed request becomes: an answer to the client
// that does not count against the backend, or an error for reverse_proxy
// (which retries, counts it against the node's health and logs it once).

// errSecretRejected is what Tomcat's 403-and-close after a FORWARD_REQUEST
// means when a secret was sent: it did not match, or Tomcat refused a
// request attribute.
var errSecretRejected = errors.New("Tomcat refused the request with 403 and closed the connection: " +
	"the AJP secret does not match the connector's `secret`, or a request_attribute is not allowed " +
	"by its allowedRequestAttributesPattern")

// errNoSecretRejected is the same refusal when no secret was sent
// (insecure_no_secret).
var errNoSecretRejected = errors.New("Tomcat refused the request with 403 and closed the connection: " +
	"the connector requires a secret and insecure_no_secret sends none (set `secret`), " +
	"or a request_attribute is not allowed by its allowedRequestAttributesPattern")

// errClientBody marks a failure to read the request body from the client.
// It wraps context.Canceled so reverse_proxy neither retries the request
// nor counts the failure against the backend: the client went away.
var errClientBody = fmt.Errorf("reading the request body from the client: %w", context.Canceled)

// errPoolExhausted is returned when max_conns_per_host connections are busy
// and none came free within the wait bound.
var errPoolExhausted = errors.New("all AJP connections to this backend are busy (max_conns_per_host)")

// What counts against a node is the node's fault only. An error returned
// to reverse_proxy counts against the upstream's health (passive health
// checks) and may be retried on another; an answer returned instead counts
// nothing. So the transport returns errors for what the node did (it
// refused or dropped a connection, did not answer CPING, timed out, broke
// the protocol) and answers the rest itself: a response the node relayed
// from a servlet that HTTP cannot carry (ajp.ErrUnrelayable), a full
// connection pool (this front end's limit), a refused secret (this site's
// configuration; another site with the right secret must keep the node).

// dialFailed maps a failure to obtain a connection: a dial error, so
// reverse_proxy may try another upstream; a full pool is answered 503.
func (t *Transport) dialFailed(r *http.Request, addr string, err error) (*http.Response, error) {
	if ctxErr := r.Context().Err(); ctxErr != nil {
		return nil, ctxErr
	}
	st := statsFor(addr)
	if errors.Is(err, errPoolExhausted) {
		st.fail(failPoolFull)
		t.logger.Warn("all AJP connections to the backend stayed busy for dial_timeout; answered 503",
			zap.String("upstream", addr), zap.Int("max_conns_per_host", t.MaxConnsPerHost))
		return refuse(r, http.StatusServiceUnavailable), nil
	}
	if errors.Is(err, errCPing) {
		st.fail(failCPing)
	} else {
		st.fail(failDial)
	}
	t.logger.Warn("cannot connect to AJP backend", zap.String("upstream", addr), zap.Error(err))
	return nil, reverseproxy.NewDialError(fmt.Errorf("connecting to AJP backend %s: %w", addr, err))
}

// failed answers a request whose exchange failed before a response: the
// client's own faults (a body over request_body's limit, broken chunked
// framing, a body shorter than its Content-Length) directly, without
// counting against the backend; the rest as reverse_proxy errors.
func (t *Transport) failed(r *http.Request, addr string, err error) (*http.Response, error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		t.logger.Debug("request body larger than allowed; answered 413", zap.String("upstream", addr), zap.Error(err))
		return refuse(r, http.StatusRequestEntityTooLarge), nil
	case errors.Is(err, errClientBody) && errors.Is(err, io.ErrUnexpectedEOF):
		// Go's server cancels the request's context when the client's
		// side ends, half-closed or gone alike: a half-closed client still
		// reads this answer (Apache's too), a gone one never sees it.
		t.logger.Debug("request body ended before its end (client closed or half-closed its side); answered 400",
			zap.String("upstream", addr), zap.Error(err))
		return refuse(r, http.StatusBadRequest), nil
	case r.Context().Err() == nil && malformedBody(err):
		t.logger.Debug("malformed request body; answered 400", zap.String("upstream", addr), zap.Error(err))
		return refuse(r, http.StatusBadRequest), nil
	case r.Context().Err() != nil || errors.Is(err, errClientBody):
		// the client went away: exchangeError returns its cancellation
	case errors.Is(err, ajp.ErrUnrelayable):
		statsFor(addr).fail(failUnrelayable)
		t.logger.Warn("the backend's response cannot be relayed (the servlet's doing, not the node's); answered 502",
			zap.String("upstream", addr), zap.Error(err))
		return refuse(r, http.StatusBadGateway), nil
	case errors.Is(err, errSecretRejected), errors.Is(err, errNoSecretRejected):
		statsFor(addr).fail(failSecret)
		msg := "AJP backend rejected the secret; answered 502"
		if errors.Is(err, errNoSecretRejected) {
			msg = "AJP backend requires a secret; answered 502"
		}
		t.logger.Error(msg, zap.String("upstream", addr), zap.Error(err))
		return refuse(r, http.StatusBadGateway), nil
	}
	return nil, t.exchangeError(r, addr, err)
}

// exchangeError maps a failed exchange to what reverse_proxy should answer,
// and logs the cause with the upstream. reverse_proxy logs the request's
// final error once, at ERROR; this attempt is logged at WARN.
func (t *Transport) exchangeError(r *http.Request, addr string, err error) error {
	if ctxErr := r.Context().Err(); ctxErr != nil || errors.Is(err, errClientBody) {
		statsFor(addr).fail(failClientGone)
		t.logger.Debug("client went away during the AJP exchange", zap.String("upstream", addr), zap.Error(err))
		if ctxErr != nil {
			return ctxErr
		}
		return err
	}
	status := http.StatusBadGateway
	msg := "AJP exchange failed"
	kind := failBroken
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		status = http.StatusGatewayTimeout
		msg = "AJP backend did not answer within read_timeout"
		kind = failTimeout
	case errors.Is(err, ajp.ErrProtocol):
		msg = "AJP protocol error"
		kind = failProtocol
	}
	statsFor(addr).fail(kind)
	t.logger.Warn(msg, zap.String("upstream", addr), zap.Int("status", status), zap.Error(err))
	return caddyhttp.Error(status, fmt.Errorf("%s (upstream %s): %w", msg, addr, err))
}

// bodyFailed reports a failure while streaming the response body, after the
// status went to the client: reverse_proxy logs the error (at ERROR) and
// cuts the client's connection, so here it is only named and logged at DEBUG.
func (t *Transport) bodyFailed(ex *exchange, err error) error {
	if ex.ctx.Err() != nil {
		return ex.ctx.Err()
	}
	t.logger.Debug("AJP response body failed", zap.String("upstream", ex.addr), zap.Error(err))
	return fmt.Errorf("AJP response body from %s: %w", ex.addr, err)
}

// refuse answers the client directly, without an error that would count
// against the backend's health: the request, not the backend, is at fault.
// The client gets the plain status text; the reason goes to the log.
func refuse(r *http.Request, status int) *http.Response {
	body := http.StatusText(status) + "\n"
	return &http.Response{
		Status:     statusLine(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":           {"text/plain; charset=utf-8"},
			"X-Content-Type-Options": {"nosniff"},
		},
		ContentLength: int64(len(body)),
		Body:          refusalBody{strings.NewReader(body)},
		Request:       r,
	}
}

// refusalBody is the body of an answer the transport made itself; tests
// tell such answers from the backend's by it.
type refusalBody struct{ *strings.Reader }

func (refusalBody) Close() error { return nil }

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// isConnReset reports errors of a connection the peer has closed.
func isConnReset(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// malformedBody reports a client body error that is the client's protocol
// violation (bad chunked framing), not a disconnect.
func malformedBody(err error) bool {
	var ne net.Error
	return errors.Is(err, errClientBody) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) &&
		!errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrBodyReadAfterClose)
}

// statusLines holds "200 OK" and the like, so responses don't build them.
var statusLines = func() (m [600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m[code] = strconv.Itoa(code) + " " + text
		}
	}
	return
}()

func statusLine(code int) string {
	if code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return strconv.Itoa(code)
}
