package caddyfile_test

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func TestAJPManagerRefusesUnknownWords(t *testing.T) {
	for c, line := range map[string]string{
		"ajp_manager /m* read_write":        ":2",
		"ajp_manager read_only read_only":   ":2",
		"ajp_manager {\n\t\tread_only\n\t}": ":3",
	} {
		cfg := "example.com {\n\t" + c + "\n}\n"
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), map[string]any{"filename": errorFile})
		if err == nil || !strings.Contains(err.Error(), errorFile+line) || !strings.Contains(err.Error(), "ajp_manager") {
			t.Errorf("%q: %v, want an error at %s%s that names ajp_manager", c, err, errorFile, line)
		}
	}
}
