package clusterview

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// Fetch reads a fresh snapshot.
type Fetch func(ctx context.Context) (*Snapshot, error)

// fetchTimeout bounds one refresh, so a stalled etcd shows as an error line
// instead of a frozen screen.
const fetchTimeout = 3 * time.Second

// Model is the bubbletea model of `cohort top`: it refreshes the snapshot
// every interval and renders it with Render. Keys: s cycles the sort order,
// / edits the filter (enter keeps it, esc clears it), q or ctrl+c quits.
type Model struct {
	ctx      context.Context
	fetch    Fetch
	interval time.Duration

	snap    *Snapshot
	err     error
	opts    Options
	editing bool
	height  int
}

// snapshotMsg carries the result of one fetch.
type snapshotMsg struct {
	snap *Snapshot
	err  error
}

// tickMsg asks for the next fetch.
type tickMsg struct{}

// NewModel returns a model that fetches through fetch every interval, with
// ctx bounding every fetch.
func NewModel(ctx context.Context, fetch Fetch, interval time.Duration, opts Options) Model {
	return Model{ctx: ctx, fetch: fetch, interval: interval, opts: opts}
}

// Init fetches the first snapshot.
func (m Model) Init() tea.Cmd { return m.fetchCmd() }

func (m Model) fetchCmd() tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(m.ctx, fetchTimeout)
		defer cancel()
		s, err := m.fetch(ctx)
		return snapshotMsg{snap: s, err: err}
	}
}

// Update handles snapshots, the refresh tick, window sizes and keys.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case snapshotMsg:
		m.err = msg.err
		if msg.err == nil {
			m.snap = msg.snap
		}
		return m, tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		return m, m.fetchCmd()
	case tea.WindowSizeMsg:
		m.opts.Width, m.height = msg.Width, msg.Height
		return m, nil
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyCtrlC {
		return m, tea.Quit
	}
	if m.editing {
		switch k.Type {
		case tea.KeyEnter:
			m.editing = false
		case tea.KeyEsc:
			m.editing, m.opts.Filter = false, ""
		case tea.KeyBackspace:
			if r := []rune(m.opts.Filter); len(r) > 0 {
				m.opts.Filter = string(r[:len(r)-1])
			}
		case tea.KeyRunes, tea.KeySpace:
			m.opts.Filter += string(k.Runes)
		}
		return m, nil
	}
	switch k.String() {
	case "q":
		return m, tea.Quit
	case "s":
		m.opts.Sort = m.opts.Sort.Next()
	case "/":
		m.editing = true
	case "esc":
		m.opts.Filter = ""
	}
	return m, nil
}

// Options are the current sort, filter and width.
func (m Model) Options() Options { return m.opts }

// View renders the latest snapshot and a help line.
func (m Model) View() string {
	var b strings.Builder
	switch {
	case m.snap != nil:
		b.WriteString(Render(m.snap, m.opts))
	case m.err == nil:
		b.WriteString("cohort top: reading the cluster...\n")
	}
	if m.err != nil {
		fmt.Fprintf(&b, "\nerror: %v\n", m.err)
	}
	b.WriteString("\n")
	if m.editing {
		fmt.Fprintf(&b, "filter: %s_  (enter keep, esc clear)", m.opts.Filter)
	} else {
		b.WriteString("q quit  s sort  / filter  esc clear filter")
	}
	return fitHeight(cut(b.String(), m.opts.Width), m.height)
}

// fitHeight keeps the first height-1 lines of s and its last line (the key
// help), so the help stays on screen however big the cluster; 0 keeps all.
func fitHeight(s string, height int) string {
	lines := strings.Split(s, "\n")
	if height <= 1 || len(lines) <= height {
		return s
	}
	return strings.Join(append(lines[:height-1], lines[len(lines)-1]), "\n")
}
