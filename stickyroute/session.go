package stickyroute

import (
	"net/http"
	"strings"

	"github.com/caddy-ajp/caddy-ajp/internal/tomcatpath"
)

// This file reads a request's session route, as Tomcat and Apache read
// session ids.

// sessionRoute finds the request's session route: the path parameter
// first (read as Tomcat reads it), then every cookie of each configured
// name in turn. It returns the first route found that is configured, or,
// when none is, the first route found at all (nil Route).
func (s *StickyRoute) sessionRoute(r *http.Request) (string, *Route) {
	first := ""
	raw := r.URL.RawPath
	if raw == "" {
		raw = r.URL.Path
	}
	if strings.IndexByte(raw, ';') >= 0 {
		for _, p := range s.PathParams {
			if id, ok := tomcatpath.PathParam(raw, p); ok {
				if name := RouteOf(id, s.Separator); name != "" {
					if rt := s.byName[name]; rt != nil {
						return name, rt
					}
					if first == "" {
						first = name
					}
				}
			}
		}
	}
	for _, line := range r.Header["Cookie"] {
		for _, cname := range s.Cookies {
			for rest := line; rest != ""; {
				var part string
				part, rest, _ = strings.Cut(rest, ";")
				k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
				if !ok || k != cname {
					continue
				}
				name := RouteOf(unquote(strings.TrimSpace(v)), s.Separator)
				if name == "" {
					continue
				}
				if rt := s.byName[name]; rt != nil {
					return name, rt
				}
				if first == "" {
					first = name
				}
			}
		}
	}
	return first, nil
}

// RouteOf returns the route of a session id: the text after the first
// separator, or "" when there is none.
func RouteOf(id, sep string) string {
	_, route, ok := strings.Cut(id, sep)
	if !ok {
		return ""
	}
	return route
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}
