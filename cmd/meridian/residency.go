package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/placement"
)

func residencyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "residency",
		Short: "Where personal data lives: audit",
	}
	cmd.AddCommand(residencyAuditCommand())
	return cmd
}

func residencyAuditCommand() *cobra.Command {
	var f estateFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Count every personal table's rows on every node by their jurisdiction's region; exit 1 on any outside it",
		Long: "Reads every node and reports each personal row found outside the region its jurisdiction names\n" +
			"(table, the region it belongs in, node, count). Exits non-zero when it finds one, or when a node\n" +
			"could not be audited.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.open()
			if err != nil {
				return err
			}
			if !e.Topology.HasPersonalData() {
				return errors.New("the topology declares no personal table (tables: ... personal: true): nothing to audit")
			}
			report := placement.Audit(cmd.Context(), e.Topology, e.Endpoints, time.Now)
			if asJSON {
				if err := printJSON(report); err != nil {
					return err
				}
			} else {
				fmt.Fprint(os.Stdout, report.String())
			}
			switch {
			case len(report.Violations) > 0:
				return fmt.Errorf("residency audit: %d finding(s) of personal data outside its region", len(report.Violations))
			case len(report.Incomplete) > 0:
				return fmt.Errorf("residency audit: incomplete, %d node(s) not audited", len(report.Incomplete))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
