package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// globalFlags are shared by every subcommand.
type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "cohort",
		Short: "Deep customer-lifetime-value models, trained on one machine or a GPU cluster",
		Long: `cohort turns a shop's transaction log (customer, date, amount) into per-customer
features, trains a deep CLV model (an MLP with a zero-inflated lognormal head that
predicts whether each customer returns and what they will spend), evaluates it
against the classic BG/NBD + Gamma-Gamma model on customers it never saw, and
writes per-customer predictions.

Start with:
  cohort demo                       generate a synthetic shop, train, evaluate, print the report path
  cohort train --data log.csv --calibration-end 1997-09-30 --horizon 39w --out run/
  cohort predict --model run/model --data log.csv --out predictions.csv

On a cluster (or one machine, with cohort up):
  cohort up --workers 2             a local cluster: embedded etcd, a coordinator, 2 workers
  cohort submit job.yaml --wait     train on it (cohort status, watch and cancel follow jobs)
  cohort sweep spec.yaml --cluster --etcd HOST:PORT    tune on the cluster's workers

Exit status:
  0        success
  1        any error: a bad flag, unreadable data, an --out that cannot be written
  2, 3, 4  watch, submit --wait: the job ended FAILED, ended CANCELLED, or no
           coordinator answered (status too); see their --help
  130, 143 interrupted by SIGINT (Ctrl-C) or SIGTERM (128 + the signal's number)
  141      stdout closed early (SIGPIPE, as in cohort predict --out - | head)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(cmd.ErrOrStderr(), g.logLevel, g.logFormat)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	// cohort --version prints what cohort version does.
	root.Version = readBuildInfo().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, json otherwise)")
	for _, add := range commands() {
		root.AddCommand(add())
	}
	return root
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: readableDurations}
	switch strings.ToLower(format) {
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text, json or auto", format)
}
