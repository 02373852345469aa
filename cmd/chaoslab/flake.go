package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chaoslab/chaoslab/reports"
)

func init() {
	register("flake", "pass rates of N catalog runs: --runs DIR (run-*/results.json) [--hog] --out DIR", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlags("flake", stderr)
		runsDir := fs.String("runs", "", "directory holding run-*/results.json (required)")
		out := fs.String("out", "", "where flake.md and flake.json go (default: --runs)")
		hog := fs.Bool("hog", false, "the runs had a busy loop on one core (said in the table)")
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		if *runsDir == "" {
			return fmt.Errorf("--runs: required (the directory make flake writes)")
		}
		if *out == "" {
			*out = *runsDir
		}
		paths, err := filepath.Glob(filepath.Join(*runsDir, "run-*", "results.json"))
		if err != nil || len(paths) == 0 {
			return fmt.Errorf("--runs %s: no run-*/results.json in it", *runsDir)
		}
		var runs []*reports.Run
		for _, p := range paths {
			r, err := reports.ReadJSON(p)
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
		f := reports.NewFlake(runs, *hog)
		md, err := os.Create(filepath.Join(*out, "flake.md"))
		if err != nil {
			return err
		}
		defer md.Close()
		if err := f.WriteMarkdown(io.MultiWriter(md, stdout)); err != nil {
			return err
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, "flake.json"), b, 0o644); err != nil {
			return err
		}
		if bad := f.Unstable(); len(bad) > 0 {
			return fmt.Errorf("%d of %d scenarios did not pass every run (table in %s)", len(bad), len(f.Scenarios), md.Name())
		}
		return nil
	})
}
