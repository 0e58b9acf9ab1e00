package mariadbd

import (
	"fmt"
	"net"
)

// FreePorts returns n distinct loopback TCP ports that are free now. All are held
// open until every one is chosen, so the kernel never hands out one twice.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
