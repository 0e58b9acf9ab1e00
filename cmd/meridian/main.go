// Command meridian lays out, runs and inspects geo-distributed MariaDB
// estates. This file only wires commands to the internal packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCommand().ExecuteContext(ctx); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			os.Exit(exit.code)
		}
		fmt.Fprintln(os.Stderr, "meridian:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:           "meridian",
		Short:         "Geo-distributed MariaDB: topology as code, sandbox, replication layout",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	root.AddCommand(sandboxCommand(), planCommand(), applyCommand(), statusCommand(), validateCommand(), runCommand(),
		switchoverCommand(), failoverCommand(), ackCommand(), auditCommand(), residencyCommand(),
		eraseCommand(), backupCommand(), restoreCommand(), relayCommand(), checkCommand())
	return root
}
