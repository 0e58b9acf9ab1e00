package router

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// A client knows its connection by the id in the router's greeting (the
// router's own session id), not by the ids of the backend connections
// behind it. KILL with such an id would kill an unrelated backend
// connection that happens to carry it, so the router serves KILL
// [CONNECTION] of its own sessions itself: the target's client connection
// ends as MariaDB ends a killed one (the killer is told 1927 when it kills
// itself). Any other KILL goes to the primary unchanged.

// killStatement matches KILL [HARD|SOFT] [CONNECTION|QUERY] id.
var killStatement = regexp.MustCompile(`(?is)^\s*KILL\s+(?:(?:HARD|SOFT)\s+)?(CONNECTION\s+|QUERY\s+)?(\d+)\s*;?\s*$`)

// MariaDB's error codes for KILL.
const (
	erNoSuchThread      = 1094
	erKillDenied        = 1095
	erNotSupportedYet   = 1235
	errKilledSelfMarker = "Connection was killed"
)

// errKilledSelf ends a session that killed itself.
var errKilledSelf = errors.New("the client killed its own connection")

// isKill reports, cheaply, whether sql may be a KILL statement.
func isKill(sql string) bool {
	sql = strings.TrimLeft(sql, " \t\r\n")
	return len(sql) >= 4 && strings.EqualFold(sql[:4], "kill")
}

// serveKill serves a KILL of one of the service's sessions; handled is
// false when the statement is for the primary.
func (s *session) serveKill(req *protocol.Request, sql string) (handled bool, err error) {
	m := killStatement.FindStringSubmatch(sql)
	if m == nil {
		return false, nil
	}
	id, err := strconv.ParseUint(m[2], 10, 32)
	if err != nil {
		return false, nil
	}
	target := s.svc.session(uint32(id))
	if target == nil {
		return false, nil
	}
	if err := req.Skip(); err != nil {
		return true, err
	}
	switch {
	case strings.EqualFold(strings.TrimSpace(m[1]), "QUERY"):
		return true, s.replyError(&protocol.ServerError{Code: erNotSupportedYet, State: "42000",
			Message: "meridian: KILL QUERY of a router connection is not supported; KILL CONNECTION is"})
	case target == s:
		if err := s.replyError(&protocol.ServerError{Code: erConnectionKilled, State: "70100", Message: errKilledSelfMarker}); err != nil {
			return true, err
		}
		return true, errKilledSelf
	case target.user != s.user:
		return true, s.replyError(&protocol.ServerError{Code: erKillDenied, State: "HY000",
			Message: fmt.Sprintf("You are not owner of thread %d", id)})
	}
	target.kill()
	return true, s.replyOK()
}

// session finds one of the service's sessions by its connection id.
func (svc *Service) session(id uint32) *session {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for sess := range svc.sessions {
		if sess.id == id {
			return sess
		}
	}
	return nil
}
