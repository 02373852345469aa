package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/chaoslab/chaoslab/scenarios"
)

func init() {
	register("list", "list the scenario catalog: id, family, symptom", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlags("list", stderr)
		asJSON := fs.Bool("json", false, "print JSON")
		labels := fs.Bool("labels", false, "print the labels SCENARIO= accepts")
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		all := scenarios.All()
		switch {
		case *labels:
			for _, l := range scenarios.Labels() {
				fmt.Fprintln(stdout, l)
			}
		case *asJSON:
			type row struct {
				ID      string   `json:"id"`
				Family  string   `json:"family"`
				Title   string   `json:"title"`
				Symptom string   `json:"symptom"`
				Labels  []string `json:"labels"`
			}
			rows := []row{}
			for _, sc := range all {
				rows = append(rows, row{sc.ID, sc.Family(), sc.Title, sc.Symptom, sc.AllLabels()})
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		default:
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFAMILY\tSYMPTOM")
			for _, sc := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", sc.ID, sc.Family(), sc.Symptom)
			}
			return tw.Flush()
		}
		return nil
	})
}
