package sweeprun

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/cohort-clv/cohort/internal/atomicfile"
	"github.com/cohort-clv/cohort/sweep"
)

// WriteResults writes one CSV row per trial: id, status, value, epochs,
// attempts, every parameter of space (empty when inactive), reason.
func WriteResults(path string, space *sweep.Space, trials []Trial) error {
	err := atomicfile.Write(path, func(w io.Writer) error { return WriteResultsCSV(w, space, trials) })
	if err != nil {
		return fmt.Errorf("sweeprun: write results: %w", err)
	}
	return nil
}

// WriteResultsCSV writes the rows WriteResults writes to w.
func WriteResultsCSV(w io.Writer, space *sweep.Space, trials []Trial) error {
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	head := []string{"trial", "status", "value", "epochs", "attempts"}
	for _, p := range space.Params() {
		head = append(head, p.Name)
	}
	if err := cw.Write(append(head, "reason")); err != nil {
		return err
	}
	for _, t := range trials {
		row := []string{strconv.Itoa(t.ID), string(t.Status), "", strconv.Itoa(t.Epochs), strconv.Itoa(t.Attempts)}
		if t.Status == Completed || t.Status == Pruned {
			row[2] = strconv.FormatFloat(t.Value, 'g', 8, 64)
		}
		for _, p := range space.Params() {
			v, ok := t.Config[p.Name]
			if ok {
				row = append(row, fmt.Sprint(v))
			} else {
				row = append(row, "")
			}
		}
		if err := cw.Write(append(row, t.Reason)); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// Plot writes best-so-far.png (the best completed objective after each
// trial, in trial order) and param-<name>.png (each parameter against the
// objective of completed and pruned trials) into dir.
func Plot(dir string, space *sweep.Space, trials []Trial) error {
	trials = slices.Clone(trials)
	slices.SortFunc(trials, func(a, b Trial) int { return a.ID - b.ID })
	p := plot.New()
	p.Title.Text = "best validation loss so far"
	p.Y.Tick.Marker = preciseTicks{}
	p.X.Label.Text, p.Y.Label.Text = "trials", "validation loss"
	p.Add(plotter.NewGrid())
	var best plotter.XYs
	cur, have := 0.0, false
	for i, t := range trials {
		if t.Status == Completed && (!have || t.Value < cur) {
			cur, have = t.Value, true
		}
		if have {
			best = append(best, plotter.XY{X: float64(i + 1), Y: cur})
		}
	}
	if len(best) > 0 {
		l, err := plotter.NewLine(best)
		if err != nil {
			return fmt.Errorf("sweeprun: plot: %w", err)
		}
		l.StepStyle = plotter.PostStep
		p.Add(l)
	}
	if err := save(p, filepath.Join(dir, "best-so-far.png")); err != nil {
		return err
	}
	for _, par := range space.Params() {
		if err := plotParam(dir, par, trials); err != nil {
			return err
		}
	}
	return nil
}

func plotParam(dir string, par sweep.Param, trials []Trial) error {
	p := plot.New()
	p.Title.Text = par.Name + " vs objective"
	p.Y.Tick.Marker = preciseTicks{}
	p.X.Label.Text, p.Y.Label.Text = par.Name, "validation loss"
	p.Add(plotter.NewGrid())
	var done, pruned plotter.XYs
	for _, t := range trials {
		v, ok := t.Config[par.Name]
		if !ok || (t.Status != Completed && t.Status != Pruned) {
			continue
		}
		x, ok := xOf(par, v)
		if !ok {
			continue
		}
		if t.Status == Completed {
			done = append(done, plotter.XY{X: x, Y: t.Value})
		} else {
			pruned = append(pruned, plotter.XY{X: x, Y: t.Value})
		}
	}
	// Diverged trials sit orders of magnitude above the rest; a log axis
	// keeps the good ones apart.
	if lo, hi := yRange(done, pruned); lo > 0 && hi > 10*lo {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if par.Type == sweep.Categorical {
		names := make([]string, len(par.Values))
		for i, v := range par.Values {
			names[i] = fmt.Sprint(v)
		}
		p.NominalX(names...)
	} else if par.Log {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		// The parameter's range, so that one point (or none) does not make
		// a degenerate axis, which plot would widen below 0 and panic on.
		p.X.Min, p.X.Max = *par.Min, *par.Max
	}
	p.Legend.Top = true
	for _, s := range []struct {
		xy    plotter.XYs
		name  string
		shape draw.GlyphDrawer
	}{{done, "completed", draw.CircleGlyph{}}, {pruned, "pruned", draw.CrossGlyph{}}} {
		if len(s.xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(s.xy)
		if err != nil {
			return fmt.Errorf("sweeprun: plot %s: %w", par.Name, err)
		}
		sc.GlyphStyle.Shape = s.shape
		p.Add(sc)
		p.Legend.Add(s.name, sc)
	}
	return save(p, filepath.Join(dir, "param-"+par.Name+".png"))
}

// xOf places a parameter value on the x axis: categoricals at their index.
func xOf(par sweep.Param, v any) (float64, bool) {
	if par.Type == sweep.Categorical {
		for i, c := range par.Values {
			if fmt.Sprint(c) == fmt.Sprint(v) {
				return float64(i), true
			}
		}
		return 0, false
	}
	f, err := num(v)
	return f, err == nil
}

func save(p *plot.Plot, path string) error {
	w, err := p.WriterTo(7*vg.Inch, 4.2*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("sweeprun: plot %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(out io.Writer) error { _, err := w.WriteTo(out); return err }); err != nil {
		return fmt.Errorf("sweeprun: plot %s: %w", path, err)
	}
	return nil
}

// preciseTicks are gonum's default ticks labelled with five significant
// digits: validation losses of good trials differ in the third decimal,
// which the default labels round away.
type preciseTicks struct{}

func (preciseTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 5, 64)
		}
	}
	return ts
}

func yRange(sets ...plotter.XYs) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, xy := range sets {
		for _, p := range xy {
			lo, hi = min(lo, p.Y), max(hi, p.Y)
		}
	}
	return lo, hi
}
