package main

import (
	"context"
	"fmt"
	"io"

	"github.com/chaoslab/chaoslab/reports"
)

func init() {
	register("report", "render index.html from a results.json: --from results.json --out index.html", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlags("report", stderr)
		from := fs.String("from", "", "results.json to read (required)")
		out := fs.String("out", "index.html", "HTML file to write")
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		if *from == "" {
			return fmt.Errorf("--from: required (a results.json written by make scenario)")
		}
		run, err := reports.ReadJSON(*from)
		if err != nil {
			return err
		}
		if err := run.WriteHTMLFile(*out); err != nil {
			return err
		}
		p, f, s := run.Counts()
		fmt.Fprintf(stdout, "wrote %s: %d passed, %d failed, %d skipped\n", *out, p, f, s)
		return nil
	})
}
