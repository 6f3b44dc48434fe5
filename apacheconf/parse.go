package apacheconf

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// directive is one line of an httpd configuration, or one section
// (<VirtualHost …> … </VirtualHost>) with the directives it holds.
type directive struct {
	name    string // as written, without < >
	args    []string
	file    string
	line    int
	section bool
	block   []*directive
}

// is reports whether the directive has the given name (httpd's directive
// names are case-insensitive).
func (d *directive) is(name string) bool { return strings.EqualFold(d.name, name) }

// where is "file:line", the way httpd names a place in its configuration.
func (d *directive) where() string { return fmt.Sprintf("%s:%d", d.file, d.line) }

// ParseError is a syntax error in an httpd configuration, at a file and line.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// parse reads httpd configuration syntax (ap_cfg_getline and
// ap_getword_conf): one directive a line, a backslash at the end of a line
// continues it, lines starting with # are comments (a # later in a line is
// an argument, as in httpd), arguments are separated by white space and may
// be quoted with " or ', and <Name args> … </Name> are sections.
func parse(file string, body []byte) ([]*directive, error) {
	root := &directive{name: "", section: true}
	stack := []*directive{root}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		start := lineNo
		line := strings.TrimRight(sc.Text(), " \t\r")
		for strings.HasSuffix(line, "\\") && sc.Scan() {
			lineNo++
			line = line[:len(line)-1] + strings.TrimRight(sc.Text(), " \t\r")
		}
		line = strings.TrimLeft(line, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		top := stack[len(stack)-1]
		if strings.HasPrefix(line, "</") {
			name := strings.TrimSpace(strings.TrimSuffix(line[2:], ">"))
			if !strings.HasSuffix(line, ">") {
				return nil, &ParseError{file, start, fmt.Sprintf("</%s: the closing section tag lacks '>'", name)}
			}
			if top == root {
				return nil, &ParseError{file, start, fmt.Sprintf("</%s> without matching <%s> section", name, name)}
			}
			if !strings.EqualFold(name, top.name) {
				return nil, &ParseError{file, start, fmt.Sprintf("</%s> closes <%s> opened on line %d", name, top.name, top.line)}
			}
			stack = stack[:len(stack)-1]
			continue
		}
		d := &directive{file: file, line: start}
		text := line
		if line[0] == '<' {
			if !strings.HasSuffix(line, ">") {
				return nil, &ParseError{file, start, fmt.Sprintf("%s: the section tag lacks its closing '>'", firstWord(line))}
			}
			text = strings.TrimSpace(line[1 : len(line)-1])
			d.section = true
		}
		words, err := words(text)
		if err != nil {
			return nil, &ParseError{file, start, err.Error()}
		}
		if len(words) == 0 || words[0] == "" {
			return nil, &ParseError{file, start, fmt.Sprintf("%q: no directive name", line)}
		}
		d.name, d.args = words[0], words[1:]
		top.block = append(top.block, d)
		if d.section {
			stack = append(stack, d)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{file, lineNo, err.Error()}
	}
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		return nil, &ParseError{file, open.line, fmt.Sprintf("<%s> is never closed (missing </%s>)", open.name, open.name)}
	}
	return root.block, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// words splits a line the way ap_getword_conf does: a word quoted with " or
// ' may hold white space, and a backslash before the quote character keeps
// it in the word.
func words(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		if q := s[0]; q == '"' || q == '\'' {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' && i+1 < len(s) && s[i+1] == q {
					i++
				}
				b.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, fmt.Errorf("unterminated quoted argument %s", s)
			}
			out = append(out, b.String())
			s = s[i+1:]
			continue
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}
