package clusterview

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// TestModelRefreshes ensures the model fetches on start, shows the
// snapshot, schedules the next fetch, and keeps the last good snapshot
// with the error when a fetch fails.
func TestModelRefreshes(t *testing.T) {
	fails := false
	fetch := func(context.Context) (*Snapshot, error) {
		if fails {
			return nil, errors.New("etcd unreachable")
		}
		return sampleSnapshot(), nil
	}
	m := NewModel(t.Context(), fetch, time.Second, Options{})
	msg := m.Init()()
	next, cmd := m.Update(msg)
	if cmd == nil {
		t.Fatal("no refresh scheduled after a snapshot")
	}
	if v := next.View(); !strings.Contains(v, "w-gpu") || !strings.Contains(v, "q quit") {
		t.Errorf("view:\n%s", v)
	}
	if _, cmd := next.Update(tickMsg{}); cmd == nil {
		t.Fatal("tick did not fetch")
	}
	fails = true
	next, _ = next.Update(next.(Model).fetchCmd()())
	if v := next.View(); !strings.Contains(v, "etcd unreachable") || !strings.Contains(v, "w-gpu") {
		t.Errorf("failed fetch should keep the last snapshot and show the error:\n%s", v)
	}
}

// TestModelKeys ensures s cycles the sort, / edits the filter (enter keeps,
// esc clears) and q quits.
func TestModelKeys(t *testing.T) {
	var m tea.Model = NewModel(t.Context(), func(context.Context) (*Snapshot, error) { return sampleSnapshot(), nil },
		time.Second, Options{})
	m, _ = m.Update(runes("s"))
	if got := m.(Model).Options().Sort; got != SortUtil {
		t.Errorf("after s: sort %v, want util", got)
	}
	for _, k := range []tea.KeyMsg{runes("/"), runes("w-c"), runes("p"), runes("x"), {Type: tea.KeyBackspace}, {Type: tea.KeyEnter}} {
		m, _ = m.Update(k)
	}
	if got := m.(Model).Options().Filter; got != "w-cp" {
		t.Errorf("filter %q, want %q", got, "w-cp")
	}
	// q while not editing quits; while editing it would be typed.
	if _, cmd := m.Update(runes("q")); cmd == nil || cmd() != tea.Quit() {
		t.Error("q did not quit")
	}
	m, _ = m.Update(runes("/"))
	m, _ = m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	if got := m.(Model).Options().Filter; got != "" {
		t.Errorf("esc left filter %q", got)
	}
	m, _ = m.Update(tea.WindowSizeMsg{Width: 30, Height: 10})
	m, _ = m.Update(m.(Model).fetchCmd()())
	lines := strings.Split(m.View(), "\n")
	if len(lines) != 10 || !strings.HasPrefix(lines[9], "q quit") {
		t.Errorf("view of %d lines ending %q, want 10 ending with the key help", len(lines), lines[len(lines)-1])
	}
	for _, l := range lines {
		if len([]rune(l)) > 30 {
			t.Errorf("line wider than the window: %q", l)
		}
	}
}
