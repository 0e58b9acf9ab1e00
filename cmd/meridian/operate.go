package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/sandbox"
)

// controllerFlags find a running controller: --api URL, or the api URL a
// sandbox's sandbox.json publishes.
type controllerFlags struct{ api, sandbox string }

func (f *controllerFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.api, "api", "", "the controller's base URL (as `meridian run` prints it)")
	cmd.Flags().StringVar(&f.sandbox, "sandbox", "", "the controller of the running sandbox in this directory")
}

func (f *controllerFlags) url() (string, error) {
	switch {
	case f.api != "":
		return strings.TrimSuffix(f.api, "/"), nil
	case f.sandbox != "":
		info, err := sandbox.ReadInfo(f.sandbox)
		if err != nil {
			return "", err
		}
		if info.API == "" {
			return "", fmt.Errorf("sandbox %s runs no controller (started with --no-controller): use --api", f.sandbox)
		}
		return info.API, nil
	}
	return "", errors.New("which controller? give --api URL or --sandbox DIR")
}

// operationTimeout bounds a switchover or failover request: leases lapse
// (seconds), candidates catch up (bounded by the max lag), hooks run.
const operationTimeout = 2 * time.Minute

// callController posts body to the controller's path and prints the JSON
// answer; a refusal comes back as the error, with its reason.
func callController(ctx context.Context, f *controllerFlags, method, path string, body any) error {
	base, err := f.url()
	if err != nil {
		return err
	}
	var payload io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		payload = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, operationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, payload)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, base+path, err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, data, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(data)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			fmt.Fprintln(os.Stderr, pretty.String())
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: %s: %s", method, base+path, resp.Status, bytes.TrimSpace(data))
	}
	fmt.Println(pretty.String())
	return nil
}

func switchoverCommand() *cobra.Command {
	var f controllerFlags
	var to string
	cmd := &cobra.Command{
		Use:   "switchover --to NODE|REGION",
		Short: "Move the primary to a node or region without losing an acknowledged write",
		Long: "Asks the controller for a planned switchover: routers hold new writes, the old primary turns\n" +
			"read-only, the candidate catches up (MASTER_GTID_WAIT), is promoted, and the old primary becomes its\n" +
			"replica. Refused, with the reason, when the candidate lags too far or has errant transactions.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return callController(cmd.Context(), &f, http.MethodPost, "/api/v1/switchover", api.SwitchoverRequest{To: to})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the node, or the region (its primary), to move the primary to")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func failoverCommand() *cobra.Command {
	var f controllerFlags
	var region string
	var force bool
	cmd := &cobra.Command{
		Use:   "failover --region REGION [--force]",
		Short: "Promote the most advanced node of a region now, on an operator's word",
		Long: "Asks the controller for a manual failover to REGION (in active-active: of REGION's own primary).\n" +
			"Refused, with the reason, when unsafe: the primary is still up or not confirmed dead (a switchover\n" +
			"loses nothing), or promoting would lose transactions. --force accepts the risk.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return callController(cmd.Context(), &f, http.MethodPost, "/api/v1/failover", api.FailoverRequest{Region: region, Force: force})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&region, "region", "", "the region to promote in")
	cmd.Flags().BoolVar(&force, "force", false, "fail over even when it is unsafe (the primary alive, or transactions lost)")
	_ = cmd.MarkFlagRequired("region")
	return cmd
}

func ackCommand() *cobra.Command {
	var f controllerFlags
	cmd := &cobra.Command{
		Use:   "ack CLUSTER",
		Short: "Acknowledge a cluster's failover: automatic failovers of it may run again before the block period ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return callController(cmd.Context(), &f, http.MethodPost, "/api/v1/ack", api.AckRequest{Cluster: args[0]})
		},
	}
	f.register(cmd)
	return cmd
}

func auditCommand() *cobra.Command {
	var f controllerFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the controller's latest audit entries (failovers, switchovers, refusals, rejoins, acks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return callController(cmd.Context(), &f, http.MethodGet, "/api/v1/audit", nil)
		},
	}
	f.register(cmd)
	return cmd
}
