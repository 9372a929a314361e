package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// table renders rows as aligned plain-text columns.
type table struct {
	header []string
	rows   [][]string
	color  bool
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) render(w io.Writer) {
	widths := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string, paint func(string) string) {
		var b strings.Builder
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == len(cells)-1 {
				pad = ""
			}
			b.WriteString(paint(c) + pad)
		}
		fmt.Fprintln(w, b.String())
	}
	line(t.header, t.bold)
	rule := make([]string, len(widths))
	for i, n := range widths {
		rule[i] = strings.Repeat("-", n)
	}
	line(rule, plain)
	for _, row := range t.rows {
		line(row, t.status)
	}
}

func plain(s string) string { return s }

func (t *table) bold(s string) string {
	if !t.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

// status colours a cell by the answer it reports, on a terminal only.
func (t *table) status(s string) string {
	if !t.color {
		return s
	}
	switch {
	case strings.HasPrefix(s, "200") || strings.Contains(s, "× 200"):
		return "\x1b[32m" + s + "\x1b[0m"
	case strings.HasPrefix(s, "401") || strings.Contains(s, "× 401"):
		return "\x1b[33m" + s + "\x1b[0m"
	case strings.Contains(s, "ErrReauthRequired") || strings.HasPrefix(s, "Must"):
		return "\x1b[31m" + s + "\x1b[0m"
	}
	return s
}
