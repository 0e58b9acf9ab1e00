package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/sandbox"
)

// estateFlags are the two ways to name an estate: a topology file for real
// servers, or a running sandbox; and where the controller keeps the
// primaries it chose at run time.
type estateFlags struct{ file, sandbox, state string }

func (f *estateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "topology file")
	cmd.Flags().StringVar(&f.sandbox, "sandbox", "", "act on the running sandbox in this directory")
	cmd.Flags().StringVar(&f.state, "state", "", "the controller's state file, with the primaries it chose after failovers and switchovers (default: the sandbox's controller-state.json)")
}

// stateFile is the controller's state file: --state, else the sandbox's.
func (f *estateFlags) stateFile() string {
	if f.state == "" && f.sandbox != "" {
		return filepath.Join(f.sandbox, sandbox.ControllerStateFile)
	}
	return f.state
}

func (f *estateFlags) open() (*estate.Estate, error) { return f.openFrom("") }

// openFrom opens the estate for a process placed in region.
func (f *estateFlags) openFrom(region string) (*estate.Estate, error) {
	e, err := estate.Open(f.file, f.sandbox, region)
	if err != nil {
		return nil, err
	}
	for _, w := range e.Warnings {
		slog.Warn(w.String())
	}
	return e, nil
}

func planCommand() *cobra.Command {
	var f estateFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change on the servers to match the topology",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.open()
			if err != nil {
				return err
			}
			plan, err := diff(cmd, e, f.stateFile())
			if err != nil {
				return err
			}
			fmt.Print(plan.String())
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func applyCommand() *cobra.Command {
	var f estateFlags
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Change the servers to match the topology (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.open()
			if err != nil {
				return err
			}
			plan, err := diff(cmd, e, f.stateFile())
			if err != nil {
				return err
			}
			fmt.Print(plan.String())
			if plan.Empty() {
				return nil
			}
			result, err := provision.Apply(cmd.Context(), e.Topology, e.Endpoints, e.Credentials, plan)
			fmt.Print(result.String())
			return err
		},
	}
	f.register(cmd)
	return cmd
}

// diff plans towards the layout of the primaries the controller saved in
// stateFile (the file's own when there is none): a plan must never undo a
// failover.
func diff(cmd *cobra.Command, e *estate.Estate, stateFile string) (provision.Plan, error) {
	primaries, err := controller.LoadPrimaries(stateFile, e.Topology)
	if err != nil {
		return provision.Plan{}, err
	}
	if primaries.Region != "" || len(primaries.Nodes) > 0 {
		slog.Info("planning for the primaries the controller chose", "state", stateFile, "region", primaries.Region, "nodes", primaries.Nodes)
	}
	observed, err := provision.Observe(cmd.Context(), e.Topology, e.Endpoints, e.Credentials)
	if err != nil {
		return provision.Plan{}, err
	}
	return provision.DiffLayout(e.Topology, e.Topology.LayoutFor(time.Now(), primaries), e.Endpoints, e.Credentials, observed)
}

func validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a topology file and print its warnings",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			t, warnings, err := estate.LoadTopology(args[0])
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Println("warning:", w.String())
			}
			fmt.Printf("%s: %s, %d regions, %d nodes: valid\n", args[0], t.Architecture, len(t.Regions), len(t.Nodes()))
			return nil
		},
	}
}
