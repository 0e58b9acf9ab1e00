package sandbox

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

// Summary is the short human description printed when the sandbox is ready.
func Summary(info *Info, t *topology.Topology, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Sandbox ready in %s: %s (%s), %d nodes\n\n", took.Round(100*time.Millisecond), t.Name, t.Architecture, len(info.Nodes))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "REGION\tLOCATION\tNODE\tCLUSTER\tPORT\tPID\tWRITABLE")
	layout := t.Layout(time.Now())
	for _, r := range t.Regions {
		for _, n := range info.Nodes {
			if n.Region != r.Name {
				continue
			}
			writable := "read-only"
			if layout.Writable[n.Name] {
				writable = "writable"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Name, r.Location, n.Name, n.Cluster, n.Port, n.Pid, writable)
		}
	}
	w.Flush()
	if len(t.Links) > 0 {
		b.WriteString("\nWAN links (each cross-region connection goes through a proxy adding half the RTT each way):\n")
		for _, l := range t.Links {
			fmt.Fprintf(&b, "  %s <-> %s  %s RTT\n", l.Between[0], l.Between[1], l.RTT.Duration)
		}
	}
	if len(info.Services) > 0 {
		b.WriteString("\nRouter services (MariaDB protocol; connect as the app account):\n")
		for _, svc := range info.Services {
			fmt.Fprintf(&b, "  %-16s %-5s %-15s %s:%d\n", svc.Name, svc.Region, svc.Kind, svc.Host, svc.Port)
		}
	}
	switch {
	case len(info.Services) > 0:
		svc := info.Services[0]
		fmt.Fprintf(&b, "\nConnect:  mariadb -h %s -P %d -u %s -p'%s'   (through %s)\n", svc.Host, svc.Port, info.Credentials.User, info.Credentials.Password, svc.Name)
	case len(info.Nodes) > 0:
		n := info.Nodes[0]
		fmt.Fprintf(&b, "\nConnect:  mariadb -h %s -P %d -u %s -p'%s'\n", n.Host, n.Port, info.Credentials.User, info.Credentials.Password)
	}
	if info.API != "" {
		fmt.Fprintf(&b, "Web:      %s/   (metrics %s/metrics, JSON %s/api/v1/topology)\n", info.API, info.API, info.API)
	}
	fmt.Fprintf(&b, "Status:   meridian status --sandbox %s   (or --api %s)\n", dirOf(info), info.API)
	fmt.Fprintf(&b, "Chaos:    meridian sandbox kill|start|partition|heal|latency --dir %s ...\n", dirOf(info))
	b.WriteString("Ctrl-C stops every process the sandbox started.\n")
	return b.String()
}

func dirOf(info *Info) string {
	return strings.TrimSuffix(info.Control, "/"+controlSocket)
}
