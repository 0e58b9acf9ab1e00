package mariadbd

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n distinct loopback TCP ports that are free now. All are held
// open until every one is chosen, so none is handed out twice.
//
// A mariadbd binds its ports seconds after they are chosen. Ports are
// therefore taken below the kernel's ephemeral range when it leaves room:
// there, no outgoing connection and no listener on port 0 (WAN proxies,
// routers, other tests) can take a port in the meantime, which made nodes
// fail to start with "Address already in use" on a busy machine.
func FreePorts(n int) ([]int, error) {
	low, high := reservedRange()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for attempts := 0; len(ports) < n; attempts++ {
		addr := "127.0.0.1:0"
		if high > low && attempts < 50*n {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(low+rand.IntN(high-low)))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken: draw another
			}
			return nil, fmt.Errorf("free port: %w", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// reservedRange is the range ports are drawn from: from 10000 up to the start
// of the kernel's ephemeral range; empty when that range starts too low.
func reservedRange() (low, high int) {
	const floor, minWidth = 10000, 2000
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(fields[0])
	if err != nil || start-floor < minWidth {
		return 0, 0
	}
	return floor, start
}
